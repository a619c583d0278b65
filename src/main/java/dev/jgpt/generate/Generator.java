package dev.jgpt.generate;

import dev.jgpt.eval.Sampler;
import dev.jgpt.model.Decoder;
import dev.jgpt.model.Inference;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import dev.jgpt.tokenizer.StreamDecoder;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;

/**
 * The generation loop: prompts in, tokens out, several sequences decoded together. {@link #add} queues
 * a prompt; each {@link #step} ends cancelled sequences, starts queued prompts while slots are free (a
 * prefill each), then picks one token for every running sequence with its own {@link Sampler} and
 * advances them all with one {@link Decoder#step} over the weights. A sequence ends after {@code maxTokens} new tokens, at
 * {@code <|endoftext|>} (unless told not to stop there), at one of its stop strings, or when
 * cancelled. Past {@code block_size} tokens its context slides: the last half is re-read and decoding
 * goes on.
 *
 * <p>A sequence's text goes to its {@link Listener} as it is decoded: whole characters only (a UTF-8
 * character split over two tokens waits for its second half), and nothing that could still turn out
 * to begin a stop string. The stop string itself is never delivered.
 *
 * <p>Each sequence's tokens are those it would get alone: the CPU's step rounds every row as it rounds
 * a lone one (see {@link Inference}; the GPU's does not promise that), and each sequence has its own
 * sampler. A slot keeps the prompt of its last sequence; a new sequence with the same prompt rewinds to
 * it instead of prefilling it again.
 *
 * <p>Not thread-safe: one thread adds and steps ({@link LanguageModel} is the thread-safe front).
 * {@link Sequence#cancel()} alone may be called from any thread.
 */
public final class Generator {

    /** Receives a sequence's text as it is generated; runs on the generating thread. */
    public interface Listener {
        /** The next piece of text (whole characters; possibly empty while a character or a stop string is pending). */
        void onText(String text);

        /** The sequence has ended; {@link Sequence#finish()} says why. */
        default void onFinish(Sequence sequence) {
        }
    }

    /** Why a sequence ended. */
    public enum Finish {
        /** {@code maxTokens} tokens generated. */
        LENGTH,
        /** The model chose {@code <|endoftext|>}. */
        END_OF_TEXT,
        /** A stop string appeared. */
        STOP,
        /** {@link Sequence#cancel()} was called. */
        CANCELLED,
        /** Decoding failed (see {@link Sequence#error()}). */
        ERROR
    }

    /**
     * When a sequence ends: after {@code maxTokens} new tokens (0: right after the prompt, nothing
     * generated), at the first of the {@code stop} strings, and at {@code <|endoftext|>} if
     * {@code stopAtEndOfText}.
     */
    public record Limits(int maxTokens, List<String> stop, boolean stopAtEndOfText) {
        public Limits {
            if (maxTokens < 0) throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
            stop = List.copyOf(stop);
            for (String s : stop) {
                if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
            }
        }

        /** {@code maxTokens} new tokens, ending at {@code <|endoftext|>}, no stop strings. */
        public static Limits of(int maxTokens) {
            return new Limits(maxTokens, List.of(), true);
        }
    }

    /** One prompt's generation: its state while running, its result once {@link #done()}. */
    public final class Sequence {
        private final int[] prompt;
        private final Limits limits;
        private final Sampler sampler;
        private final Listener listener;
        private volatile boolean cancelled;

        private int slot = -1;
        private int[] history; // prompt and generated tokens: the context re-read when it slides
        private int length;
        private int generated;
        private StreamDecoder decoder;
        private final StringBuilder text = new StringBuilder(); // generated text, stop string excluded once found
        private int delivered; // chars of text given to the listener
        private Finish finish;
        private RuntimeException error;
        private boolean prefilled;
        private long started, prefillNanos, decodeNanos;

        private Sequence(int[] prompt, Limits limits, Sampler sampler, Listener listener) {
            this.prompt = prompt;
            this.limits = limits;
            this.sampler = sampler;
            this.listener = listener;
        }

        /** Ends the sequence at the next step (from any thread); its slot goes to the next prompt. */
        public void cancel() {
            cancelled = true;
        }

        public boolean done() {
            return finish != null;
        }

        /** Why it ended, or null while running. */
        public Finish finish() {
            return finish;
        }

        /** What failed, when {@link #finish()} is {@link Finish#ERROR}. */
        public RuntimeException error() {
            return error;
        }

        public int promptTokens() {
            return prompt.length;
        }

        /** The generated tokens (not the prompt; not the {@code <|endoftext|>} that ended it). */
        public int[] tokens() {
            return history == null ? new int[0] : Arrays.copyOfRange(history, prompt.length, prompt.length + generated);
        }

        /** How many tokens were generated (the length of {@link #tokens()}). */
        public int generated() {
            return generated;
        }

        /** The generated text up to a stop string (the text of {@link #tokens()} when no stop string was met). */
        public String text() {
            return decoder != null ? text.toString() : tokenizer.decode(tokens());
        }

        /** Whether the prompt was prefilled (false: a slot held it from a sequence before). */
        public boolean prefilled() {
            return prefilled;
        }

