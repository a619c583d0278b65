package dev.jgpt.bench;

import dev.jgpt.kernels.AdamW;
import dev.jgpt.kernels.Attention;
import dev.jgpt.kernels.CrossEntropy;
import dev.jgpt.kernels.Gelu;
import dev.jgpt.kernels.LayerNorm;
import dev.jgpt.kernels.Matmul;
import dev.jgpt.tensor.Slice;
import dev.jgpt.model.GptConfig;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Each kernel alone at one model's shapes, so a step's time can be attributed op by op. */
public final class KernelBench {
    private KernelBench() {
    }

    private record Row(String op, double ms, int calls, double work, String unit) {
        double total() {
            return ms * calls;
        }
    }

    public static void run(GptConfig cfg, int B, int T, PrintStream out) {
        int L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead(), Vp = cfg.paddedVocabSize(), V = cfg.vocabSize();
        int BT = B * T;
        List<Row> rows = new ArrayList<>();
        float[] x = random(BT * 4 * C), y = new float[Math.max(BT * 4 * C, BT * Vp)], g = random(Math.max(BT * 4 * C, BT * Vp));
        float[] dx = new float[BT * 4 * C];
        int[][] shapes = {{C, 3 * C, L}, {C, C, L}, {C, 4 * C, L}, {4 * C, C, L}, {C, Vp, 1}};
        String[] names = {"matmul qkv", "matmul attn proj", "matmul fc", "matmul fc proj", "matmul lm head"};
        for (int i = 0; i < shapes.length; i++) {
            int in = shapes[i][0], o = shapes[i][1];
            // the LM head (tied to wte) has no bias; the other layers do
            float[] w = random(o * in), dw = new float[o * in], b = i == shapes.length - 1 ? null : new float[o];
            double flops = 2.0 * BT * in * o;
            rows.add(new Row(names[i] + " fwd", time(() -> Matmul.forward(Slice.of(y), Slice.of(x), Slice.of(w), Slice.of(b), BT, in, o)), shapes[i][2], flops / 1e9, "GFLOP/s"));
            rows.add(new Row(names[i] + " bwd", time(() -> Matmul.backward(Slice.of(dx), Slice.of(dw), Slice.of(b), Slice.of(g), Slice.of(x), Slice.of(w), BT, in, o)), shapes[i][2], 2 * flops / 1e9, "GFLOP/s"));
        }
        float[] qkv = random(BT * 3 * C), att = new float[BT * C], lse = new float[B * NH * T], dqkv = new float[BT * 3 * C];
        double attFlops = 2.0 * 2 * B * (double) T * (T + 1) / 2 * C;
        rows.add(new Row("attention fwd", time(() -> Attention.forward(Slice.of(att), Slice.of(lse), Slice.of(qkv), B, T, C, NH)), L, attFlops / 1e9, "GFLOP/s"));
        rows.add(new Row("attention bwd", time(() -> Attention.backward(Slice.of(dqkv), Slice.of(g), Slice.of(qkv), Slice.of(att), Slice.of(lse), B, T, C, NH)), L, 2.5 * attFlops / 1e9, "GFLOP/s"));
        float[] w1 = random(C), mean = new float[BT], rstd = new float[BT];
        double lnBytes = 2.0 * BT * C * 4 / 1e9;
        rows.add(new Row("layernorm fwd", time(() -> LayerNorm.forward(Slice.of(y), Slice.of(mean), Slice.of(rstd), Slice.of(x), Slice.of(w1), Slice.of(w1), BT, C)), 2 * L + 1, lnBytes, "GB/s"));
        float[] dw1 = new float[C], db1 = new float[C];
        rows.add(new Row("layernorm bwd", time(() -> LayerNorm.backward(Slice.of(dx), Slice.of(dw1), Slice.of(db1), Slice.of(g), Slice.of(x), Slice.of(w1), Slice.of(mean), Slice.of(rstd), BT, C)), 2 * L + 1, 2 * lnBytes, "GB/s"));
        rows.add(new Row("gelu fwd", time(() -> Gelu.forward(Slice.of(y), Slice.of(x), BT * 4 * C)), L, 2.0 * BT * 4 * C * 4 / 1e9, "GB/s"));
        rows.add(new Row("gelu bwd", time(() -> Gelu.backward(Slice.of(dx), Slice.of(x), Slice.of(g), BT * 4 * C)), L, 4.0 * BT * 4 * C * 4 / 1e9, "GB/s"));
        int[] targets = new int[BT];
        float[] losses = new float[BT], rowMax = new float[BT], logits = random(BT * Vp);
        double[] rowSum = new double[BT];
        rows.add(new Row("cross-entropy fwd", time(() -> CrossEntropy.forward(losses, rowMax, rowSum, logits, targets, BT, V, Vp)), 1, (double) BT * Vp * 4 / 1e9, "GB/s"));
        rows.add(new Row("cross-entropy bwd", time(() -> CrossEntropy.backwardInPlace(logits, rowMax, rowSum, targets, 1e-3f, BT, V, Vp)), 1, 2.0 * BT * Vp * 4 / 1e9, "GB/s"));
        int n = Math.toIntExact(cfg.parameterCount());
        float[] p = random(n), pg = random(n), m = new float[n], v = new float[n];
        rows.add(new Row("adamw", time(() -> AdamW.update(p, pg, m, v, 0, n, 1f, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1)), 1, 8.0 * n * 4 / 1e9, "GB/s"));

        double step = rows.stream().mapToDouble(Row::total).sum();
        out.printf("n_layer %d, n_embd %d, B=%d T=%d: the kernels alone add up to %.1f ms per training step%n", L, C, B, T, step);
        out.printf("%-24s %10s %6s %10s %7s %12s%n", "op", "ms/call", "calls", "ms/step", "share", "throughput");
        for (Row r : rows) {
            out.printf("%-24s %10.2f %6d %10.1f %6.1f%% %7.1f %s%n", r.op(), r.ms(), r.calls(), r.total(),
                    100 * r.total() / step, r.work() / (r.ms() / 1000), r.unit());
        }
    }

    private static float[] random(int n) {
        SplittableRandom rng = new SplittableRandom(n);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rng.nextDouble() - 0.5);
        return a;
    }

    /** Median ms of 5 calls, after warming up for at least 10 calls and 1 s: C2 needs that long to compile the bigger kernels. */
    private static double time(Runnable r) {
        double[] ms = new double[5];
        long warm = System.nanoTime();
        for (int i = 0; i < 10 || System.nanoTime() - warm < 1_000_000_000L; i++) r.run();
        for (int i = 0; i < ms.length; i++) {
            long t0 = System.nanoTime();
            r.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        return Measure.median(ms);
    }
}
