package dev.jgpt.track;

import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The times of metrics lines: jgpt's own form read directly, any other ISO-8601 instant as Instant.parse reads it. */
class MetricsTest {
    private static Instant time(String s) {
        return new Metrics.Entry("train", 0, Map.of("time", s)).time();
    }

    @Test
    void jgptsOwnTimesAreReadDirectlyAndOthersAsInstantParseReadsThem() {
        for (String own : List.of("2026-11-26T12:36:58.814Z", "2026-11-26T12:36:58Z", "2024-02-29T23:59:59.999Z", "1999-01-01T00:00:00.000Z")) {
            assertNotNull(Metrics.ownTime(own), own);
            assertEquals(Instant.parse(own), time(own), own);
        }
        // other forms Instant.parse reads: fractions of other lengths, an offset
        for (String other : List.of("2026-11-26T12:36:58.8Z", "2026-11-26T12:36:58.123456789Z", "2026-11-26T13:36:58+01:00")) {
            assertNull(Metrics.ownTime(other), other);
            assertEquals(Instant.parse(other), time(other), other);
        }
        // not times at all, or impossible ones
        for (String bad : List.of("yesterday", "2026-13-26T12:36:58Z", "2025-02-29T12:36:58Z", "2026-11-26T12:36:5xZ", "2026-11-26 12:36:58Z", "")) {
            assertNull(time(bad), bad);
        }
    }
}
