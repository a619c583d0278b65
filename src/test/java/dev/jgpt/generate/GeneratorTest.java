package dev.jgpt.generate;

import dev.jgpt.eval.Sampler;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.Inference;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GeneratorTest {
    static final int V = Gpt2Tokenizer.VOCAB_SIZE;

    static int[] prompt(int length, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] t = new int[length];
        for (int i = 0; i < length; i++) t[i] = rng.nextInt(50000);
        return t;
    }

    static Sampler sampler(long seed) {
        return new Sampler(V, 0.9f, 40, 0.95f, seed);
    }

    /**
     * The loop generate ran before the generator existed, on the one-sequence API: prefill, then
     * sample, append, step, and past block_size re-read the last half.
     */
    static int[] oneSequenceLoop(Inference inference, int[] prompt, int maxTokens, Sampler sampler) {
        int maxT = inference.config().blockSize();
        int[] history = Arrays.copyOf(prompt, prompt.length + maxTokens);
        int length = prompt.length;
        inference.reset();
        float[] logits = inference.prefill(prompt);
        for (int i = 0; i < maxTokens; i++) {
            int token = sampler.sample(logits, 0);
            history[length++] = token;
            if (i == maxTokens - 1) break;
            if (inference.remaining() == 0) {
                int keep = Math.max(1, maxT / 2);
                inference.reset();
                logits = inference.prefill(history, length - keep, length);
            } else {
                logits = inference.step(token);
            }
        }
        return Arrays.copyOfRange(history, prompt.length, length);
    }

    @ParameterizedTest
    @EnumSource(Inference.Precision.class)
    void aLoneSequenceGetsTheTokensOfTheOneSequenceLoop(Inference.Precision precision) {
        Gpt model = TestModels.random(16, 1);
        int[] p = prompt(5, 2);
        // 40 tokens from a 5-token prompt in a 16-token context: the context slides several times
        int[] want = oneSequenceLoop(new Inference(model, precision), p, 40, sampler(3));
        Generator g = new Generator(new Inference(model, precision), 1);
        Generator.Sequence s = g.add(p, new Generator.Limits(40, List.of(), false), sampler(3), null);
        g.run();
        assertEquals(Generator.Finish.LENGTH, s.finish());
        assertArrayEquals(want, s.tokens());
    }

    /** Sequences decoded together, waiting for slots, sliding at different times: each gets its lone tokens. */
    @ParameterizedTest
    @EnumSource(Inference.Precision.class)
    void batchedSequencesGetTheirLoneTokens(Inference.Precision precision) {
        Gpt model = TestModels.random(16, 4);
        Generator.Limits limits = new Generator.Limits(30, List.of(), false);
        List<int[]> alone = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            Generator g = new Generator(new Inference(model, precision), 1);
            Generator.Sequence s = g.add(prompt(1 + 2 * i, 10 + i), limits, sampler(20 + i), null);
            g.run();
            alone.add(s.tokens());
        }
        Generator g = new Generator(new Inference(model, precision), 5); // two wait for a slot
        List<Generator.Sequence> together = new ArrayList<>();
        for (int i = 0; i < 7; i++) together.add(g.add(prompt(1 + 2 * i, 10 + i), limits, sampler(20 + i), null));
        int maxActive = 0;
        while (g.step()) maxActive = Math.max(maxActive, g.active());
        assertEquals(5, maxActive);
        for (int i = 0; i < 7; i++) assertArrayEquals(alone.get(i), together.get(i).tokens(), "sequence " + i);
    }

    @Test
    void stopStringEndsTheTextBeforeItAndIsNeverDelivered() {
        Gpt model = TestModels.random(64, 5);
        int[] p = prompt(4, 6);
        Generator g = new Generator(new Inference(model, Inference.Precision.FP32), 2);
        Generator.Sequence free = g.add(p, new Generator.Limits(40, List.of(), false), new Sampler(V, 0, 0, 1, 0), null);
        g.run();
        String full = free.text();
        assertEquals(Gpt2Tokenizer.get().decode(free.tokens()), full);
        // a stop string that starts inside one token's text and ends inside a later one's
        String stop = full.substring(full.length() / 2 - 3, full.length() / 2 + 4);
        StringBuilder delivered = new StringBuilder();
        Generator.Sequence stopped = g.add(p, new Generator.Limits(40, List.of("never there", stop), false), new Sampler(V, 0, 0, 1, 0),
                delivered::append);
        g.run();
        assertEquals(Generator.Finish.STOP, stopped.finish());
        assertEquals(full.substring(0, full.indexOf(stop)), stopped.text());
        assertEquals(stopped.text(), delivered.toString());
        assertFalse(stopped.prefilled(), "the slot held the prompt: rewound, not prefilled");
        assertTrue(stopped.tokens().length < free.tokens().length);
    }

    /** A decoder that makes greedy sampling pick the tokens of a script, one after another. */
    static final class Scripted implements dev.jgpt.model.Decoder {
        private final int[] script;
        private final dev.jgpt.model.GptConfig cfg = dev.jgpt.model.GptConfig.of(1, 1, 8, 64, V);

        Scripted(int... script) {
            this.script = script;
        }

        private final class Seq extends Sequence {
            int next;

            Seq() {
                super(cfg);
            }

            void show() {
                Arrays.fill(logits(), 0f);
                logits()[next < script.length ? script[next] : Gpt2Tokenizer.EOT] = 10f;
            }
        }

        public dev.jgpt.model.GptConfig config() {
            return cfg;
        }

        public Inference.Precision precision() {
            return Inference.Precision.FP32;
        }

        public Sequence newSequence() {
            return new Seq();
        }

        public float[] prefill(Sequence s, int[] tokens, int from, int to) {
            s.advance(to - from);
            ((Seq) s).next = 0;
            ((Seq) s).show();
            return s.logits();
        }

        public void step(Sequence[] seqs, int[] tokens, int n) {
            for (int i = 0; i < n; i++) {
                seqs[i].advance(1);
                ((Seq) seqs[i]).next++;
                ((Seq) seqs[i]).show();
            }
        }
    }

    /** The bytes a sequence ends on (a character cut off) decode to U+FFFD, which may complete a stop string. */
    @Test
    void aStopStringCompletedByTheLastBytesStopsToo() {
        Gpt2Tokenizer tok = Gpt2Tokenizer.get();
        int[] abc = tok.encode("abc");
        int[] script = Arrays.copyOf(abc, abc.length + 2);
        script[abc.length] = byteToken(0xF0); // the first two bytes of a four-byte emoji
        script[abc.length + 1] = byteToken(0x9F);
        Generator g = new Generator(new Scripted(script), 1);
        StringBuilder delivered = new StringBuilder();
        Generator.Sequence s = g.add(new int[]{1}, new Generator.Limits(script.length, List.of("\uFFFD"), true),
                new Sampler(V, 0, 0, 1, 0), delivered::append);
        g.run();
        assertEquals("abc", s.text());
        assertEquals(Generator.Finish.STOP, s.finish());
        assertEquals("abc", delivered.toString());
    }

    private static int byteToken(int b) {
        for (int id = 0; id < V; id++) {
            byte[] bytes = Gpt2Tokenizer.get().tokenBytes(id);
            if (bytes.length == 1 && (bytes[0] & 0xff) == b) return id;
        }
        throw new AssertionError("no token for byte " + b);
    }

    @Test
    void endOfTextEndsASequenceUnlessToldOtherwise() {
        Gpt model = TestModels.alwaysPicks(Gpt2Tokenizer.EOT, 7);
        Generator g = new Generator(new Inference(model, Inference.Precision.BF16), 2);
        Generator.Sequence ends = g.add(prompt(3, 8), Generator.Limits.of(10), sampler(1), null);
        StringBuilder text = new StringBuilder();
        Generator.Sequence goesOn = g.add(prompt(3, 8), new Generator.Limits(3, List.of(), false), sampler(1), text::append);
        g.run();
        assertEquals(Generator.Finish.END_OF_TEXT, ends.finish());
        assertEquals(0, ends.tokens().length);
        assertEquals(Generator.Finish.LENGTH, goesOn.finish());
        assertArrayEquals(new int[]{Gpt2Tokenizer.EOT, Gpt2Tokenizer.EOT, Gpt2Tokenizer.EOT}, goesOn.tokens());
        assertEquals("<|endoftext|>".repeat(3), text.toString());
    }

    @Test
    void aCancelledSequenceFreesItsSlotForAWaitingOne() {
        Gpt model = TestModels.random(32, 9);
        Generator g = new Generator(new Inference(model, Inference.Precision.BF16), 1);
        Generator.Sequence longOne = g.add(prompt(3, 1), new Generator.Limits(100_000, List.of(), false), sampler(1), null);
        Generator.Sequence next = g.add(prompt(3, 2), new Generator.Limits(5, List.of(), false), sampler(2), null);
        for (int i = 0; i < 10; i++) g.step();
        assertEquals(1, g.waiting());
        longOne.cancel();
        g.step();
        assertEquals(Generator.Finish.CANCELLED, longOne.finish());
        assertEquals(10, longOne.tokens().length);
        assertEquals(0, g.waiting());
        g.run();
        assertEquals(Generator.Finish.LENGTH, next.finish());
        assertEquals(5, next.tokens().length);
    }

    @Test
    void aCancelledSequenceLeavesTheQueueFromBehindOthers() {
        Gpt model = TestModels.random(32, 9);
        Generator g = new Generator(new Inference(model, Inference.Precision.BF16), 1);
        Generator.Sequence running = g.add(prompt(3, 1), new Generator.Limits(100_000, List.of(), false), sampler(1), null);
        Generator.Sequence first = g.add(prompt(3, 2), Generator.Limits.of(5), sampler(2), null);
        Generator.Sequence second = g.add(prompt(3, 3), Generator.Limits.of(5), sampler(3), null);
        g.step();
        assertEquals(2, g.waiting());
        second.cancel();
        g.step();
        assertEquals(Generator.Finish.CANCELLED, second.finish()); // not held until the one before it starts
        assertEquals(1, g.waiting());
        assertFalse(first.done());
        assertFalse(running.done());
        running.cancel();
        g.run();
        assertTrue(first.done());
    }

    @Test
    void zeroTokensEndsAtOnceAndAFailingListenerFailsOnlyItsSequence() {
        Gpt model = TestModels.random(32, 10);
        Generator g = new Generator(new Inference(model, Inference.Precision.FP32), 2);
        Generator.Sequence none = g.add(prompt(3, 1), Generator.Limits.of(0), sampler(1), null);
        Generator.Sequence broken = g.add(prompt(3, 2), new Generator.Limits(5, List.of(), false), sampler(2), text -> {
            throw new IllegalStateException("the listener broke");
        });
        Generator.Sequence fine = g.add(prompt(3, 3), new Generator.Limits(5, List.of(), false), sampler(3), null);
        g.run();
        assertEquals(Generator.Finish.LENGTH, none.finish());
        assertEquals(0, none.tokens().length);
        assertEquals(Generator.Finish.ERROR, broken.finish());
        assertEquals("the listener broke", broken.error().getMessage());
        assertEquals(5, fine.tokens().length);
    }

    @Test
    void trainingSamplesReportTheirTokensAsTheyGoAndTheSameTextAsWithout() {
        Gpt model = TestModels.random(32, 2);
        String prompt = "Hello, I'm a language model,";
        List<Long> reported = new ArrayList<>();
        List<String> watched = dev.jgpt.eval.Evaluator.samples(new Inference(model), prompt, 3, 20, 50, 42, reported::add);
        assertEquals(dev.jgpt.eval.Evaluator.samples(new Inference(model), prompt, 3, 20, 50, 42), watched);
        assertEquals(3L * 20, reported.getLast(), "prompts included, every sample's tokens at the end");
        for (int i = 1; i < reported.size(); i++) assertTrue(reported.get(i) > reported.get(i - 1), reported.toString());
    }
}
