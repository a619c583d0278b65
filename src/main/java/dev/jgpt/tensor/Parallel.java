package dev.jgpt.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * One fixed pool of worker threads, sized to the cores, that every kernel shares. A call splits
 * {@code [0, n)} into chunks that the caller and the workers take in turn; no thread is created per
 * call, and the workers spin briefly before parking because kernels follow each other closely.
 * A call made from inside a running body (or while another call is running) runs inline.
 */
public final class Parallel {

    /** The work of one call: handle indices {@code [start, end)}. */
    @FunctionalInterface
    public interface Range {
        void run(int start, int end);
    }

    private static final int SPIN_BEFORE_PARK = 20_000;

    private static volatile int threads = Runtime.getRuntime().availableProcessors();
    private static Thread[] workers = new Thread[0];

    // The current job. Published by writing `generation` last (volatile), read after reading it.
    private static Range body;
    private static int size;
    private static int chunk;
    private static final AtomicInteger nextChunk = new AtomicInteger();
    private static final AtomicInteger running = new AtomicInteger();
    private static volatile long generation;
    private static final AtomicInteger busy = new AtomicInteger();

    private Parallel() {
    }

    /** Number of threads kernels use (the caller included). */
    public static int threads() {
        return threads;
    }

    /** Sets the number of threads (1 = run everything on the caller). */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        threads = n;
    }

    /** Runs body over [0, n) split into about {@code threads * 4} chunks of at least {@code grain}. */
    public static void forRange(int n, int grain, Range range) {
        if (n <= 0) return;
        int t = threads;
        if (t == 1 || n <= grain || !busy.compareAndSet(0, 1)) {
            range.run(0, n);
            return;
        }
        try {
            ensureWorkers(t - 1);
            int c = Math.max(grain, (n + t * 4 - 1) / (t * 4));
            body = range;
            size = n;
            chunk = c;
            nextChunk.set(0);
            running.set(t - 1);
            generation = generation + 1; // publish
            for (int i = 0; i < t - 1; i++) LockSupport.unpark(workers[i]);
            Throwable failure = work();
            long spins = 0;
            while (running.get() != 0) {
                if (++spins > SPIN_BEFORE_PARK) Thread.yield(); else Thread.onSpinWait();
            }
            body = null;
            if (failure == null) failure = workerFailure;
            workerFailure = null;
            if (failure instanceof RuntimeException re) throw re;
            if (failure instanceof Error e) throw e;
        } finally {
            busy.set(0);
        }
    }

    /** Convenience: one index per chunk-unit, grain 1. */
    public static void forEach(int n, Range range) {
        forRange(n, 1, range);
    }

    private static volatile Throwable workerFailure;

    private static Throwable work() {
        Range r = body;
        int n = size, c = chunk;
        try {
            while (true) {
                int start = nextChunk.getAndAdd(c);
                if (start >= n) return null;
                r.run(start, Math.min(n, start + c));
            }
        } catch (Throwable t) {
            nextChunk.set(n); // stop the others early
            return t;
        }
    }

    private static synchronized void ensureWorkers(int count) {
        if (workers.length >= count) return;
        Thread[] grown = java.util.Arrays.copyOf(workers, count);
        long current = generation; // a new worker waits for the job after this one
        for (int i = workers.length; i < count; i++) {
            int index = i;
            Thread w = new Thread(() -> workerLoop(index, current), "jgpt-worker-" + i);
            w.setDaemon(true);
            grown[i] = w;
        }
        Thread[] old = workers;
        workers = grown;
        for (int i = old.length; i < count; i++) grown[i].start();
    }

    private static void workerLoop(int index, long seen) {
        while (true) {
            int spins = 0;
            while (generation == seen) {
                if (++spins < SPIN_BEFORE_PARK) Thread.onSpinWait(); else LockSupport.park();
            }
            seen = generation;
            if (index >= threads - 1) continue; // pool shrank: this worker sits this job out
            Throwable t = work();
            if (t != null) workerFailure = t;
            running.decrementAndGet();
        }
    }
}
