package dev.jgpt.eval;

import dev.jgpt.JgptException;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits: greedy (temperature 0), or a draw from
 * softmax(logits / temperature) restricted first to the {@code topK} highest logits (0 = no limit)
 * and then to the nucleus, the smallest set of most likely tokens whose probability reaches
 * {@code topP} (1 = no limit). Only the first {@code vocabSize} logits take part (padded columns
 * never do). Ties go to the lower token id. The same seed gives the same tokens.
 *
 * <p>build-nanogpt samples with top-k 50 at temperature 1; so does {@code jgpt generate} by default.
 * Buffers are allocated once; a draw allocates nothing.
 */
public final class Sampler {
    private final int vocabSize;
    private final float temperature;
    private final int topK;
    private final float topP;
    private final SplittableRandom rng;

    // candidates as sortable keys: (descending logit, ascending id), see key()
    private final long[] keys;
    private final int[] ids;
    private final double[] probs;
    private int count;
    // Σ exp((logit − max) / T) over all tokens, set when the nucleus prefilter dropped some
    private double prefilterMass;

    public Sampler(int vocabSize, float temperature, int topK, float topP, long seed) {
        if (vocabSize <= 0) throw new IllegalArgumentException("vocabSize must be positive, got " + vocabSize);
        check(temperature, topK, topP);
        this.vocabSize = vocabSize;
        this.temperature = temperature;
        this.topK = topK == 0 ? vocabSize : Math.min(topK, vocabSize);
        this.topP = topP;
        this.rng = new SplittableRandom(seed);
        this.keys = new long[vocabSize];
        this.ids = new int[vocabSize];
        this.probs = new double[vocabSize];
    }

    /** Fails with a {@link JgptException} naming the first setting a sampler cannot take. */
    public static void check(float temperature, int topK, float topP) {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new JgptException("temperature must be a finite number >= 0 (0 = greedy), got " + temperature);
        }
        if (topK < 0) throw new JgptException("top-k must be >= 0 (0 = no limit), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new JgptException("top-p must be in (0, 1] (1 = no limit), got " + topP);
    }

    /** The next token for {@code logits[offset, offset + vocabSize)}. */
    public int sample(float[] logits, int offset) {
        if (temperature == 0) return argmax(logits, offset, vocabSize);
        if (topK == vocabSize && topP == 1) return sampleFull(logits, offset);
        int n = candidates(logits, offset);
        return draw(n);
    }

    /** Plain softmax sampling over the whole vocabulary: no need to sort. */
    private int sampleFull(float[] logits, int offset) {
        float max = logits[offset + argmax(logits, offset, vocabSize)];
        double sum = 0;
        for (int i = 0; i < vocabSize; i++) {
            double e = Math.exp(((double) logits[offset + i] - max) / temperature);
            probs[i] = e;
            ids[i] = i;
            sum += e;
        }
        for (int i = 0; i < vocabSize; i++) probs[i] /= sum;
        return draw(vocabSize);
    }

    /** Draws one of ids[0, n) with probabilities probs[0, n) (which sum to 1). */
    private int draw(int n) {
        double u = rng.nextDouble(), cum = 0;
        for (int i = 0; i < n - 1; i++) {
            cum += probs[i];
            if (u < cum) return ids[i];
        }
        return ids[n - 1];
    }

