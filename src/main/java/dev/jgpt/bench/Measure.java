package dev.jgpt.bench;

import dev.jgpt.model.GptConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/** What the benchmarks count and how they summarize: a step's FLOPs, the median time, peak memory, their inputs. */
public final class Measure {
    private Measure() {
    }

    /** Seeded random token ids for a training benchmark's inputs and targets (the same in every run). */
    public static void randomTokens(GptConfig cfg, int[] inputs, int[] targets) {
        SplittableRandom rng = new SplittableRandom(0);
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = rng.nextInt(cfg.vocabSize());
            targets[i] = rng.nextInt(cfg.vocabSize());
        }
    }

    /** FLOPs of one training step: 6 per parameter per token for the matmuls, plus attention's scores. */
    public static double trainingFlops(GptConfig cfg, int B, int T) {
        double matmulParams = (double) cfg.nLayer() * 12 * cfg.nEmbd() * cfg.nEmbd() + (double) cfg.paddedVocabSize() * cfg.nEmbd();
        double attention = 2.0 * 2 * cfg.nLayer() * (double) T * (T + 1) / 2 * cfg.nEmbd(); // QKᵀ and PV, causal half
        return 6 * matmulParams * B * T + 3 * attention * B;
    }

    public static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    public static double round(double x, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(x * f) / f;
    }

    /** Peak resident memory of this process (Linux VmHWM), or -1 where unavailable. */
    public static long peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux
        }
        return -1;
    }
}
