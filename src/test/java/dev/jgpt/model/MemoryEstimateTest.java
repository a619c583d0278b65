package dev.jgpt.model;

import org.junit.jupiter.api.Test;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The estimate counts what the code allocates: checked against the buffers themselves. */
class MemoryEstimateTest {

    /**
     * Bytes of the arrays an object holds in its own fields, directly or through the slices, weights
     * and records of this package it holds (each array counted once), skipping {@code except}.
     */
    static long arrayBytes(Object o, Object except) throws IllegalAccessException {
        return arrayBytes(o, except, Collections.newSetFromMap(new IdentityHashMap<>()));
    }

    private static long arrayBytes(Object o, Object except, Set<Object> seen) throws IllegalAccessException {
        long bytes = 0;
        for (Class<?> c = o.getClass(); c != Object.class; c = c.getSuperclass()) { // a sequence's logits are its superclass's
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isStatic(f.getModifiers())) continue;
                f.setAccessible(true);
                bytes += bytesOf(f.get(o), except, seen);
            }
        }
        return bytes;
    }

    private static long bytesOf(Object v, Object except, Set<Object> seen) throws IllegalAccessException {
        if (v == null || v == except || !seen.add(v)) return 0;
        return switch (v) {
            case float[] a -> 4L * a.length;
            case double[] a -> 8L * a.length;
            case short[] a -> 2L * a.length;
            case int[] a -> 4L * a.length;
            case Object[] a when a.getClass().getComponentType().isArray() || isOurs(a.getClass().getComponentType()) -> {
                long sum = 0;
                for (Object e : a) sum += bytesOf(e, except, seen);
                yield sum;
            }
            case Record r when isOurs(r.getClass()) -> arrayBytes(r, except, seen);
            case Map<?, ?> m -> { // a decoder's matrices by name
                long sum = 0;
                for (Object e : m.values()) sum += bytesOf(e, except, seen);
                yield sum;
            }
            default -> 0;
        };
    }

    /** Slices, weights and this package's records: what an engine keeps its buffers in. */
    private static boolean isOurs(Class<?> c) {
        return c.getPackageName().startsWith("dev.jgpt.model") || c.getPackageName().startsWith("dev.jgpt.tensor");
    }

    @Test
    void activationsAreCountedAsTheyAreAllocated() throws Exception {
        for (GptConfig cfg : new GptConfig[]{GptConfig.of(2, 2, 32, 64, 50257), GptConfig.of(3, 3, 24, 17, 97)}) {
            for (int[] bt : new int[][]{{4, 64}, {1, 17}, {3, 5}}) {
                if (bt[1] > cfg.blockSize()) continue;
                Activations a = new Activations(cfg, bt[0], bt[1]);
                assertEquals(arrayBytes(a, null), 4 * Activations.floats(cfg, bt[0], bt[1]), cfg + " B,T " + bt[0] + "," + bt[1]);
            }
        }
    }

    @Test
    void samplingIsCountedAsItIsAllocated() throws Exception {
        for (GptConfig cfg : new GptConfig[]{GptConfig.of(2, 2, 32, 64, 50257), GptConfig.of(3, 3, 24, 100, 97)}) {
            Gpt model = new Gpt(cfg);
            for (Inference.Precision p : Inference.Precision.values()) {
                for (int n : new int[]{1, 3}) {
                    // a decoder of n sequences after a step over all of them: every buffer it keeps is there
                    Inference inference = new Inference(model, p);
                    Inference.Sequence[] seqs = new Inference.Sequence[n];
                    long bytes = 0;
                    for (int i = 0; i < n; i++) {
                        seqs[i] = inference.newSequence();
                        inference.prefill(seqs[i], new int[]{1, 2}, 0, 2);
                        seqs[i].save(); // as the generator keeps a prompt
                    }
                    inference.step(seqs, new int[n], n);
                    bytes += arrayBytes(inference, model.params());
                    for (Inference.Sequence s : seqs) bytes += arrayBytes(s, null);
                    assertEquals(Inference.bytes(cfg, p, n), bytes, cfg + " " + p + " " + n + " sequences");
                }
            }
        }
    }

    @Test
    void trainingCountsFourParameterBuffersActivationsAndLogits() {
        GptConfig gpt2 = GptConfig.preset("gpt2");
        MemoryEstimate e = MemoryEstimate.training(gpt2, 4, 64, 0);
        long p = 4 * gpt2.parameterCount();
        assertEquals(p, e.parameters());
        assertEquals(p, e.gradients());
        assertEquals(2 * p, e.optimizer());
        assertEquals(4L * 4 * 64 * 50304, e.logits());
        assertEquals(0, e.sampling());
        assertEquals(e.parameters() + e.gradients() + e.optimizer() + e.activations() + e.logits(), e.total());
        String line = e.describe(8_000_000_000L);
        assertTrue(line.startsWith("memory: ~2.2 GB estimated (heap 8.0 GB): parameters 0.5 GB"), line);
        assertTrue(MemoryEstimate.training(gpt2, 4, 64, 1).sampling() > 0);
        assertTrue(MemoryEstimate.training(gpt2, 4, 64, 4).sampling() > 3 * MemoryEstimate.training(gpt2, 4, 64, 1).sampling() / 2);
    }

    /** Evaluation holds the weights and one batch's forward: no gradients, no AdamW; too much is refused naming --batch. */
    @Test
    void evaluationCountsTheWeightsAndOneBatch() throws Exception {
        GptConfig cfg = GptConfig.of(2, 2, 32, 64, 50257);
        Gpt model = new Gpt(cfg);
        Engine.cpu(model).forward(new int[4 * 64], new int[4 * 64], 4, 64); // what eval runs for a batch
        MemoryEstimate e = MemoryEstimate.evaluation(cfg, 4, 64);
        assertEquals(arrayBytes(model, null), e.parameters(), "a forward allocates no gradient buffer");
        assertEquals(0, e.gradients() + e.optimizer());
        assertEquals(4 * Activations.floats(cfg, 4, 64), e.activations() + e.logits()); // as allocated: see above
        var refused = org.junit.jupiter.api.Assertions.assertThrows(dev.jgpt.JgptException.class,
                () -> MemoryEstimate.evaluation(GptConfig.preset("gpt2"), 64, 1024).requireFits(8_000_000_000L, "--batch"));
        assertTrue(refused.getMessage().contains("heap is 8.0 GB (parameters 0.5 GB, activations ")
                && refused.getMessage().contains("shrink the model or --batch"), refused.getMessage());
    }

    /** A batch whose logits overflow one array is refused before anything is allocated, with the batch that fits. */
    @Test
    void aBatchPastOneArrayOfLogitsIsRefusedWithTheBatchThatFits() {
        GptConfig cfg = GptConfig.of(1, 2, 32, 128, 50257);
        var e = org.junit.jupiter.api.Assertions.assertThrows(dev.jgpt.JgptException.class, () -> new Activations(cfg, 400, 128));
        assertEquals("a batch of 400x128 tokens needs 2575564800 logits, more than one Java array holds;"
                + " a batch of at most 333x128 fits", e.getMessage());
    }
}
