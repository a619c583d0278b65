package dev.jgpt.config;

import dev.jgpt.JgptException;

import java.math.BigDecimal;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One YAML section (model, data, train, eval, log) being read into a record: typed getters with
 * defaults, and errors that name the key's full path, the bad value and what is allowed, prefixed
 * by where the value came from (the file, or the --set option that supplied it).
 *
 * <p>A missing key means "use the default". A key given with no value ({@code max_steps:} in a file,
 * {@code --set data.dir=}) is refused unless the key may be null (model.init_from, eval.hellaswag_file,
 * log.name): a value left out by mistake must not quietly become the default.
 */
final class ConfigSection {
    private final String name;
    private final Map<String, Object> values;
    private final ConfigSource source;

    ConfigSection(String name, Map<String, Object> values, ConfigSource source) {
        this.name = name;
        this.values = values;
        this.source = source;
    }

    /** Reads a section from the top-level tree; an absent section is an empty one. */
    static ConfigSection of(Map<String, Object> tree, String name, List<String> knownKeys, ConfigSource source) {
        Object raw = tree.get(name);
        Map<String, Object> values = new LinkedHashMap<>();
        if (raw instanceof Map<?, ?> map) {
            for (Map.Entry<?, ?> e : map.entrySet()) {
                values.put(String.valueOf(e.getKey()), e.getValue());
            }
        } else if (raw != null) {
            throw new JgptException(source.where(name) + name + " must be a mapping of keys (like `"
                    + name + ":` followed by indented `key: value` lines), not " + show(raw));
        }
        ConfigSection section = new ConfigSection(name, values, source);
        for (String key : values.keySet()) {
            if (!knownKeys.contains(key)) {
                throw new JgptException(source.where(section.path(key)) + "unknown key " + section.path(key)
                        + " (keys of " + name + ": " + String.join(", ", knownKeys) + ")");
            }
        }
        return section;
    }

    String path(String key) {
        return name + "." + key;
    }

    boolean has(String key) {
        return values.get(key) != null;
    }

    Object raw(String key) {
        return values.get(key);
    }

    int integer(String key, int fallback) {
        long v = longInteger(key, fallback);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw error(key, "must be at most " + Integer.MAX_VALUE);
        }
        return (int) v;
    }

    long longInteger(String key, long fallback) {
        Object v = value(key, fallback);
        if (v == null) return fallback;
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        // YAML 1.1 reads 1e3 or 2.5e5 as text and 524288.0 as a float; accept them when they are whole.
        if (v instanceof Number || v instanceof String) {
            try {
                return new BigDecimal(v.toString().trim().replace("_", "")).longValueExact();
            } catch (NumberFormatException | ArithmeticException e) {
                // fall through to the error below
            }
        }
        throw error(key, "must be a whole number");
    }

    double number(String key, double fallback) {
        Object v = value(key, fallback);
        if (v == null) return fallback;
        double d;
        if (v instanceof Number n) {
            d = n.doubleValue();
        } else if (v instanceof String s) {
            // YAML 1.1 reads 6e-4 (no dot) as text, so numbers in text form are the usual case.
            try {
                d = Double.parseDouble(s.trim().replace("_", ""));
            } catch (NumberFormatException e) {
                throw error(key, "must be a number");
            }
        } else {
            throw error(key, "must be a number");
        }
        if (!Double.isFinite(d)) throw error(key, "must be a finite number");
        return d;
    }

    /** A scalar as text (so a run named 2024 is accepted); null when absent. */
    String text(String key, String fallback) {
        Object v = value(key, fallback);
        if (v == null) return fallback;
        if (v instanceof Map || v instanceof List) throw error(key, "must be a single value, not a list or mapping");
        return v.toString();
    }

    String choice(String key, String fallback, List<String> allowed) {
        String v = text(key, fallback);
        if (v != null && !allowed.contains(v)) {
            throw error(key, "must be one of " + String.join(", ", allowed));
        }
        return v;
    }

    Path path(String key, Path fallback) {
        if (value(key, fallback) == null) return fallback;
        String v = text(key, null);
        if (v.isBlank()) throw error(key, "must be a path, not empty text");
        try {
            return Path.of(v);
        } catch (InvalidPathException e) {
            throw error(key, "is not a valid path (" + e.getReason() + ")");
        }
    }

    /**
     * The key's value; null when it is absent, or given empty where the key may be null ({@code
     * fallback} null). Given empty where it has a default, it is refused naming the key.
     */
    private Object value(String key, Object fallback) {
        Object v = values.get(key);
        if (v == null && fallback != null) requireValue(key, fallback);
        return v;
    }

    /** Refuses a key that is given with no value; {@code fallback}, when known, is said as the default. */
    void requireValue(String key, Object fallback) {
        if (values.get(key) != null || !values.containsKey(key)) return;
        String path = path(key);
        String override = source.override(path);
        String dflt = fallback == null ? "" : " (" + show(fallback) + ")";
        if (override != null) {
            throw new JgptException("--set " + override + ": " + path + " needs a value; leave the --set out for the default" + dflt);
        }
        throw new JgptException(source.where(path) + path + " has no value; give one, or remove the key for the default" + dflt);
    }

    /** Fails with "must be {rule}" when the check is false, naming this key and its value. */
    void check(boolean ok, String key, Object value, String rule) {
        if (!ok) throw error(key, value, "must be " + rule);
    }

    JgptException error(String key, String problem) {
        return error(key, values.get(key), problem);
    }

    JgptException error(String key, Object value, String problem) {
        String path = path(key);
        String override = source.override(path);
        if (override != null) return new JgptException("--set " + override + ": " + problem);
        return new JgptException(source.where(path) + path + " = " + show(value) + ": " + problem);
    }

    static String show(Object value) {
        if (value == null) return "null";
        if (value instanceof String s) return s.isEmpty() ? "\"\"" : s;
        if (value instanceof Double d && Double.isFinite(d)) return BigDecimal.valueOf(d).stripTrailingZeros().toString();
        if (value instanceof Map || value instanceof List) return "a " + (value instanceof Map ? "mapping" : "list");
        return value.toString();
    }
}
