package dev.jgpt.config;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One key of a config section, declared once: its YAML name, how its value is read, its default,
 * the rule it must meet and how it is written back. A section's table of keys ({@link Section})
 * derives the list of keys, the parsing, the defaults and the YAML from these.
 *
 * @param name     the YAML name, the record component's name in snake_case
 * @param reader   reads the value, or the fallback when the key is absent or null
 * @param fallback the default
 * @param ok       the rule a value (not null) must meet...
 * @param rule     ...as the error says it: "must be {rule}"
 * @param yaml     the value as YAML writes it
 * @param text     whether a --set value is taken verbatim (a prompt like "No" stays text)
 */
record Key<T>(String name, Reader<T> reader, T fallback, Predicate<T> ok, String rule, Function<T, Object> yaml,
              boolean text) {

    interface Reader<T> {
        T read(ConfigSection section, String key, T fallback);
    }

    static Key<Integer> integer(String name, int fallback) {
        return new Key<>(name, (s, k, f) -> s.integer(k, f), fallback, v -> true, null, v -> v, false);
    }

    static Key<Long> longInteger(String name, long fallback) {
        return new Key<>(name, (s, k, f) -> s.longInteger(k, f), fallback, v -> true, null, v -> v, false);
    }

    static Key<Double> number(String name, double fallback) {
        return new Key<>(name, (s, k, f) -> s.number(k, f), fallback, v -> true, null, v -> v, false);
    }

    static Key<String> text(String name, String fallback) {
        return new Key<>(name, ConfigSection::text, fallback, v -> true, null, v -> v, true);
    }

    static Key<Path> path(String name, Path fallback) {
        return new Key<>(name, ConfigSection::path, fallback, v -> true, null, v -> v == null ? null : v.toString(), true);
    }

    /** One of an enum's constants, spelled in lower case in YAML. */
    static <E extends Enum<E>> Key<E> choice(String name, E fallback) {
        Class<E> type = fallback.getDeclaringClass();
        List<String> allowed = Arrays.stream(type.getEnumConstants()).map(Key::yamlName).toList();
        return new Key<>(name, (s, k, f) -> Enum.valueOf(type, s.choice(k, yamlName(f), allowed).toUpperCase(Locale.ROOT)),
                fallback, v -> true, null, Key::yamlName, true);
    }

    static String yamlName(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    /** This key with a rule: a value that fails {@code ok} is refused with "must be {rule}". */
    Key<T> check(Predicate<T> ok, String rule) {
        return new Key<>(name, reader, fallback, ok, rule, yaml, text);
    }

    /** The value in {@code section}, checked against the rule. */
    T read(ConfigSection section) {
        T v = reader.read(section, name, fallback);
        if (v != null) section.check(ok.test(v), name, v, rule);
        return v;
    }

    @SuppressWarnings("unchecked")
    Object toYaml(Object value) {
        return yaml.apply((T) value);
    }
}