        /** Time spent reading the prompt. */
        public long prefillNanos() {
            return prefillNanos;
        }

        /** Time from the end of the prompt to the end of the sequence. */
        public long decodeNanos() {
            return decodeNanos;
        }
    }

    private final Decoder decoder;
    private final boolean cache;
    private final Gpt2Tokenizer tokenizer = Gpt2Tokenizer.get();
    private final int maxT;
    // per slot: its decoder sequence (made on first use), the running sequence, the prompt it holds
    private final Decoder.Sequence[] caches;
    private final Sequence[] running;
    private final int[][] heldPrompt;
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    // one step's batch
    private final Decoder.Sequence[] batch;
    private final int[] batchTokens;

    /** A generator that decodes up to {@code slots} sequences together (at most {@link Inference#CHUNK}). */
    public Generator(Decoder decoder, int slots) {
        this(decoder, slots, true);
    }

    /**
     * With {@code cache} false every new token re-reads the whole context instead of using the key/value
     * cache (what decoding costs without one; for benchmarks).
     */
    public Generator(Decoder decoder, int slots, boolean cache) {
        if (slots < 1 || slots > Inference.CHUNK) {
            throw new IllegalArgumentException("slots must be in [1, " + Inference.CHUNK + "], got " + slots);
        }
        this.decoder = decoder;
        this.cache = cache;
        this.maxT = decoder.config().blockSize();
        caches = new Decoder.Sequence[slots];
        running = new Sequence[slots];
        heldPrompt = new int[slots][];
        batch = new Decoder.Sequence[slots];
        batchTokens = new int[slots];
    }

    public int slots() {
        return running.length;
    }

    /** Sequences decoding now. */
    public int active() {
        int n = 0;
        for (Sequence s : running) if (s != null) n++;
        return n;
    }

    /** Sequences waiting for a slot. */
    public int waiting() {
        return waiting.size();
    }

    /** Whether anything is running or waiting. */
    public boolean busy() {
        return !waiting.isEmpty() || active() > 0;
    }

