package dev.jgpt.generate;

import dev.jgpt.JgptException;
import dev.jgpt.eval.Sampler;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.model.Decoder;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.Inference;
import dev.jgpt.tokenizer.Gpt2Tokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.function.Consumer;

/**
 * A trained model, ready to continue prompts, from any number of threads. Requests made at the same
 * time are decoded together by one {@link Generator} on a thread of its own (each step reads the
 * weights once for all of them), and each gets the tokens it would get alone.
 *
 * <pre>{@code
 * try (LanguageModel model = LanguageModel.load(Path.of("runs/quickstart"))) {
 *     String text = model.generate("public static int", LanguageModel.Options.defaults().withMaxTokens(40));
 * }
 * }</pre>
 *
 * <p>Prompts are GPT-2 text ({@code <|endoftext|>} in a prompt is the special token). With
 * {@link Options#defaults()} a continuation samples 100 tokens with top-k 50 at temperature 1 and ends
 * at {@code <|endoftext|>}, as {@code jgpt generate} does; at temperature 0 it is greedy and its tokens
 * are exactly those {@code jgpt generate --temperature 0} prints.
 *
 * <p>On a GPU the model takes the GPU's decoder, which it closes with itself (the GPU after it):
 * <pre>{@code
 * try (Cuda cuda = Cuda.open();
 *      LanguageModel model = new LanguageModel(new CudaDecoder(cuda, ModelFiles.load(path)), LanguageModel.DEFAULT_SLOTS)) {
 *     ...
 * }
 * }</pre>
 */
public final class LanguageModel implements AutoCloseable {
    /** Sequences decoded together by {@link #load(Path)}. */
    public static final int DEFAULT_SLOTS = 8;

    /**
     * How to continue a prompt: at most {@code maxTokens} new tokens; sampling at {@code temperature}
     * (0 = greedy) among the {@code topK} most likely tokens (0 = all) and the nucleus {@code topP}
     * (1 = all); {@code seed} makes it repeatable (null: a fresh random seed); the text ends before the
     * first of the {@code stop} strings, and at {@code <|endoftext|>} if {@code stopAtEndOfText}.
     */
    public record Options(int maxTokens, float temperature, int topK, float topP, Long seed, List<String> stop,
                          boolean stopAtEndOfText) {
        public Options {
            // checked here, where the caller sets them, not at the first call that uses them
            if (maxTokens < 0) throw new JgptException("maxTokens must be >= 0, got " + maxTokens);
            Sampler.check(temperature, topK, topP);
            if (stop == null || stop.stream().anyMatch(java.util.Objects::isNull)) {
                throw new JgptException("stop: the stop strings must not be null");
            }
            if (stop.contains("")) throw new JgptException("stop: a stop string must not be empty");
            stop = List.copyOf(stop);
        }

        /** {@code jgpt generate}'s defaults: 100 tokens, top-k 50, temperature 1, a random seed. */
        public static Options defaults() {
            return new Options(100, 1f, 50, 1f, null, List.of(), true);
        }

        public Options withMaxTokens(int n) {
            return new Options(n, temperature, topK, topP, seed, stop, stopAtEndOfText);
        }

        public Options withTemperature(double t) {
            return new Options(maxTokens, (float) t, topK, topP, seed, stop, stopAtEndOfText);
        }

        public Options withTopK(int k) {
            return new Options(maxTokens, temperature, k, topP, seed, stop, stopAtEndOfText);
        }

        public Options withTopP(double p) {
            return new Options(maxTokens, temperature, topK, (float) p, seed, stop, stopAtEndOfText);
        }

        public Options withSeed(long s) {
            return new Options(maxTokens, temperature, topK, topP, s, stop, stopAtEndOfText);
        }

        public Options withStop(String... strings) {
            if (strings == null) throw new JgptException("stop: the stop strings must not be null");
            return new Options(maxTokens, temperature, topK, topP, seed, java.util.Arrays.asList(strings), stopAtEndOfText);
        }

        public Options withStopAtEndOfText(boolean b) {
            return new Options(maxTokens, temperature, topK, topP, seed, stop, b);
        }
    }

    /** A finished continuation: its text, its tokens, the prompt's length in tokens and why it ended. */
    public record Completion(String text, int[] tokens, int promptTokens, Generator.Finish finish) {
    }

    /** A continuation on its way: wait for it, or cancel it (its slot goes to the next request at once). */
    public final class Pending {
        private final int[] prompt;
        private final Generator.Limits limits;
        private final Sampler sampler;
        private final Consumer<String> onText;
        private final CompletableFuture<Completion> result = new CompletableFuture<>();
        private volatile Generator.Sequence sequence;
        private volatile boolean cancelled;

