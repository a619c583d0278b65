package dev.jgpt.tensor;

import org.junit.jupiter.api.Test;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ParallelTest {
    private final Parallel pool = new Parallel(3); // more threads than the chunks of the smallest calls

    @Test
    void everyIndexRunsExactlyOnce() {
        for (int n : new int[]{1, 7, 64, 1000, 12345}) {
            AtomicIntegerArray hits = new AtomicIntegerArray(n);
            pool.run(() -> {
                for (int rep = 0; rep < 50; rep++) {
                    Parallel.forRange(n, 1, (s, e) -> {
                        for (int i = s; i < e; i++) hits.incrementAndGet(i);
                    });
                }
            });
            for (int i = 0; i < n; i++) assertEquals(50, hits.get(i), "index " + i + " of " + n);
        }
    }

    @Test
    void aFailureReachesTheCallerAndThePoolStillWorks() {
        // many times: the failing chunk falls now to the caller, now to a worker, whose failure must
        // reach the caller before the caller is released
        for (int rep = 0; rep < 3000; rep++) {
            assertThrows(IllegalStateException.class, () -> pool.run(() -> Parallel.forRange(100, 1, (s, e) -> {
                if (s <= 50 && 50 < e) throw new IllegalStateException("boom");
            })), "repetition " + rep);
        }
        int[] sum = new int[1];
        pool.run(() -> Parallel.forRange(10, 100, (s, e) -> sum[0] += e - s)); // below the grain: inline
        assertEquals(10, sum[0]);
        AtomicIntegerArray hits = new AtomicIntegerArray(100);
        pool.run(() -> Parallel.forRange(100, 1, (s, e) -> {
            for (int i = s; i < e; i++) hits.incrementAndGet(i);
        }));
        for (int i = 0; i < 100; i++) assertEquals(1, hits.get(i));
    }

    @Test
    void twoPoolsWorkAtOnceEachWithItsOwnThreadsAndOutsideAnyPoolTheCallerWorksAlone() throws Exception {
        // two engines running at the same time: neither runs on its caller alone for want of the other's pool
        Parallel other = new Parallel(2);
        Set<String> first = ConcurrentHashMap.newKeySet(), second = ConcurrentHashMap.newKeySet();
        CountDownLatch bothRunning = new CountDownLatch(2);
        Thread a = new Thread(() -> pool.run(() -> Parallel.forRange(64, 1, (s, e) -> holdFirstChunk(s, first, bothRunning))));
        Thread b = new Thread(() -> other.run(() -> Parallel.forRange(64, 1, (s, e) -> holdFirstChunk(s, second, bothRunning))));
        a.start();
        b.start();
        a.join();
        b.join();
        assertTrue(first.size() > 1 && second.size() > 1, "threads that ran chunks: " + first + " and " + second);
        Set<String> alone = ConcurrentHashMap.newKeySet();
        Parallel.forRange(64, 1, (s, e) -> alone.add(Thread.currentThread().getName()));
        assertEquals(Set.of(Thread.currentThread().getName()), alone);
    }

    /** Notes the thread; the thread of chunk 0 waits until both calls are running and another thread of its pool has run a chunk. */
    private static void holdFirstChunk(int start, Set<String> threads, CountDownLatch bothRunning) {
        threads.add(Thread.currentThread().getName());
        if (start != 0) return;
        long deadline = System.nanoTime() + 10_000_000_000L;
        try {
            bothRunning.countDown();
            bothRunning.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
        while (threads.size() < 2 && System.nanoTime() < deadline) Thread.onSpinWait();
    }

    @Test
    void aUserSettingAboveTheCoresIsCutToThemWithOneWarning() {
        int cores = Runtime.getRuntime().availableProcessors();
        java.util.List<String> warnings = new java.util.ArrayList<>();
        assertEquals(cores, Parallel.threadsFor(5000, "train.threads", warnings::add));
        assertEquals(java.util.List.of("warning: train.threads = 5000 is more than the " + cores + " cores; using " + cores), warnings);
        assertEquals(cores, Parallel.threadsFor(0, "train.threads", warnings::add));
        assertEquals(1, Parallel.threadsFor(1, "train.threads", warnings::add));
        assertEquals(cores, Parallel.threadsFor(cores, "train.threads", warnings::add));
        assertEquals(1, warnings.size());
    }
}
