package dev.jgpt.track;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a run's metrics.jsonl: one JSON object per line, each with a {@code type} ("train",
 * "val", "hellaswag", "sample", or another a caller chose) and a {@code step}, plus that type's
 * fields. {@link RunDirectory} writes it.
 */
public final class Metrics {

    /** One line of metrics.jsonl; numbers are doubles, text is String. */
    public record Entry(String type, int step, Map<String, Object> fields) {

        public double number(String field) {
            Object v = fields.get(field);
            if (v instanceof Double d) return d;
            // A diverged run writes NaN or Infinity, which JSON readers hand back as bare words.
            if (v instanceof String s && (s.equals("NaN") || s.equals("Infinity") || s.equals("-Infinity"))) {
                return Double.parseDouble(s);
            }
            throw new IllegalArgumentException(type + " metric at step " + step + " has no number " + field);
        }

        public String text(String field) {
            if (fields.get(field) instanceof String s) return s;
            throw new IllegalArgumentException(type + " metric at step " + step + " has no text " + field);
        }

        /** Whether {@code field} holds a number (NaN and the infinities included). */
        public boolean hasNumber(String field) {
            return isNumber(fields.get(field));
        }

        /** When the line was written; null for lines from before timestamps or with a bad one. */
        public Instant time() {
            if (!(fields.get("time") instanceof String s)) return null;
            Instant own = ownTime(s);
            if (own != null) return own;
            try {
                return Instant.parse(s);
            } catch (DateTimeParseException e) {
                return null;
            }
        }
    }

    /**
     * A time as jgpt writes it, 2025-01-31T14:25:01.203Z or 2025-01-31T14:25:01Z, read directly: a run's
     * 20,000 lines each have one, and Instant.parse took a third of the time of reading them. Null for
     * any other form, which Instant.parse reads.
     */
    static Instant ownTime(String s) {
        int n = s.length();
        if ((n != 20 && n != 24) || s.charAt(n - 1) != 'Z' || (n == 24 && s.charAt(19) != '.')) return null;
        for (int i = 0; i < n - 1; i++) {
            char c = s.charAt(i);
            boolean ok = switch (i) {
                case 4, 7 -> c == '-';
                case 10 -> c == 'T';
                case 13, 16 -> c == ':';
                case 19 -> c == '.';
                default -> c >= '0' && c <= '9';
            };
            if (!ok) return null;
        }
        try {
            return LocalDateTime.of(digits(s, 0, 4), digits(s, 5, 7), digits(s, 8, 10), digits(s, 11, 13), digits(s, 14, 16),
                    digits(s, 17, 19), n == 24 ? digits(s, 20, 23) * 1_000_000 : 0).toInstant(ZoneOffset.UTC);
        } catch (DateTimeException e) {
            return null; // a month 13, a February 30th: Instant.parse says no as well
        }
    }

    private static int digits(String s, int from, int to) {
        int v = 0;
        for (int i = from; i < to; i++) v = v * 10 + (s.charAt(i) - '0');
        return v;
    }

    /** The fields of the types jgpt writes that must be numbers (or text), for reading them leniently. */
    private static final Map<String, List<String>> NUMBER_FIELDS = Map.of(
            "train", List.of("loss", "lr", "norm", "dt_ms", "tok_per_sec"),
            "val", List.of("loss"),
            "hellaswag", List.of("total", "correct", "correct_norm", "acc", "acc_norm"),
            "sample", List.of("index"));
    private static final Map<String, List<String>> TEXT_FIELDS = Map.of(
            "sample", List.of("text"),
            "checkpoint", List.of("path"));

