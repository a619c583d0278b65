package dev.jgpt.model;

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

    /** One sequence being decoded: its cached positions and the logits after the last of them. */
    interface Sequence {
        /** Number of positions in the cache (tokens seen so far). */
        int position();

        /** Positions still free in the cache: how many more tokens a step accepts. */
        int remaining();

        /** Empties the cache. */
        void reset();

        /** Remembers the position and the logits now (after a prompt, say), for {@link #restore()}. */
        void save();

        /**
         * Goes back to what {@link #save()} remembered: the positions after it are forgotten and the
         * logits are those it saw, so a prompt serves another sample without being read again.
         */
        void restore();

        /**
         * Forgets every position from {@code length} on, keeping the first {@code length} (a shared
         * prompt, for another sample). The logits are stale until the next prefill or step.
         */
        void rewind(int length);

        /** The logits after the last token: paddedVocabSize entries, the first vocabSize real, the rest -∞. */
        float[] logits();
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

    /** Frees what the decoder holds outside the Java heap. */
    @Override
    default void close() {
    }
}