    /**
     * Fills the tokens a draw may pick, most likely first, with their probabilities renormalized over
     * the set ({@link #candidateId}, {@link #candidateProbability}); returns how many. With
     * temperature 0 the set is the argmax alone.
     */
    public int candidates(float[] logits, int offset) {
        if (temperature == 0) {
            ids[0] = argmax(logits, offset, vocabSize);
            probs[0] = 1;
            return count = 1;
        }
        int n;
        prefilterMass = Double.NaN;
        if (topK < vocabSize) {
            n = selectTopK(logits, offset);
        } else if (topP < 1) {
            n = nucleusPrefilter(logits, offset);
        } else {
            n = vocabSize;
            for (int i = 0; i < n; i++) keys[i] = key(checked(logits[offset + i], i), i);
        }
        Arrays.sort(keys, 0, n);
        // softmax over the candidates, most likely first
        float max = logits[offset + idOf(keys[0])];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            int id = idOf(keys[i]);
            ids[i] = id;
            probs[i] = Math.exp(((double) logits[offset + id] - max) / temperature);
            sum += probs[i];
        }
        if (topP < 1) {
            // the smallest prefix whose mass reaches topP of the (top-k restricted) distribution
            double total = Double.isNaN(prefilterMass) ? sum : prefilterMass;
            double target = topP * total, cum = 0;
            int keep = 0;
            while (keep < n && cum < target) cum += probs[keep++];
            n = keep;
            sum = cum;
        }
        for (int i = 0; i < n; i++) probs[i] /= sum;
        return count = n;
    }

    /** Id of candidate {@code i} from the last {@link #candidates} call (most likely first). */
    public int candidateId(int i) {
        if (i >= count) throw new IndexOutOfBoundsException(i);
        return ids[i];
    }

    /** Probability of candidate {@code i}, renormalized over the candidate set. */
    public double candidateProbability(int i) {
        if (i >= count) throw new IndexOutOfBoundsException(i);
        return probs[i];
    }

    /** Index of the largest of {@code logits[offset, offset + n)}; the lowest index on ties. */
    public static int argmax(float[] logits, int offset, int n) {
        int best = 0;
        float bestValue = checked(logits[offset], 0);
        for (int i = 1; i < n; i++) {
            float v = checked(logits[offset + i], i);
            if (v > bestValue) {
                bestValue = v;
                best = i;
            }
        }
        return best;
    }

    /** The topK best into keys[0, topK), by a min-heap on the key order (the worst kept at the root). */
    private int selectTopK(float[] logits, int offset) {
        int k = topK;
        for (int i = 0; i < k; i++) {
            keys[i] = key(checked(logits[offset + i], i), i);
            siftUp(i);
        }
        long worst = keys[0];
        for (int i = k; i < vocabSize; i++) {
            long key = key(checked(logits[offset + i], i), i);
            if (key < worst) { // better than the worst kept
                keys[0] = key;
                siftDown(k);
                worst = keys[0];
            }
        }
        return k;
    }

    // Heap on keys[0, n) with the largest key (the worst candidate) at the root.
    private void siftUp(int i) {
        long v = keys[i];
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (keys[parent] >= v) break;
            keys[i] = keys[parent];
            i = parent;
        }
        keys[i] = v;
    }

    private void siftDown(int n) {
        long v = keys[0];
        int i = 0;
        while (true) {
            int child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && keys[child + 1] > keys[child]) child++;
            if (keys[child] <= v) break;
            keys[i] = keys[child];
            i = child;
        }
        keys[i] = v;
    }

    /**
     * Without top-k, only tokens with probability ≥ (1 − topP) / V can be in the nucleus: those below
     * sum to less than 1 − topP, so the ones above already reach topP. Keeps those as candidates.
     */
    private int nucleusPrefilter(float[] logits, int offset) {
        float max = logits[offset + argmax(logits, offset, vocabSize)];
        double sum = 0;
        for (int i = 0; i < vocabSize; i++) {
            probs[i] = Math.exp(((double) logits[offset + i] - max) / temperature);
            sum += probs[i];
        }
        prefilterMass = sum;
        double threshold = (1.0 - topP) / vocabSize * sum;
        int n = 0;
        for (int i = 0; i < vocabSize; i++) {
            if (probs[i] >= threshold) keys[n++] = key(logits[offset + i], i);
        }
        return n;
    }

    /** A long that sorts ascending as (logit descending, id ascending). */
    private static long key(float logit, int id) {
        int bits = Float.floatToIntBits(logit);
        int ordered = bits ^ ((bits >> 31) & 0x7fffffff); // signed-int order = float order
        return ((long) ~ordered << 32) | id;
    }

    private static int idOf(long key) {
        return (int) key;
    }

    private static float checked(float logit, int id) {
        if (Float.isNaN(logit)) throw new JgptException("the model produced a NaN logit (token " + id + "); the weights are broken");
        return logit;
    }
}
