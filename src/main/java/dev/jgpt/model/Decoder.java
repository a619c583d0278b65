package dev.jgpt.model;

import dev.jgpt.JgptException;

import java.util.Arrays;

/**
 * What decoding with a key/value cache needs from an engine, whichever device holds the cache: the
 * CPU's {@link Inference}, or the GPU's decoder in dev.jgpt.cuda. {@link #prefill} appends a prompt
 * (in chunks of up to {@link Inference#CHUNK} rows); {@link #step} appends one token to each of up
 * to {@link Inference#CHUNK} sequences in one pass over the weights. Either leaves each sequence's
 * logits after its last token in {@link Sequence#logits()}, a host array.
 *
 * <p>A decoder is driven by one thread at a time. {@link #close()} frees what it holds outside the
 * Java heap (nothing, on the CPU); its sequences are unusable after.
 */
public interface Decoder extends AutoCloseable {

    /**
     * One sequence being decoded: how many positions its cache holds and the logits after the last of
     * them (a host array). The bookkeeping is here, once; each decoder's subclass holds the cache itself.
     */
    abstract class Sequence {
        private final float[] logits;
        private final int capacity;
        private int pos;
        private float[] saved; // save()'s logits, allocated on first use
        private int savedPosition = -1;

        protected Sequence(GptConfig cfg) {
            logits = new float[cfg.paddedVocabSize()];
            Arrays.fill(logits, cfg.vocabSize(), logits.length, Float.NEGATIVE_INFINITY); // padded columns never win
            capacity = cfg.blockSize();
        }

        /** Number of positions in the cache (tokens seen so far). */
        public final int position() {
            return pos;
        }

        /** Positions still free in the cache: how many more tokens a step accepts. */
        public final int remaining() {
            return capacity - pos;
        }

        /** Empties the cache. */
        public final void reset() {
            pos = 0;
            savedPosition = -1;
        }

        /** Remembers the position and the logits now (after a prompt, say), for {@link #restore()}. */
        public final void save() {
            if (saved == null) saved = new float[logits.length];
            System.arraycopy(logits, 0, saved, 0, logits.length);
            savedPosition = pos;
        }

        /**
         * Goes back to what {@link #save()} remembered: the positions after it are forgotten and the
         * logits are those it saw, so a prompt serves another sample without being read again.
         */
        public final void restore() {
            if (savedPosition < 0) throw new IllegalStateException("nothing saved, or the cache was reset since");
            pos = savedPosition;
            System.arraycopy(saved, 0, logits, 0, logits.length);
        }

        /**
         * Forgets every position from {@code length} on, keeping the first {@code length} (a shared
         * prompt, for another sample). The logits are stale until the next prefill or step.
         */
        public final void rewind(int length) {
            if (length < 0 || length > pos) {
                throw new IllegalArgumentException("rewind to " + length + " but the cache holds " + pos + " positions");
            }
            pos = length;
            if (length < savedPosition) savedPosition = -1;
        }

        /** The logits after the last token: paddedVocabSize entries, the first vocabSize real, the rest -∞. */
        public final float[] logits() {
            return logits;
        }

        /** For the decoder that wrote them: {@code n} more positions are now in the cache. */
        public final void advance(int n) {
            pos += n;
        }
    }

    GptConfig config();

    /** How the weight matrices are stored for decoding. */
    Inference.Precision precision();

    /** A new, empty sequence of this decoder (its cache is allocated now). */
    Sequence newSequence();

    /** Appends {@code tokens[from, to)} to {@code seq}; returns its logits after the last of them. */
    float[] prefill(Sequence seq, int[] tokens, int from, int to);

    /**
     * Appends {@code tokens[i]} to {@code seqs[i]} for i < n, all in one pass over the weights; each
     * sequence's {@link Sequence#logits()} then hold the logits after its new token. The sequences
     * must be distinct, each with room for one more position.
     */
    void step(Sequence[] seqs, int[] tokens, int n);

    /**
     * Refuses a prefill of {@code tokens[from, to)} into {@code seq} that is empty, does not fit in its
     * cache, or holds an id outside the vocabulary of {@code vocabSize} tokens: every decoder's check.
     */
    static void checkPrefill(Sequence seq, int[] tokens, int from, int to, int vocabSize) {
        int n = to - from;
        if (n <= 0) throw new IllegalArgumentException("prefill needs at least one token");
        if (n > seq.remaining()) {
            throw new JgptException(n + " tokens do not fit: the context holds " + seq.capacity
                    + " (block_size) and " + seq.position() + " are used");
        }
        for (int i = from; i < to; i++) checkToken(tokens[i], vocabSize);
    }

    /**
     * Refuses a step that cannot run: not 1 to {@link Inference#CHUNK} sequences, a full one, one
     * sequence twice, an id outside the vocabulary: every decoder's check.
     */
    static void checkStep(Sequence[] seqs, int[] tokens, int n, int vocabSize) {
        if (n < 1 || n > Inference.CHUNK) throw new IllegalArgumentException("a step takes 1 to " + Inference.CHUNK + " sequences, got " + n);
        for (int i = 0; i < n; i++) {
            if (seqs[i].remaining() == 0) {
                throw new IllegalStateException("the context is full (block_size " + seqs[i].capacity + "); reset or re-prefill a shorter tail");
            }
            for (int j = 0; j < i; j++) {
                if (seqs[j] == seqs[i]) throw new IllegalArgumentException("sequence " + j + " and " + i + " of a step are the same");
            }
            checkToken(tokens[i], vocabSize);
        }
    }

    private static void checkToken(int t, int vocabSize) {
        if (t < 0 || t >= vocabSize) throw new JgptException("token id " + t + " is outside the model's vocabulary [0, " + vocabSize + ")");
    }

    /** Frees what the decoder holds outside the Java heap. */
    @Override
    default void close() {
    }
}
