package dev.jgpt.eval;

import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SamplerTest {

    @Test
    void temperatureZeroIsArgmaxWithTiesToTheLowerId() {
        SplittableRandom rng = new SplittableRandom(1);
        Sampler greedy = new Sampler(1000, 0f, 50, 0.5f, 7);
        for (int trial = 0; trial < 50; trial++) {
            float[] logits = logits(rng, 1000, 3);
            int best = IntStream.range(0, 1000).reduce((a, b) -> logits[b] > logits[a] ? b : a).getAsInt();
            assertEquals(best, greedy.sample(logits, 0));
        }
        float[] tied = {1, 5, 2, 5, 5};
        assertEquals(1, new Sampler(5, 0f, 0, 1f, 1).sample(tied, 0));
    }

    @Test
    void topKNeverPicksOutsideTheKBest() {
        SplittableRandom rng = new SplittableRandom(2);
        int V = 5000, k = 7;
        Sampler sampler = new Sampler(V, 1.5f, k, 1f, 3);
        for (int trial = 0; trial < 20; trial++) {
            float[] logits = logits(rng, V, 2);
            Set<Integer> best = new HashSet<>(Arrays.asList(sortedIds(logits, V)).subList(0, k));
            for (int draw = 0; draw < 200; draw++) assertTrue(best.contains(sampler.sample(logits, 0)));
            // the candidate set is exactly the k best, most likely first, with renormalized softmax probabilities
            assertEquals(k, sampler.candidates(logits, 0));
            Integer[] order = sortedIds(logits, V);
            double z = 0;
            for (int i = 0; i < k; i++) z += Math.exp(logits[order[i]] / 1.5);
            for (int i = 0; i < k; i++) {
                assertEquals(order[i], sampler.candidateId(i));
                assertEquals(Math.exp(logits[order[i]] / 1.5) / z, sampler.candidateProbability(i), 1e-7);
            }
        }
    }

    @Test
    void topKBreaksTiesTowardLowerIds() {
        float[] logits = {0, 3, 3, 1, 3, 3};
        Sampler sampler = new Sampler(6, 1f, 2, 1f, 4);
        assertEquals(2, sampler.candidates(logits, 0));
        assertEquals(Set.of(1, 2), Set.of(sampler.candidateId(0), sampler.candidateId(1)));
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        float[] logits = logitsOf(0.5, 0.2, 0.15, 0.1, 0.05);
        assertEquals(1, new Sampler(5, 1f, 0, 0.4f, 1).candidates(logits, 0));
        assertEquals(2, new Sampler(5, 1f, 0, 0.69f, 1).candidates(logits, 0));
        assertEquals(3, new Sampler(5, 1f, 0, 0.71f, 1).candidates(logits, 0));
        assertEquals(4, new Sampler(5, 1f, 0, 0.9f, 1).candidates(logits, 0));
        assertEquals(5, new Sampler(5, 1f, 0, 0.99f, 1).candidates(logits, 0));
        Sampler s = new Sampler(5, 1f, 0, 0.71f, 1);
        s.candidates(logits, 0);
        assertEquals(0.5 / 0.85, s.candidateProbability(0), 1e-6);
        assertEquals(0.15 / 0.85, s.candidateProbability(2), 1e-6);
    }

    @Test
    void topPMatchesBruteForceOnALargeVocabulary() {
        SplittableRandom rng = new SplittableRandom(5);
        int V = 50257;
        for (float p : new float[]{0.1f, 0.5f, 0.9f, 0.95f}) {
            for (int topK : new int[]{0, 200}) {
                float[] logits = logits(rng, V, 4);
                float temperature = 0.8f;
                Sampler sampler = new Sampler(V, temperature, topK, p, 6);
                int n = sampler.candidates(logits, 0);
                Integer[] order = sortedIds(logits, V);
                int pool = topK == 0 ? V : topK;
                double z = 0;
                for (int i = 0; i < pool; i++) z += Math.exp((logits[order[i]] - logits[order[0]]) / temperature);
                double cum = 0;
                int expected = 0;
                while (cum < p * z) cum += Math.exp((logits[order[expected++]] - logits[order[0]]) / temperature);
                assertEquals(expected, n, "p=" + p + " top-k=" + topK);
                for (int i = 0; i < n; i++) assertEquals(order[i], sampler.candidateId(i));
                // the next token outside the set would have been needed no more: the set minus its last misses p
                double withoutLast = cum - Math.exp((logits[order[n - 1]] - logits[order[0]]) / temperature);
                assertTrue(withoutLast < p * z);
                for (int draw = 0; draw < 100; draw++) {
                    int id = sampler.sample(logits, 0);
                    assertTrue(Arrays.asList(order).subList(0, n).contains(id));
                }
            }
        }
    }

    @Test
    void samplesFollowTheTemperedSoftmax() {
        float[] logits = {1f, 2f, 0.5f, -1f};
        for (float temperature : new float[]{0.5f, 1f, 2f}) {
            Sampler sampler = new Sampler(4, temperature, 0, 1f, 11);
            int[] counts = new int[4];
            int draws = 40_000;
            for (int i = 0; i < draws; i++) counts[sampler.sample(logits, 0)]++;
            double z = 0;
            for (float l : logits) z += Math.exp(l / temperature);
            for (int v = 0; v < 4; v++) {
                double expected = Math.exp(logits[v] / temperature) / z;
                assertEquals(expected, counts[v] / (double) draws, 0.01, "T=" + temperature + " token " + v);
            }
        }
    }

    @Test
    void sameSeedSameTokens() {
        SplittableRandom rng = new SplittableRandom(8);
        float[][] rows = new float[60][];
        for (int i = 0; i < rows.length; i++) rows[i] = logits(rng, 3000, 1);
        for (int topK : new int[]{0, 50}) {
            for (float topP : new float[]{1f, 0.9f}) {
                int[] a = draws(new Sampler(3000, 1f, topK, topP, 42), rows);
                int[] b = draws(new Sampler(3000, 1f, topK, topP, 42), rows);
                int[] c = draws(new Sampler(3000, 1f, topK, topP, 43), rows);
                assertArrayEquals(a, b);
                assertFalse(Arrays.equals(a, c), "another seed gives other tokens");
            }
        }
    }

    @Test
    void paddedColumnsAndOffsetsAreRespected() {
        float[] logits = new float[3 + 16];
        Arrays.fill(logits, 100f); // padding before and after the real row: read, it would win every draw
        for (int v = 0; v < 10; v++) logits[3 + v] = v == 4 ? 1f : 0f;
        Sampler sampler = new Sampler(10, 1f, 0, 1f, 9);
        int draws = 20_000;
        int[] counts = new int[10];
        for (int i = 0; i < draws; i++) counts[sampler.sample(logits, 3)]++;
        double z = 9 + Math.E;
        for (int v = 0; v < 10; v++) assertEquals((v == 4 ? Math.E : 1) / z, counts[v] / (double) draws, 0.01, "token " + v);
        assertEquals(4, new Sampler(10, 0f, 0, 1f, 9).sample(logits, 3));
        // top-k at an offset: token 4, then the ties 0 and 1 (lower ids first)
        Sampler top3 = new Sampler(10, 1f, 3, 1f, 9);
        assertEquals(3, top3.candidates(logits, 3));
        assertArrayEquals(new int[]{4, 0, 1}, new int[]{top3.candidateId(0), top3.candidateId(1), top3.candidateId(2)});
        assertEquals(Math.E / (Math.E + 2), top3.candidateProbability(0), 1e-12);
    }

    @Test
    void badSettingsAreRejected() {
        assertThrows(JgptException.class, () -> new Sampler(10, -1f, 0, 1f, 0));
        assertThrows(JgptException.class, () -> new Sampler(10, Float.NaN, 0, 1f, 0));
        assertThrows(JgptException.class, () -> new Sampler(10, 1f, -1, 1f, 0));
        assertThrows(JgptException.class, () -> new Sampler(10, 1f, 0, 0f, 0));
        assertThrows(JgptException.class, () -> new Sampler(10, 1f, 0, 1.5f, 0));
        float[] nan = {0, Float.NaN, 1};
        assertThrows(JgptException.class, () -> new Sampler(3, 1f, 2, 1f, 0).sample(nan, 0));
        Sampler wide = new Sampler(3, 1f, 5, 1f, 0); // k > V is V
        assertEquals(3, wide.candidates(new float[]{1, 2, 3}, 0));
        double z = Math.exp(1) + Math.exp(2) + Math.exp(3);
        for (int i = 0; i < 3; i++) {
            assertEquals(2 - i, wide.candidateId(i));
            assertEquals(Math.exp(3 - i) / z, wide.candidateProbability(i), 1e-12);
        }
    }

    private static int[] draws(Sampler sampler, float[][] rows) {
        int[] out = new int[rows.length];
        for (int i = 0; i < rows.length; i++) out[i] = sampler.sample(rows[i], 0);
        return out;
    }

    private static float[] logits(SplittableRandom rng, int n, double std) {
        float[] l = new float[n];
        for (int i = 0; i < n; i++) l[i] = (float) (rng.nextGaussian() * std);
        return l;
    }

    private static float[] logitsOf(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < probs.length; i++) l[i] = (float) Math.log(probs[i]);
        return l;
    }

    /** Ids by descending logit, ties to the lower id. */
    private static Integer[] sortedIds(float[] logits, int V) {
        Integer[] ids = new Integer[V];
        for (int i = 0; i < V; i++) ids[i] = i;
        Arrays.sort(ids, Comparator.<Integer>comparingDouble(i -> -logits[i]).thenComparingInt(i -> i));
        return ids;
    }
}
