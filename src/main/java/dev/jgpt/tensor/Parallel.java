package dev.jgpt.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * One fixed pool of worker threads, sized to the cores, that every kernel shares. A call cuts
 * {@code [0, n)} into chunks; the caller and the workers claim chunks until none are left, and the
 * call returns when every chunk is done. The caller never waits for a worker to wake up: on a busy
 * machine a descheduled worker simply claims nothing, and the caller does the work itself. Workers
 * spin briefly before parking, because kernels follow each other closely. A call made from inside a
 * running body (or while another call is running) runs inline.
 */
public final class Parallel {

    /** The work of one call: handle indices {@code [start, end)}. */
    @FunctionalInterface
    public interface Range {
        void run(int start, int end);
    }

    /** One call's chunks. Immutable but for the two counters, so a late worker can never mix up calls. */
    private record Job(Range body, int size, int chunk, int chunks, AtomicInteger next, AtomicInteger done) {
        /** Claims and runs chunks until none are left. */
        Throwable work() {
            try {
                for (int c; (c = next.getAndIncrement()) < chunks; done.incrementAndGet()) {
                    int start = c * chunk;
                    body.run(start, Math.min(size, start + chunk));
                }
                return null;
            } catch (Throwable t) {
                next.set(chunks);
                done.addAndGet(chunks); // release the caller now: the call fails anyway
                return t;
            }
        }
    }

    private static final int SPIN_BEFORE_PARK = 50_000;

    private static volatile int threads = Runtime.getRuntime().availableProcessors();
    private static Thread[] workers = new Thread[0];
    private static volatile Job current;
    private static volatile Throwable workerFailure;
    private static final AtomicInteger busy = new AtomicInteger();

    private Parallel() {
    }

    /** Number of threads kernels use (the caller included). */
    public static int threads() {
        return threads;
    }

    /**
     * The thread count a user's setting ({@code option} = {@code requested}) gets: 0 means every core,
     * and more than the cores is cut to the cores with one warning line through {@code warn}. Extra
     * threads only take turns on the cores, and every kernel call waits for its slowest chunk, so 32
     * threads on 2 cores run 4x slower than 2 and thousands never finish a step.
     */
    public static int threadsFor(int requested, String option, java.util.function.Consumer<String> warn) {
        int cores = Runtime.getRuntime().availableProcessors();
        if (requested > cores) {
            warn.accept("warning: " + option + " = " + requested + " is more than the " + cores + " cores; using " + cores);
            return cores;
        }
        return requested == 0 ? cores : requested;
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
            int chunk = Math.max(grain, (n + t * 4 - 1) / (t * 4));
            int chunks = (n + chunk - 1) / chunk;
            Job job = new Job(range, n, chunk, chunks, new AtomicInteger(), new AtomicInteger());
            current = job;
            for (int i = 0; i < t - 1; i++) LockSupport.unpark(workers[i]);
            Throwable failure = job.work();
            for (int spins = 0; job.done.get() < chunks; spins++) {
                if (spins < SPIN_BEFORE_PARK) Thread.onSpinWait(); else Thread.yield();
            }
            if (failure == null) failure = workerFailure;
            workerFailure = null;
            if (failure instanceof RuntimeException re) throw re;
            if (failure instanceof Error e) throw e;
        } finally {
            busy.set(0);
        }
    }

    private static synchronized void ensureWorkers(int count) {
        if (workers.length >= count) return;
        Thread[] grown = java.util.Arrays.copyOf(workers, count);
        for (int i = workers.length; i < count; i++) {
            Thread w = new Thread(Parallel::workerLoop, "jgpt-worker-" + i);
            w.setDaemon(true);
            grown[i] = w;
        }
        Thread[] old = workers;
        workers = grown;
        for (int i = old.length; i < count; i++) grown[i].start();
    }

    private static void workerLoop() {
        Job seen = null;
        while (true) {
            Job job;
            int spins = 0;
            while ((job = current) == seen) {
                if (++spins < SPIN_BEFORE_PARK) Thread.onSpinWait(); else LockSupport.park();
            }
            seen = job;
            Throwable t = job.work();
            if (t != null) workerFailure = t;
        }
    }
}
