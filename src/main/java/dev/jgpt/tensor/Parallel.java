package dev.jgpt.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed pool of worker threads that the kernels of one engine share. Its owner (a command, a
 * trainer) creates it with a thread count and hands it to the engine; the engine runs its work inside
 * {@link #run} or {@link #call}, and every kernel called there splits its loop over this pool through
 * {@link #forRange}. Two engines with two pools run side by side without taking each other's threads;
 * a kernel called outside any pool runs on its caller alone.
 *
 * <p>A call cuts {@code [0, n)} into chunks; the caller and the workers claim chunks until none are
 * left, and the call returns when every chunk is done. The caller never waits for a worker to wake
 * up: on a busy machine a descheduled worker simply claims nothing, and the caller does the work
 * itself. Workers spin briefly before parking, because kernels follow each other closely. A call made
 * from inside a running body (or while another call on the same pool is running) runs inline.
 */
public final class Parallel {

    /** The work of one call: handle indices {@code [start, end)}. */
    @FunctionalInterface
    public interface Range {
        void run(int start, int end);
    }

    /** One call's chunks. Immutable but for the two counters, so a late worker can never mix up calls. */
    private record Job(Range body, int size, int chunk, int chunks, AtomicInteger next, AtomicInteger done,
                       AtomicReference<Throwable> failure) {
        /** Claims and runs chunks until none are left; a chunk that fails ends the call, its failure kept for the caller. */
        void work() {
            try {
                for (int c; (c = next.getAndIncrement()) < chunks; done.incrementAndGet()) {
                    int start = c * chunk;
                    body.run(start, Math.min(size, start + chunk));
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t); // before the caller is released, so it cannot miss it
                next.set(chunks);
                done.addAndGet(chunks); // release the caller now: the call fails anyway
            }
        }
    }

    /**
     * The grain of a loop whose every index is already a task worth a thread (a matmul tile, an
     * attention head, a column slab, a weight panel): any split of it pays. Loops over rows or
     * elements name their own grain: the least work worth handing to another thread.
     */
    public static final int WHOLE_TASKS = 1;

    private static final int SPIN_BEFORE_PARK = 50_000;

    /** The pool of the engine running on this thread: a parameter every kernel gets without being passed it. */
    private static final ScopedValue<Parallel> CURRENT = ScopedValue.newInstance();
    private static final Parallel CALLER_ONLY = new Parallel(1);

    private final int threads;
    private Thread[] workers = new Thread[0];
    private volatile Job current;
    private final AtomicInteger busy = new AtomicInteger();

    /** A pool of {@code threads} threads, the caller included (1 = run everything on the caller). Workers start on first use. */
    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
    }

    /** A pool with a thread for every core. */
    public static Parallel allCores() {
        return new Parallel(Runtime.getRuntime().availableProcessors());
    }

    /** Number of threads kernels use (the caller included). */
    public int threads() {
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

    /** Runs {@code work} with every kernel it calls on this pool. */
    public void run(Runnable work) {
        ScopedValue.where(CURRENT, this).run(work);
    }

    /** {@link #run} for work that returns a value. */
    public <T, X extends Throwable> T call(ScopedValue.CallableOp<T, X> work) throws X {
        return ScopedValue.where(CURRENT, this).call(work);
    }

    /**
     * Runs body over [0, n) on the pool of the work this thread is running ({@link #run}), split into
     * about {@code threads * 4} chunks of at least {@code grain}; outside any pool, on the caller.
     */
    public static void forRange(int n, int grain, Range range) {
        if (n <= 0) return;
        // get() answers from a per-thread cache; orElse() searches the bindings on every call, which
        // cost a one-thread fp32 decode step 5% (a hundred kernel calls a token)
        Parallel pool = CURRENT.isBound() ? CURRENT.get() : CALLER_ONLY;
        if (pool.threads == 1 || n <= grain || !pool.busy.compareAndSet(0, 1)) {
            range.run(0, n);
            return;
        }
        pool.split(n, grain, range);
    }

    /** Runs body's chunks on the caller and the workers; the caller holds {@link #busy}. */
    private void split(int n, int grain, Range range) {
        int t = threads;
        try {
            ensureWorkers(t - 1);
            int chunk = Math.max(grain, (n + t * 4 - 1) / (t * 4));
            int chunks = (n + chunk - 1) / chunk;
            Job job = new Job(range, n, chunk, chunks, new AtomicInteger(), new AtomicInteger(), new AtomicReference<>());
            current = job;
            for (int i = 0; i < t - 1; i++) LockSupport.unpark(workers[i]);
            job.work();
            for (int spins = 0; job.done.get() < chunks; spins++) {
                if (spins < SPIN_BEFORE_PARK) Thread.onSpinWait(); else Thread.yield();
            }
            Throwable failure = job.failure.get();
            if (failure instanceof RuntimeException re) throw re;
            if (failure instanceof Error e) throw e;
        } finally {
            busy.set(0);
        }
    }

    private synchronized void ensureWorkers(int count) {
        if (workers.length >= count) return;
        Thread[] grown = java.util.Arrays.copyOf(workers, count);
        for (int i = workers.length; i < count; i++) {
            Thread w = new Thread(this::workerLoop, "jgpt-worker-" + i);
            w.setDaemon(true);
            grown[i] = w;
        }
        Thread[] old = workers;
        workers = grown;
        for (int i = old.length; i < count; i++) grown[i].start();
    }

    private void workerLoop() {
        Job seen = null;
        while (true) {
            Job job;
            int spins = 0;
            while ((job = current) == seen) {
                if (++spins < SPIN_BEFORE_PARK) Thread.onSpinWait(); else LockSupport.park();
            }
            seen = job;
            job.work();
        }
    }
}
