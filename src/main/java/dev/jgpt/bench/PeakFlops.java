package dev.jgpt.bench;

import dev.jgpt.tensor.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The machine's fused-multiply-add peak as the JVM reaches it: every thread runs 16 independent FMA
 * chains on registers, nothing from memory. The ceiling the matmul micro-kernel is measured against.
 */
public final class PeakFlops {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int PIECES = 64; // chunks per thread

    private PeakFlops() {
    }

    /** FLOP/s over about {@code seconds}, on every thread of {@code pool}. */
    public static double measure(Parallel pool, double seconds) {
        return pool.call(() -> measureOnPool(pool.threads(), seconds));
    }

    private static double measureOnPool(int threads, double seconds) {
        long iterations = 2_000_000;
        float[] sink = new float[threads * S.length()];
        run(threads, 200_000, sink); // warm up and compile
        long t0 = System.nanoTime();
        run(threads, iterations, sink);
        double elapsed = (System.nanoTime() - t0) / 1e9;
        iterations = Math.max(iterations, (long) (iterations * seconds / elapsed));
        t0 = System.nanoTime();
        run(threads, iterations, sink);
        elapsed = (System.nanoTime() - t0) / 1e9;
        return threads * (iterations / PIECES * PIECES) * 16.0 * 2 * S.length() / elapsed;
    }

    /**
     * threads × iterations rounds of the chains, cut into many chunks: the pool lets the caller take
     * chunks a worker has not claimed yet, so with one chunk per thread a worker slow to wake would
     * leave the caller doing all of it, and the "peak" would be one core's.
     */
    private static void run(int threads, long iterations, float[] sink) {
        Parallel.forRange(threads * PIECES, Parallel.WHOLE_TASKS, (start, end) -> {
            for (int t = start; t < end; t++) chains(iterations / PIECES, sink, (t % threads) * S.length());
        });
    }

    private static void chains(long iterations, float[] sink, int off) {
        FloatVector m = FloatVector.broadcast(S, 0.999999f), a = FloatVector.broadcast(S, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(S, 1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        FloatVector c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
        for (long i = 0; i < iterations; i++) {
            c0 = c0.fma(m, a); c1 = c1.fma(m, a); c2 = c2.fma(m, a); c3 = c3.fma(m, a);
            c4 = c4.fma(m, a); c5 = c5.fma(m, a); c6 = c6.fma(m, a); c7 = c7.fma(m, a);
            c8 = c8.fma(m, a); c9 = c9.fma(m, a); c10 = c10.fma(m, a); c11 = c11.fma(m, a);
            c12 = c12.fma(m, a); c13 = c13.fma(m, a); c14 = c14.fma(m, a); c15 = c15.fma(m, a);
        }
        c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .add(c12).add(c13).add(c14).add(c15).intoArray(sink, off);
    }
}