    /**
     * The entries of text read from {@code file} for showing, never failing: a line that is not a
     * metrics object, or a field of the wrong type, is left out and said once in {@code problems}
     * (with the file and line); everything else is kept. {@code firstLine} is the number of lines
     * before this text in the file, for the messages. Returns whether the last line was cut off (a
     * writer caught mid-line: normal while the run is writing, a kill's trace when it is not).
     */
    public static boolean parseLenient(String content, Path file, int firstLine, List<Entry> into, Problems problems) {
        String[] lines = content.split("\n", -1);
        boolean cutOff = false;
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (line.isBlank()) continue;
            Entry e;
            try {
                e = parse(line);
            } catch (RuntimeException bad) {
                if (i == lines.length - 1) {
                    cutOff = true;
                } else {
                    problems.add("bad line " + file, file + ":" + (firstLine + i + 1) + ": not a metrics line (" + bad.getMessage() + "); skipped");
                }
                continue;
            }
            Map<String, Object> fields = null;
            for (String f : NUMBER_FIELDS.getOrDefault(e.type(), List.of())) {
                Object v = e.fields().get(f);
                if (v != null && !isNumber(v)) fields = drop(fields, e, f, file, firstLine + i, v, "a number", problems);
            }
            for (String f : TEXT_FIELDS.getOrDefault(e.type(), List.of())) {
                Object v = e.fields().get(f);
                if (v != null && !(v instanceof String)) fields = drop(fields, e, f, file, firstLine + i, v, "text", problems);
            }
            if (e.fields().get("time") != null && e.time() == null) {
                fields = drop(fields, e, "time", file, firstLine + i, e.fields().get("time"), "an ISO-8601 time", problems);
            }
            into.add(fields == null ? e : new Entry(e.type(), e.step(), Collections.unmodifiableMap(fields)));
        }
        return cutOff;
    }

    private static Map<String, Object> drop(Map<String, Object> fields, Entry e, String field, Path file, int line,
                                            Object value, String what, Problems problems) {
        problems.add("bad field " + file + " " + e.type() + "." + field, file + ":" + (line + 1) + ": " + e.type() + " field \""
                + field + "\" is " + value + ", not " + what + "; left out");
        Map<String, Object> copy = fields == null ? new LinkedHashMap<>(e.fields()) : fields;
        copy.remove(field);
        return copy;
    }

    private static boolean isNumber(Object v) {
        return v instanceof Double || (v instanceof String s && (s.equals("NaN") || s.equals("Infinity") || s.equals("-Infinity")));
    }

    private Metrics() {
    }

    /**
     * Every entry in file order. A last line cut short (the process died mid-write) is skipped;
     * any other line that is not a metrics object is an error naming the file and line.
     */
    public static List<Entry> read(Path file) {
        String content;
        try {
            content = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new JgptException(file + ": cannot read metrics (" + e.getMessage() + ")", e);
        }
        List<Entry> entries = new ArrayList<>();
        String[] lines = content.split("\n", -1);
        // split leaves "" after a final newline; anything else in the last slot was cut short.
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            boolean unterminated = i == lines.length - 1;
            if (line.isBlank()) continue;
            try {
                entries.add(parse(line));
            } catch (RuntimeException e) {
                if (unterminated) break;
                throw new JgptException(file + ":" + (i + 1) + ": not a metrics line (" + e.getMessage() + ")", e);
            }
        }
        return entries;
    }

    /** The highest step recorded, or -1 when there is none. */
    public static int lastStep(List<Entry> entries) {
        return entries.stream().mapToInt(Entry::step).max().orElse(-1);
    }

    static Entry parse(String line) {
        JsonElement root;
        try {
            root = JsonParser.parseString(line); // lenient: reads the NaN a diverged loss is written as
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("invalid JSON", e);
        }
        if (!root.isJsonObject()) throw new IllegalArgumentException("not a JSON object");
        JsonObject o = root.getAsJsonObject();
        if (!(o.get("type") instanceof JsonPrimitive t) || !t.isString()) {
            throw new IllegalArgumentException("no \"type\"");
        }
        if (!(o.get("step") instanceof JsonPrimitive s) || !s.isNumber()) {
            throw new IllegalArgumentException("no \"step\"");
        }
        Map<String, Object> fields = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> f : o.entrySet()) {
            if (f.getKey().equals("type") || f.getKey().equals("step")) continue;
            if (f.getValue() instanceof JsonPrimitive p) {
                fields.put(f.getKey(), p.isNumber() ? (Object) p.getAsDouble()
                        : p.isBoolean() ? (Object) p.getAsBoolean() : p.getAsString());
            } else {
                fields.put(f.getKey(), f.getValue().toString());
            }
        }
        return new Entry(t.getAsString(), s.getAsInt(), Collections.unmodifiableMap(fields));
    }
}