        private Pending(int[] prompt, Generator.Limits limits, Sampler sampler, Consumer<String> onText) {
            this.prompt = prompt;
            this.limits = limits;
            this.sampler = sampler;
            this.onText = onText;
            // a future cancelled or timed out by its caller (future().cancel(true), orTimeout) stops
            // the generation too: it would hold its slot to the end, for an answer no one reads
            result.whenComplete((c, e) -> {
                if (e != null) cancel();
            });
        }

        /** Waits for the end: the completion (a cancelled one holds what was generated until then). */
        public Completion await() throws InterruptedException {
            try {
                return result.get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException re) throw re;
                if (e.getCause() instanceof Error error) throw error;
                throw new IllegalStateException(e.getCause());
            }
        }

        /** The completion as a future; completing it first (cancel, orTimeout) stops the generation as {@link #cancel()} does. */
        public CompletableFuture<Completion> future() {
            return result;
        }

        /** Stops generating (from any thread). */
        public void cancel() {
            cancelled = true;
            Generator.Sequence s = sequence;
            if (s != null) s.cancel();
        }

        /** The number of prompt tokens. */
        public int promptTokens() {
            return prompt.length;
        }

        /** Ends a request that never reached the generator as one cancelled before its first token. */
        private void cancelUnstarted() {
            result.complete(new Completion("", new int[0], prompt.length, Generator.Finish.CANCELLED));
        }

