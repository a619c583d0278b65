package dev.jgpt.track;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What was wrong in a run's files, each kind of problem said once: a listing, a plot and the
 * dashboard skip what they cannot read, show everything else, and say what they skipped without
 * repeating one message for every bad line.
 */
public final class Problems {
    private record Kind(String first, int count) {
    }

    private final Map<String, Kind> kinds = new LinkedHashMap<>();

    /** Records a problem of {@code kind}; only the first message of a kind is kept, the rest counted. */
    public void add(String kind, String message) {
        kinds.merge(kind, new Kind(message, 1), (old, x) -> new Kind(old.first, old.count + 1));
    }

    public void addAll(Problems other) {
        other.kinds.forEach((k, v) -> kinds.merge(k, v, (old, x) -> new Kind(old.first, old.count + x.count)));
    }

    public boolean isEmpty() {
        return kinds.isEmpty();
    }

    /** One line per kind: the first message, and how many more of its kind were skipped. */
    public List<String> lines() {
        List<String> lines = new ArrayList<>();
        for (Kind k : kinds.values()) {
            lines.add(k.count == 1 ? k.first : k.first + " (and " + (k.count - 1) + " more like it)");
        }
        return lines;
    }
}
