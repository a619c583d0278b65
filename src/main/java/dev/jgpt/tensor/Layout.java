package dev.jgpt.tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The named views of one contiguous buffer, in storage order. Parameters, gradients and the optimizer
 * moments all share one layout, so an update or an all-reduce runs over a single flat array.
 */
public final class Layout {
    private final List<View> views = new ArrayList<>();
    private final Map<String, View> byName = new LinkedHashMap<>();
    private long size;

    /** Appends a view of the given shape at the end of the buffer. */
    public View add(String name, int... shape) {
        if (byName.containsKey(name)) throw new IllegalArgumentException("duplicate view " + name);
        View v = new View(name, shape, size);
        views.add(v);
        byName.put(name, v);
        size += v.size();
        return v;
    }

    public View get(String name) {
        View v = byName.get(name);
        if (v == null) throw new IllegalArgumentException("no tensor named " + name);
        return v;
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    public List<View> views() {
        return Collections.unmodifiableList(views);
    }

    /** Total number of floats. */
    public long size() {
        return size;
    }
}