    /**
     * Queues a prompt (1 to block_size tokens of the model's vocabulary); it starts at the next
     * {@link #step} that finds a free slot. {@code listener} may be null.
     */
    public Sequence add(int[] prompt, Limits limits, Sampler sampler, Listener listener) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
        if (prompt.length > maxT) {
            throw new IllegalArgumentException("the prompt is " + prompt.length + " tokens, more than block_size " + maxT);
        }
        Sequence s = new Sequence(prompt.clone(), limits, sampler, listener);
        waiting.add(s);
        return s;
    }

    /** Ends every running and waiting sequence as cancelled. */
    public void cancelAll() {
        for (Sequence s; (s = waiting.poll()) != null; ) end(s, Finish.CANCELLED);
        for (Sequence s : running) if (s != null) end(s, Finish.CANCELLED);
    }

    /** Steps until every sequence has ended. */
    public void run() {
        while (busy()) step();
    }

    /**
     * One round: ends cancelled sequences, starts waiting prompts in free slots, then gives every running sequence its next
     * token and advances those that go on, together. Returns whether anything is still running or
     * waiting.
     */
    public boolean step() {
        for (Sequence s : running) {
            if (s != null && s.cancelled) end(s, Finish.CANCELLED); // its slot can take a waiting prompt now
        }
        admit();
        int n = 0;
        for (int slot = 0; slot < running.length; slot++) {
            Sequence s = running[slot];
            if (s == null) continue;
            try {
                if (next(s)) {
                    batch[n] = caches[slot];
                    batchTokens[n++] = s.history[s.length - 1];
                }
            } catch (RuntimeException e) {
                fail(s, e);
            }
        }
        if (n > 0) {
            try {
                decoder.step(batch, batchTokens, n);
            } catch (RuntimeException e) {
                for (Sequence s : running) if (s != null) fail(s, e);
            }
        }
        return busy();
    }

    /** Moves waiting sequences into free slots (cancelled ones end here) and prefills their prompts. */
    private void admit() {
        // a cancelled sequence leaves the queue from wherever it waits, not only from its head
        waiting.removeIf(s -> {
            if (s.cancelled) end(s, Finish.CANCELLED);
            return s.cancelled;
        });
        while (!waiting.isEmpty()) {
            Sequence s = waiting.peek();
            if (s.cancelled || s.limits.maxTokens() == 0) {
                waiting.poll();
                end(s, s.cancelled ? Finish.CANCELLED : Finish.LENGTH);
                continue;
            }
            int slot = freeSlot(s.prompt);
            if (slot < 0) return;
            waiting.poll();
            running[slot] = s;
            s.slot = slot;
            try {
                start(s);
            } catch (RuntimeException e) {
                fail(s, e);
            }
        }
    }

    /** A free slot, one that holds this prompt if there is one; -1 when none is free. */
    private int freeSlot(int[] prompt) {
        int free = -1;
        for (int slot = 0; slot < running.length; slot++) {
            if (running[slot] != null) continue;
            if (Arrays.equals(heldPrompt[slot], prompt)) return slot;
            if (free < 0) free = slot;
        }
        return free;
    }

    private void start(Sequence s) {
        int slot = s.slot;
        if (caches[slot] == null) caches[slot] = decoder.newSequence();
        Decoder.Sequence c = caches[slot];
        s.started = System.nanoTime();
        s.history = Arrays.copyOf(s.prompt, s.prompt.length + Math.min(s.limits.maxTokens(), 1 << 16));
        s.length = s.prompt.length;
        if (s.listener != null || !s.limits.stop().isEmpty()) s.decoder = tokenizer.streamDecoder();
        if (Arrays.equals(heldPrompt[slot], s.prompt) && cache) {
            c.restore();
        } else {
            heldPrompt[slot] = null; // the cache is about to change
            c.reset();
            decoder.prefill(c, s.prompt, 0, s.prompt.length);
            s.prefilled = true;
            c.save();
            heldPrompt[slot] = s.prompt;
        }
        s.prefillNanos = System.nanoTime() - s.started;
    }

    /**
     * Samples s's next token and records it; returns true when s goes on with a step, false when it
     * ended or was re-prefilled (its context slid, or there is no cache).
     */
    private boolean next(Sequence s) {
        Decoder.Sequence c = caches[s.slot];
        int token = s.sampler.sample(c.logits(), 0);
        if (token == Gpt2Tokenizer.EOT && s.limits.stopAtEndOfText()) {
            end(s, Finish.END_OF_TEXT);
            return false;
        }
        if (s.length == s.history.length) s.history = Arrays.copyOf(s.history, s.history.length * 2);
        s.history[s.length++] = token;
        s.generated++;
        if (s.decoder != null && deliver(s, s.decoder.next(token))) {
            end(s, Finish.STOP);
            return false;
        }
        if (s.generated == s.limits.maxTokens()) {
            end(s, Finish.LENGTH);
            return false;
        }
        if (!cache) {
            c.reset();
            decoder.prefill(c, s.history, Math.max(0, s.length - maxT), s.length);
            heldPrompt[s.slot] = null;
            return false;
        }
        if (c.remaining() == 0) {
            // context full: re-read the last half and go on (positions restart at 0)
            int keep = Math.max(1, maxT / 2);
            c.reset();
            decoder.prefill(c, s.history, s.length - keep, s.length);
            heldPrompt[s.slot] = null;
            return false;
        }
        return true;
    }

    /**
     * Appends decoded text and gives the listener what is settled: all of it, but for a tail that may
     * begin a stop string. Returns true when a stop string is complete (the text then ends before it).
     */
    private boolean deliver(Sequence s, String piece) {
        s.text.append(piece);
        List<String> stops = s.limits.stop();
        int settled = s.text.length();
        if (!stops.isEmpty()) {
            int at = -1;
            for (String stop : stops) {
                int i = s.text.indexOf(stop, s.delivered);
                if (i >= 0 && (at < 0 || i < at)) at = i;
            }
            if (at >= 0) {
                s.text.setLength(at);
                emit(s, at);
                return true;
            }
            settled -= pendingStopPrefix(s.text, s.delivered, stops);
        }
        emit(s, settled);
        return false;
    }

    /** The longest tail of text (after {@code from}) that is a proper prefix of a stop string. */
    private static int pendingStopPrefix(StringBuilder text, int from, List<String> stops) {
        int longest = 0;
        for (String stop : stops) {
            for (int k = Math.min(stop.length() - 1, text.length() - from); k > longest; k--) {
                if (CharSequence.compare(text.subSequence(text.length() - k, text.length()), stop.subSequence(0, k)) == 0) {
                    longest = k;
                    break;
                }
            }
        }
        return longest;
    }

    private void emit(Sequence s, int upTo) {
        if (s.listener != null && upTo > s.delivered) {
            String piece = s.text.substring(s.delivered, upTo);
            s.delivered = upTo;
            s.listener.onText(piece);
        } else {
            s.delivered = Math.max(s.delivered, upTo);
        }
    }

    private void fail(Sequence s, RuntimeException e) {
        s.error = e;
        end(s, Finish.ERROR);
    }

    /** Ends s: delivers what text it still holds (not for a stop or a failure), frees its slot, tells its listener. */
    private void end(Sequence s, Finish finish) {
        if (s.finish != null) return;
        if (s.decoder != null && finish != Finish.STOP && finish != Finish.ERROR) {
            // the decoder's last bytes (a character cut off at the end) may complete a stop string too
            if (deliver(s, s.decoder.finish())) finish = Finish.STOP;
            emit(s, s.text.length());
        }
        s.finish = finish;
        if (s.started != 0) s.decodeNanos = System.nanoTime() - s.started - s.prefillNanos;
        if (s.slot >= 0) {
            if (finish == Finish.ERROR) heldPrompt[s.slot] = null;
            running[s.slot] = null;
        }
        if (s.listener != null) {
            try {
                s.listener.onFinish(s);
            } catch (RuntimeException e) {
                // a listener's failure is the listener's: the other sequences go on
            }
        }
    }
}
