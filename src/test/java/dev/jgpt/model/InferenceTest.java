package dev.jgpt.model;

import dev.jgpt.JgptException;
import dev.jgpt.io.ModelFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The KV-cache decoder against full recomputation: at every position, the logits from
 * {@link Inference} (one token at a time, and a fresh prefill of each prefix) equal row t of
 * {@link Gpt#forward} on the whole sequence. Tolerance: max |difference| ≤ 1e-5 · max(1, max |logit|)
 * per row, as ParityTest's logits. Both paths compute in float32 with the same kernels except
 * attention (and the one-row matrix-vector product), which sum in another order; the largest
 * difference seen on these models is 6e-7 of the row's largest logit.
 */
class InferenceTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");
    static final double TOLERANCE = 1e-5;

    @ParameterizedTest(name = "{0} from {1}")
    @CsvSource({
            "tiny, hf", "tiny, model.bin",
            "odd_heads, hf", "odd_heads, model.bin",
            "wider, hf",
            "vocab128, hf",
    })
    void cacheMatchesFullForwardOnFixtures(String fixture, String weights) throws Exception {
        Gpt model = ModelFiles.load(FIXTURES.resolve(fixture).resolve(weights));
        checkEveryPosition(model, 7);
    }

    @Test
    void cacheMatchesFullForwardOnRandomModel() {
        // head size 20 and n_embd 60 leave partial vectors everywhere; block 150 spans three prefill chunks
        checkEveryPosition(randomModel(GptConfig.of(2, 3, 60, 150, 301), 1), 3);
    }

    @Test
    void cacheMatchesFullForwardOnRandomModelWithWideHeads() {
        checkEveryPosition(randomModel(GptConfig.of(2, 2, 128, 70, 500), 2), 4);
    }

    @Test
    void rewindKeepsThePromptAndForgetsTheRest() {
        Gpt model = randomModel(GptConfig.of(2, 4, 32, 24, 97), 3);
        int[] a = tokens(24, 97, 10), b = a.clone();
        for (int i = 12; i < 24; i++) b[i] = (a[i] + 5) % 97;
        Inference inf = new Inference(model);
        inf.prefill(a, 0, 12);
        for (int i = 12; i < 20; i++) inf.step(a[i]);
        inf.rewind(12);
        assertEquals(12, inf.position());
        float[] full = fullLogits(model, b);
        int Vp = model.config.paddedVocabSize(), V = model.config.vocabSize();
        for (int i = 12; i < 24; i++) {
            float[] got = inf.step(b[i]);
            assertRowClose(full, i * Vp, got, V, "position " + i);
        }
    }

    @Test
    void fullContextRefusesMoreTokens() {
        Gpt model = randomModel(GptConfig.of(1, 2, 16, 8, 50), 4);
        Inference inf = new Inference(model);
        int[] t = tokens(8, 50, 5);
        inf.prefill(t, 0, 6);
        assertThrows(JgptException.class, () -> inf.prefill(t, 0, 3));
        inf.step(t[6]);
        inf.step(t[7]);
        assertEquals(0, inf.remaining());
        assertThrows(IllegalStateException.class, () -> inf.step(1));
        assertThrows(JgptException.class, () -> new Inference(model).step(50)); // outside the vocabulary
        inf.reset();
        assertEquals(8, inf.remaining());
    }

    @Test
    void paddedLogitsAreNegativeInfinity() {
        Gpt model = randomModel(GptConfig.of(1, 2, 16, 8, 50), 5);
        float[] logits = new Inference(model).prefill(new int[]{1, 2, 3});
        assertEquals(model.config.paddedVocabSize(), logits.length);
        for (int v = 50; v < logits.length; v++) assertEquals(Float.NEGATIVE_INFINITY, logits[v]);
    }

    /**
     * One step over several sequences, at different positions, gives each the logits it gets decoded
     * alone, bit for bit, in both precisions; n from 1 to 9 covers the four-row kernels and their
     * remainders.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"FP32", "BF16"})
    void stepOfSeveralSequencesEqualsEachAlone(Inference.Precision precision) {
        // n_embd 60, head size 20, 4·60 = 240: partial vectors everywhere
        GptConfig cfg = GptConfig.of(2, 3, 60, 40, 301);
        Gpt model = randomModel(cfg, 8);
        int Vp = cfg.paddedVocabSize();
        for (int n = 1; n <= 9; n++) {
            Inference together = new Inference(model, precision), alone = new Inference(model, precision);
            Inference.Sequence[] seqs = new Inference.Sequence[n];
            int[][] streams = new int[n][];
            for (int i = 0; i < n; i++) {
                streams[i] = tokens(cfg.blockSize(), cfg.vocabSize(), 100 * n + i);
                seqs[i] = together.newSequence();
                together.prefill(seqs[i], streams[i], 0, 1 + 3 * i); // prompts of different lengths
            }
            int[] next = new int[n];
            for (int t = 0; t < 8; t++) {
                for (int i = 0; i < n; i++) next[i] = streams[i][seqs[i].position()];
                together.step(seqs, next, n);
            }
            for (int i = 0; i < n; i++) {
                Inference.Sequence own = alone.newSequence();
                alone.prefill(own, streams[i], 0, 1 + 3 * i);
                for (int t = 0; t < 8; t++) alone.step(new Inference.Sequence[]{own}, new int[]{streams[i][own.position()]}, 1);
                assertEquals(own.position(), seqs[i].position());
                for (int v = 0; v < Vp; v++) {
                    assertEquals(Float.floatToIntBits(own.logits()[v]), Float.floatToIntBits(seqs[i].logits()[v]),
                            precision + " n=" + n + " sequence " + i + " logit " + v);
                }
            }
        }
    }

    @Test
    void stepRefusesAFullOrRepeatedSequence() {
        Gpt model = randomModel(GptConfig.of(1, 2, 16, 4, 50), 9);
        Inference inf = new Inference(model);
        Inference.Sequence a = inf.newSequence(), b = inf.newSequence();
        inf.prefill(a, new int[]{1, 2, 3, 4}, 0, 4);
        inf.prefill(b, new int[]{1}, 0, 1);
        assertThrows(IllegalStateException.class, () -> inf.step(new Inference.Sequence[]{b, a}, new int[]{1, 1}, 2));
        assertThrows(IllegalArgumentException.class, () -> inf.step(new Inference.Sequence[]{b, b}, new int[]{1, 1}, 2));
        Inference other = new Inference(model);
        assertThrows(IllegalArgumentException.class, () -> other.step(new Inference.Sequence[]{b}, new int[]{1}, 1));
        assertEquals(1, b.position()); // nothing was appended
    }

    /**
     * Runs one random sequence of block_size tokens three ways and compares every position with the
     * full forward: prefill of the first token then steps; prefill of each prefix from scratch; and
     * prefill of {@code split} tokens, steps to the middle, then a prefill of the rest.
     */
    static void checkEveryPosition(Gpt model, int split) {
        checkEveryPosition(model, Inference.Precision.FP32, model, split);
    }

    /** As above, for a decoder of {@code model} in {@code precision} against the full forward of {@code reference}. */
    static void checkEveryPosition(Gpt model, Inference.Precision precision, Gpt reference, int split) {
        GptConfig cfg = model.config;
        int T = cfg.blockSize(), V = cfg.vocabSize(), Vp = cfg.paddedVocabSize();
        int[] seq = tokens(T, V, 42);
        float[] full = fullLogits(reference, seq);

        Inference inf = new Inference(model, precision);
        assertRowClose(full, 0, inf.prefill(seq, 0, 1), V, "step path, position 0");
        for (int t = 1; t < T; t++) assertRowClose(full, t * Vp, inf.step(seq[t]), V, "step path, position " + t);
        assertEquals(T, inf.position());

        for (int n = 1; n <= T; n++) {
            inf.reset();
            assertRowClose(full, (n - 1) * Vp, inf.prefill(seq, 0, n), V, "prefill of " + n + " tokens");
        }

        inf.reset();
        inf.prefill(seq, 0, split);
        int mid = Math.max(split, T / 2);
        for (int t = split; t < mid; t++) inf.step(seq[t]);
        assertRowClose(full, (T - 1) * Vp, inf.prefill(seq, mid, T), V, "mixed prefill and steps");
    }

    static float[] fullLogits(Gpt model, int[] seq) {
        model.forward(seq, null, 1, seq.length);
        return model.logits().clone();
    }

    static void assertRowClose(float[] want, int wantOff, float[] got, int V, String what) {
        double maxErr = 0, maxAbs = 0;
        for (int v = 0; v < V; v++) {
            maxAbs = Math.max(maxAbs, Math.abs(want[wantOff + v]));
            maxErr = Math.max(maxErr, Math.abs(want[wantOff + v] - got[v]));
        }
        assertTrue(maxErr <= TOLERANCE * Math.max(1, maxAbs), what + ": max error " + maxErr + " vs max |logit| " + maxAbs);
    }

    /** A model with every parameter N(0, 0.3): far from uniform attention, so the cache matters. */
    static Gpt randomModel(GptConfig cfg, long seed) {
        Gpt model = new Gpt(cfg);
        float[] p = model.params();
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < p.length; i++) p[i] = (float) (rng.nextGaussian() * 0.3);
        return model;
    }

    static int[] tokens(int n, int V, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rng.nextInt(V);
        return t;
    }

    static float[] randoms(SplittableRandom rng, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rng.nextGaussian() * std);
        return a;
    }
}
