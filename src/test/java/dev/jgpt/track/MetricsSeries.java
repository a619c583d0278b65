package dev.jgpt.track;

import java.util.List;

/** What tests read back from metrics.jsonl: one field of one type of entry, or its steps, in file order. */
public final class MetricsSeries {
    private MetricsSeries() {
    }

    /** The values of one field over the entries of one type (train losses, say). */
    public static double[] series(List<Metrics.Entry> entries, String type, String field) {
        return entries.stream().filter(e -> e.type().equals(type)).mapToDouble(e -> e.number(field)).toArray();
    }

    /** The steps of the entries of one type. */
    public static int[] steps(List<Metrics.Entry> entries, String type) {
        return entries.stream().filter(e -> e.type().equals(type)).mapToInt(Metrics.Entry::step).toArray();
    }
}
