package dev.jgpt.track;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A config as plain data, for showing and comparing runs without validating them: a run written
 * by another jgpt version, or by hand, still shows its keys. Keys are flattened to
 * {@code section.key}; values are JSON values.
 */
public final class ConfigTree {

    /** One key whose value differs between two configs; a side without the key holds null. */
    public record Difference(String key, JsonElement left, JsonElement right) {
        public JsonObject toJson() {
            JsonObject o = new JsonObject();
            o.addProperty("key", key);
            o.add("left", left == null ? JsonNull.INSTANCE : left);
            o.add("right", right == null ? JsonNull.INSTANCE : right);
            return o;
        }
    }

    private ConfigTree() {
    }

    /** YAML text as a JSON tree; throws IllegalArgumentException when it is not YAML mapping. */
    public static JsonObject toJson(String yaml) {
        Object doc;
        try {
            doc = new Yaml(new SafeConstructor(new LoaderOptions())).load(yaml);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("invalid YAML (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
        }
        if (doc == null) return new JsonObject();
        if (!(toJsonValue(doc) instanceof JsonObject o)) throw new IllegalArgumentException("not a YAML mapping");
        return o;
    }

    /** {"train": {"max_steps": 10}} as {"train.max_steps": 10}, in file order. */
    public static Map<String, JsonElement> flatten(JsonObject tree) {
        Map<String, JsonElement> flat = new LinkedHashMap<>();
        flatten("", tree, flat);
        return flat;
    }

    /** The keys whose values differ, in the order of {@code left}'s keys then {@code right}'s new ones. */
    public static List<Difference> diff(Map<String, JsonElement> left, Map<String, JsonElement> right) {
        var keys = new java.util.LinkedHashSet<>(left.keySet());
        keys.addAll(right.keySet());
        return keys.stream().filter(k -> !same(left.get(k), right.get(k)))
                .map(k -> new Difference(k, left.get(k), right.get(k))).toList();
    }

    /** A value as a person reads it: text without quotes, numbers as written, null as "null". */
    public static String show(JsonElement v) {
        if (v == null || v.isJsonNull()) return "null";
        if (v instanceof JsonPrimitive p && p.isString()) return p.getAsString();
        return v.toString();
    }

    private static boolean same(JsonElement a, JsonElement b) {
        if (a == null || b == null) return a == b || (a == null ? b.isJsonNull() : a.isJsonNull());
        // 3 and 3.0 are the same setting
        if (a instanceof JsonPrimitive pa && b instanceof JsonPrimitive pb && pa.isNumber() && pb.isNumber()) {
            return pa.getAsDouble() == pb.getAsDouble();
        }
        return a.equals(b);
    }

    private static void flatten(String prefix, JsonObject o, Map<String, JsonElement> flat) {
        for (Map.Entry<String, JsonElement> e : o.entrySet()) {
            String key = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            if (e.getValue() instanceof JsonObject child) flatten(key, child, flat);
            else flat.put(key, e.getValue());
        }
    }

    private static JsonElement toJsonValue(Object v) {
        return switch (v) {
            case null -> JsonNull.INSTANCE;
            case Map<?, ?> m -> {
                JsonObject o = new JsonObject();
                for (Map.Entry<?, ?> e : m.entrySet()) o.add(String.valueOf(e.getKey()), toJsonValue(e.getValue()));
                yield o;
            }
            case List<?> l -> {
                JsonArray a = new JsonArray();
                for (Object x : l) a.add(toJsonValue(x));
                yield a;
            }
            case Boolean b -> new JsonPrimitive(b);
            case Double d when !Double.isFinite(d) -> new JsonPrimitive(d.toString());
            case Number n -> new JsonPrimitive(n);
            default -> new JsonPrimitive(String.valueOf(v));
        };
    }
}
