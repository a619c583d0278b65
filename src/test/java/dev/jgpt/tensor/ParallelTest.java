package dev.jgpt.tensor;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ParallelTest {
    @Test
    void everyIndexRunsExactlyOnce() {
        for (int n : new int[]{1, 7, 64, 1000, 12345}) {
            AtomicIntegerArray hits = new AtomicIntegerArray(n);
            for (int rep = 0; rep < 50; rep++) {
                Parallel.forRange(n, 1, (s, e) -> {
                    for (int i = s; i < e; i++) hits.incrementAndGet(i);
                });
            }
            for (int i = 0; i < n; i++) assertEquals(50, hits.get(i), "index " + i + " of " + n);
        }
    }

    @Test
    void aFailureReachesTheCallerAndThePoolStillWorks() {
        assertThrows(IllegalStateException.class, () -> Parallel.forRange(100, 1, (s, e) -> {
            if (s <= 50 && 50 < e) throw new IllegalStateException("boom");
        }));
        int[] sum = new int[1];
        Parallel.forRange(10, 100, (s, e) -> sum[0] += e - s); // below the grain: inline
        assertEquals(10, sum[0]);
        AtomicIntegerArray hits = new AtomicIntegerArray(100);
        Parallel.forRange(100, 1, (s, e) -> {
            for (int i = s; i < e; i++) hits.incrementAndGet(i);
        });
        for (int i = 0; i < 100; i++) assertEquals(1, hits.get(i));
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