        private void start(Generator generator) {
            sequence = generator.add(prompt, limits, sampler, new Generator.Listener() {
                @Override
                public void onText(String text) {
                    if (onText == null) return;
                    try {
                        onText.accept(text);
                    } catch (Error e) {
                        throw new CallbackError(e); // fails this request alone, as an exception of the callback does
                    }
                }

                @Override
                public void onFinish(Generator.Sequence s) {
                    if (s.finish() != Generator.Finish.ERROR) result.complete(new Completion(s.text(), s.tokens(), s.promptTokens(), s.finish()));
                    else result.completeExceptionally(s.error() instanceof CallbackError c ? c.getCause() : s.error());
                }
            });
            if (cancelled) sequence.cancel();
        }
    }

    /** An Error thrown by a request's callback, carried through the generator as that request's failure. */
    private static final class CallbackError extends RuntimeException {
        CallbackError(Error e) {
            super(e);
        }
    }

    private final GptConfig config;
    private final Decoder decoder;
    private final Generator generator;
    private final Gpt2Tokenizer tokenizer = Gpt2Tokenizer.get();
    private final LinkedBlockingQueue<Pending> incoming = new LinkedBlockingQueue<>();
    private final Thread thread;
    private volatile boolean closed;
    /** What ended the decoding thread other than close(): a fault of the decoder itself. */
    private volatile Throwable failure;
    private final java.util.concurrent.atomic.AtomicBoolean decoderClosed = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile int active, waiting;

    /**
     * Loads a model (a run directory, a checkpoint, a HuggingFace GPT-2 folder or an llm.c .bin) with
     * bf16 weight matrices, decoding up to {@value #DEFAULT_SLOTS} requests together.
     */
    public static LanguageModel load(Path path) throws IOException {
        return load(path, Inference.Precision.BF16, DEFAULT_SLOTS);
    }

    /** Loads a model; {@code slots} requests (1 to {@value Inference#CHUNK}) are decoded together, the rest wait. */
    public static LanguageModel load(Path path, Inference.Precision precision, int slots) throws IOException {
        return new LanguageModel(ModelFiles.load(path), precision, slots);
    }

    /** A model already in memory, decoded on the CPU (its weights are read, not copied: do not train it meanwhile). */
    public LanguageModel(Gpt model, Inference.Precision precision, int slots) {
        this(new Inference(model, precision), slots);
    }

    /**
     * A model behind any decoder (the GPU's, say), which this object then drives from its own thread
     * and closes on {@link #close()}.
     */
    public LanguageModel(Decoder decoder, int slots) {
        if (slots < 1 || slots > Inference.CHUNK) throw new JgptException("slots must be in [1, " + Inference.CHUNK + "], got " + slots);
        this.config = decoder.config();
        this.decoder = decoder;
        this.generator = new Generator(decoder, slots);
        thread = new Thread(this::decodeLoop, "jgpt-generate");
        thread.setDaemon(true);
        thread.start();
    }

    public GptConfig config() {
        return config;
    }

    public Inference.Precision precision() {
        return decoder.precision();
    }

    /** Requests decoded together at most; more wait for a free slot. */
    public int slots() {
        return generator.slots();
    }

    /** Requests being decoded now (as of the last step). */
    public int active() {
        return active;
    }

    /** Requests waiting for a slot (as of the last step, plus those submitted since). */
    public int waiting() {
        return waiting + incoming.size();
    }

    /** The prompt's tokens (GPT-2's tokenizer, {@code <|endoftext|>} as the special token), checked against the model. */
    public int[] tokenize(String prompt) {
        if (prompt == null) throw new JgptException("prompt: must not be null");
        int[] ids = tokenizer.encodeWithSpecial(prompt);
        checkPrompt(ids);
        return ids;
    }

    /** Continues {@code prompt}; returns the new text. */
    public String generate(String prompt, Options options) throws InterruptedException {
        return complete(prompt, options, null).text();
    }

    /**
     * Continues {@code prompt}, handing each piece of new text to {@code onText} as it is decoded (on
     * the decoding thread: keep it short), and returns the whole completion.
     */
    public Completion complete(String prompt, Options options, Consumer<String> onText) throws InterruptedException {
        Pending p = submit(tokenize(prompt), options, onText);
        try {
            return p.await();
        } catch (InterruptedException e) {
            p.cancel();
            throw e;
        }
    }

    /** Starts a continuation of the prompt's tokens and returns at once; {@code onText} may be null. */
    public Pending submit(int[] prompt, Options options, Consumer<String> onText) {
        if (closed) {
            Throwable f = failure;
            throw new IllegalStateException("the model is closed" + (f == null ? "" : ": its decoding thread failed (" + f + ")"), f);
        }
        if (prompt == null) throw new JgptException("prompt: must not be null");
        if (options == null) throw new JgptException("options: must not be null (Options.defaults() for jgpt generate's)");
        checkPrompt(prompt);
        long seed = options.seed() != null ? options.seed() : System.nanoTime() ^ Double.doubleToLongBits(Math.random());
        // only ids the tokenizer can print take part (a model may pad its vocabulary past GPT-2's)
        int vocab = Math.min(config.vocabSize(), Gpt2Tokenizer.VOCAB_SIZE);
        Sampler sampler = new Sampler(vocab, options.temperature(), options.topK(), options.topP(), seed);
        Generator.Limits limits = new Generator.Limits(options.maxTokens(), options.stop(), options.stopAtEndOfText());
        Pending p = new Pending(prompt.clone(), limits, sampler, onText);
        incoming.add(p);
        // a close() since the check above may have emptied the queue already, and nothing would
        // ever end p: whichever of this thread and the decoding thread takes it out ends it
        if (closed && incoming.remove(p)) p.cancelUnstarted();
        return p;
    }

    /** Checks that a prompt fits the model: 1 to block_size ids of its vocabulary (a {@link JgptException} says what is wrong). */
    public void checkPrompt(int[] ids) {
        if (ids.length == 0) {
            throw new JgptException("the prompt is empty (use " + Gpt2Tokenizer.EOT_TEXT + " for an unconditional sample)");
        }
        if (ids.length > config.blockSize()) {
            throw new JgptException("the prompt is " + ids.length + " tokens, more than the model's block_size " + config.blockSize());
        }
        for (int id : ids) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new JgptException("token " + id + " of the prompt is outside the model's vocabulary of " + config.vocabSize() + " tokens");
            }
        }
    }

    /** The decoding thread: takes new requests in, steps while anything runs, sleeps when idle. */
    private void decodeLoop() {
        try {
            while (!closed) {
                Pending p = generator.busy() ? incoming.poll() : incoming.take();
                for (; p != null; p = incoming.poll()) {
                    try {
                        p.start(generator);
                    } catch (RuntimeException e) {
                        p.result.completeExceptionally(e);
                    }
                }
                generator.step();
                active = generator.active();
                waiting = generator.waiting();
            }
        } catch (InterruptedException e) {
            // closed
        } catch (RuntimeException | Error e) {
            failure = e; // the decoder itself failed: no request can go on, and none may wait for this thread
            closed = true;
        } finally {
            for (Pending p; (p = incoming.poll()) != null; ) p.cancelUnstarted();
            generator.cancelAll();
            active = 0;
            waiting = 0;
            if (closed) closeDecoder(); // this thread was its only user
        }
    }

    /** Stops the decoding thread (continuations still running end as cancelled), then closes the decoder. */
    @Override
    public synchronized void close() {
        closed = true;
        if (Thread.currentThread() == thread) return; // from a callback: the thread closes the decoder as it ends
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the decoding thread closes the decoder as it ends
            return;
        }
        closeDecoder();
    }

    private void closeDecoder() {
        if (decoderClosed.compareAndSet(false, true)) decoder.close();
    }
}
