package dev.jgpt.generate;

import dev.jgpt.JgptException;
import dev.jgpt.model.Decoder;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.Inference;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LanguageModelTest {
    @Test
    void threadsCallingAtOnceGetWhatEachGetsAlone() throws Exception {
        try (LanguageModel model = new LanguageModel(TestModels.random(32, 1), Inference.Precision.BF16, 3)) {
            List<LanguageModel.Options> options = new ArrayList<>();
            for (int i = 0; i < 5; i++) options.add(LanguageModel.Options.defaults().withMaxTokens(50).withSeed(i).withTopP(0.9));
            List<String> alone = new ArrayList<>();
            for (int i = 0; i < 5; i++) alone.add(model.generate("Thread " + i, options.get(i)));
            try (ExecutorService pool = Executors.newFixedThreadPool(5)) {
                List<Future<String>> together = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    int k = i;
                    together.add(pool.submit(() -> model.generate("Thread " + k, options.get(k))));
                }
                for (int i = 0; i < 5; i++) assertEquals(alone.get(i), together.get(i).get());
            }
        }
    }

    @Test
    void streamsTextAndReportsWhyItEnded() throws Exception {
        try (LanguageModel model = new LanguageModel(TestModels.random(32, 2), Inference.Precision.FP32, 2)) {
            StringBuilder streamed = new StringBuilder();
            LanguageModel.Completion c = model.complete("Hello", LanguageModel.Options.defaults().withMaxTokens(12).withTemperature(0),
                    streamed::append);
            assertEquals(c.text(), streamed.toString());
            assertEquals(12, c.tokens().length);
            assertEquals(1, c.promptTokens());
            assertEquals(Generator.Finish.LENGTH, c.finish());
        }
    }

    /** {@code inference} as a decoder that counts, in {@code closed[0]}, how often it is closed. */
    private static Decoder counting(Inference inference, int[] closed) {
        return new Decoder() {
            public GptConfig config() {
                return inference.config();
            }

            public Inference.Precision precision() {
                return inference.precision();
            }

            public Sequence newSequence() {
                return inference.newSequence();
            }

            public float[] prefill(Sequence seq, int[] tokens, int from, int to) {
                return inference.prefill(seq, tokens, from, to);
            }

            public void step(Sequence[] seqs, int[] tokens, int n) {
                inference.step(seqs, tokens, n);
            }

            @Override
            public void close() {
                closed[0]++;
            }
        };
    }

    @Test
    void aModelDrivesTheDecoderItIsGivenAndClosesIt() throws Exception {
        Inference inference = new Inference(TestModels.random(32, 4), Inference.Precision.FP32);
        int[] closed = new int[1];
        Decoder counting = counting(inference, closed); // the CPU's decoder, counting how often it is closed

        LanguageModel.Options greedy = LanguageModel.Options.defaults().withMaxTokens(12).withTemperature(0);
        String expected;
        try (LanguageModel cpu = new LanguageModel(TestModels.random(32, 4), Inference.Precision.FP32, 2)) {
            expected = cpu.generate("Hello", greedy);
        }
        LanguageModel model = new LanguageModel(counting, 2);
        assertEquals(expected, model.generate("Hello", greedy));
        assertEquals(0, closed[0]);
        model.close();
        model.close();
        assertEquals(1, closed[0], "closed once, however often the model is");
    }

    @Test
    void badPromptsAndOptionsFailAtOnceAndCloseEndsWhatRuns() throws Exception {
        LanguageModel model = new LanguageModel(TestModels.random(16, 3), Inference.Precision.BF16, 1);
        LanguageModel.Options options = LanguageModel.Options.defaults();
        assertThrows(JgptException.class, () -> model.generate("", options));
        assertThrows(JgptException.class, () -> model.generate("word ".repeat(40), options)); // past block_size 16
        assertThrows(JgptException.class, () -> model.generate("x", options.withTemperature(-1)));
        assertThrows(JgptException.class, () -> model.generate("x", options.withTopP(0)));
        assertThrows(JgptException.class, () -> options.withMaxTokens(-1));

        LanguageModel.Pending running = model.submit(model.tokenize("long"), options.withMaxTokens(10_000_000).withStopAtEndOfText(false), null);
        LanguageModel.Pending waiting = model.submit(model.tokenize("next"), options, null);
        for (long t0 = System.nanoTime(); !(model.active() == 1 && model.waiting() == 1); Thread.sleep(5)) {
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "one running and one waiting: " + model.active() + ", " + model.waiting());
        }
        waiting.cancel();
        assertEquals(Generator.Finish.CANCELLED, waiting.await().finish());
        model.close();
        assertEquals(Generator.Finish.CANCELLED, running.await().finish());
        assertTrue(running.await().tokens().length > 0);
        assertThrows(IllegalStateException.class, () -> model.generate("x", options));
    }

    /** Cancelling the future, or its timing out, stops the generation and frees its slot, as cancel() does. */
    @Test
    void aCancelledOrTimedOutFutureFreesItsSlot() throws Exception {
        try (LanguageModel model = new LanguageModel(TestModels.random(16, 8), Inference.Precision.FP32, 1)) {
            LanguageModel.Options endless = LanguageModel.Options.defaults().withMaxTokens(100_000_000).withStopAtEndOfText(false);
            for (boolean timeout : new boolean[]{false, true}) {
                LanguageModel.Pending p = model.submit(model.tokenize("long"), endless, null);
                for (long t0 = System.nanoTime(); model.active() != 1; Thread.sleep(5)) {
                    assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "it never started");
                }
                if (timeout) p.future().orTimeout(50, java.util.concurrent.TimeUnit.MILLISECONDS);
                else p.future().cancel(true);
                // the one slot is free for the next request: without that, it waits for 100 million tokens
                Future<LanguageModel.Completion> next = Executors.newSingleThreadExecutor()
                        .submit(() -> model.complete("x", endless.withMaxTokens(2), null));
                assertEquals(2, next.get(10, java.util.concurrent.TimeUnit.SECONDS).tokens().length, "timeout " + timeout);
            }
        }
    }

    /** Options that no sampler takes are refused where they are set, naming the setting. */
    @Test
    void badOptionsFailWhereTheyAreSet() {
        LanguageModel.Options options = LanguageModel.Options.defaults();
        String[][] cases = {
                {"temperature must be a finite number >= 0 (0 = greedy), got -1.0", "t"},
                {"temperature must be a finite number >= 0 (0 = greedy), got NaN", "nan"},
                {"top-p must be in (0, 1] (1 = no limit), got 1.5", "p"},
                {"top-p must be in (0, 1] (1 = no limit), got 0.0", "p0"},
                {"top-k must be >= 0 (0 = no limit), got -3", "k"},
                {"stop: a stop string must not be empty", "stop"},
        };
        for (String[] c : cases) {
            JgptException e = assertThrows(JgptException.class, () -> {
                switch (c[1]) {
                    case "t" -> options.withTemperature(-1);
                    case "nan" -> options.withTemperature(Double.NaN);
                    case "p" -> options.withTopP(1.5);
                    case "p0" -> options.withTopP(0);
                    case "k" -> options.withTopK(-3);
                    default -> options.withStop("\n", "");
                }
            }, c[1]);
            assertEquals(c[0], e.getMessage());
        }
    }

    /**
     * A request submitted while another thread closes the model ends, as any request the close cuts
     * short does: cancelled, with what it had generated (here nothing). It used to wait forever.
     */
    @Test
    void aRequestSubmittedDuringCloseEnds() throws Exception {
        var gpt = TestModels.random(16, 7);
        for (int round = 0; round < 200; round++) {
            LanguageModel model = new LanguageModel(gpt, Inference.Precision.FP32, 1);
            int[] prompt = model.tokenize("x");
            List<LanguageModel.Pending> submitted = java.util.Collections.synchronizedList(new ArrayList<>());
            java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(1);
            Thread submitter = Thread.ofPlatform().start(() -> {
                started.countDown();
                try {
                    while (true) submitted.add(model.submit(prompt, LanguageModel.Options.defaults().withMaxTokens(1), null));
                } catch (IllegalStateException closed) {
                    // the model is closed: submitting stops
                }
            });
            started.await();
            model.close();
            submitter.join();
            for (LanguageModel.Pending p : submitted) {
                try {
                    Generator.Finish finish = p.future().get(10, java.util.concurrent.TimeUnit.SECONDS).finish();
                    assertTrue(finish == Generator.Finish.LENGTH || finish == Generator.Finish.CANCELLED, finish.toString());
                } catch (java.util.concurrent.TimeoutException e) {
                    throw new AssertionError("round " + round + ": a request submitted during close() never ended");
                }
            }
        }
    }

    @Test
    void nullArgumentsAreNamed() throws Exception {
        try (LanguageModel model = new LanguageModel(TestModels.random(16, 3), Inference.Precision.BF16, 1)) {
            LanguageModel.Options options = LanguageModel.Options.defaults().withMaxTokens(2);
            assertEquals("prompt: must not be null", assertThrows(JgptException.class, () -> model.generate(null, options)).getMessage());
            assertTrue(assertThrows(JgptException.class, () -> model.generate("x", null)).getMessage().startsWith("options: must not be null"));
            assertThrows(JgptException.class, () -> options.withStop((String[]) null));
            assertThrows(JgptException.class, () -> options.withStop("a", null));
            assertEquals(2, model.complete("x", options, null).tokens().length, "the model goes on");
        }
    }

    /** An Error in a callback fails that request with it, and the model serves the next one (it used to hang). */
    @Test
    void anErrorInACallbackFailsItsRequestAlone() throws Exception {
        try (LanguageModel model = new LanguageModel(TestModels.random(32, 5), Inference.Precision.FP32, 2)) {
            LanguageModel.Options options = LanguageModel.Options.defaults().withMaxTokens(8).withTemperature(0);
            AssertionError thrown = new AssertionError("a test's assertion in the callback");
            assertEquals(thrown, assertThrows(AssertionError.class, () -> model.complete("Hi", options, text -> { throw thrown; })));
            Future<String> next = Executors.newSingleThreadExecutor().submit(() -> model.generate("Hi", options));
            assertEquals(model.generate("Hi", options), next.get(10, java.util.concurrent.TimeUnit.SECONDS));
        }
    }

    /** close() from a callback, on the decoding thread itself, ends the request and still closes the decoder. */
    @Test
    void closeFromACallbackClosesTheDecoder() throws Exception {
        int[] closed = new int[1];
        Inference inference = new Inference(TestModels.random(32, 6), Inference.Precision.FP32);
        Decoder counting = counting(inference, closed);
        LanguageModel model = new LanguageModel(counting, 2);
        LanguageModel.Completion c = model.complete("Hi", LanguageModel.Options.defaults().withMaxTokens(50).withStopAtEndOfText(false),
                text -> model.close());
        assertEquals(Generator.Finish.CANCELLED, c.finish());
        for (long t0 = System.nanoTime(); closed[0] == 0; Thread.sleep(5)) {
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "the decoder was never closed");
        }
        model.close();
        assertEquals(1, closed[0]);
        assertThrows(IllegalStateException.class, () -> model.generate("x", LanguageModel.Options.defaults()));
    }
}
