package dev.jgpt.config;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A config section's table of keys, one per component of its record and in the same order (named
 * in snake_case: {@code valEvery} is {@code val_every}). The list of keys, reading and checking a
 * YAML section, the defaults and the YAML written back all come from this one table.
 */
final class Section<R extends Record> {
    final String name;
    private final List<Key<?>> keys;
    private final RecordComponent[] components;
    private final Constructor<R> constructor;
    private final List<String> accepted;

    Section(String name, Class<R> type, List<Key<?>> keys) {
        this.name = name;
        this.keys = keys;
        components = type.getRecordComponents();
        if (components.length != keys.size()) throw new IllegalStateException(type + ": one key per component");
        Class<?>[] types = new Class<?>[components.length];
        for (int i = 0; i < components.length; i++) {
            String snake = components[i].getName().replaceAll("([A-Z])", "_$1").toLowerCase(java.util.Locale.ROOT);
            if (!snake.equals(keys.get(i).name())) {
                throw new IllegalStateException(type + ": key " + keys.get(i).name() + " for component " + components[i].getName());
            }
            types[i] = components[i].getType();
        }
        try {
            constructor = type.getDeclaredConstructor(types);
        } catch (NoSuchMethodException e) {
            throw new IllegalStateException(e);
        }
        accepted = new ArrayList<>(keys.stream().map(Key::name).toList());
    }

    /**
     * Also accepts {@code key}, listed before {@code before}: a key the section's own code reads
     * into a component (train.min_lr, an absolute minimum, into min_lr_ratio).
     */
    Section<R> alsoReading(String key, String before) {
        accepted.add(accepted.indexOf(before), key);
        return this;
    }

    /** Every key the section accepts, in the order errors list them. */
    List<String> names() {
        return List.copyOf(accepted);
    }

    /** The keys whose --set values are text, as section.key. */
    List<String> textKeys() {
        return keys.stream().filter(Key::text).map(k -> name + "." + k.name()).toList();
    }

    /** The section in the tree, its keys checked against the table (an unknown key is an error). */
    ConfigSection open(Map<String, Object> tree, ConfigSource source) {
        return ConfigSection.of(tree, name, names(), source);
    }

    /** Every table key's value, each checked against its own rule. */
    R read(ConfigSection section) {
        Object[] values = new Object[keys.size()];
        for (int i = 0; i < values.length; i++) values[i] = keys.get(i).read(section);
        return make(values);
    }

    R defaults() {
        return make(keys.stream().map(Key::fallback).toArray());
    }

    /** {@code r} with one component replaced. */
    R with(R r, String key, Object value) {
        Object[] values = values(r);
        for (int i = 0; i < keys.size(); i++) {
            if (keys.get(i).name().equals(key)) values[i] = value;
        }
        return make(values);
    }

    Map<String, Object> toMap(R r) {
        Object[] values = values(r);
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < values.length; i++) m.put(keys.get(i).name(), keys.get(i).toYaml(values[i]));
        return m;
    }

    private Object[] values(R r) {
        Object[] values = new Object[components.length];
        try {
            for (int i = 0; i < values.length; i++) values[i] = components[i].getAccessor().invoke(r);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException(e);
        }
        return values;
    }

    private R make(Object[] values) {
        try {
            return constructor.newInstance(values);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        } catch (InstantiationException | IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }
}
