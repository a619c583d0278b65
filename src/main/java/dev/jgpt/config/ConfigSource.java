package dev.jgpt.config;

import java.util.List;
import java.util.Map;

/**
 * Where a configuration's values came from, so an error can point at the right place: the YAML
 * file (null for the built-in defaults) and the {@code --set section.key=value} options, keyed by
 * {@code section.key}.
 */
record ConfigSource(String file, Map<String, String> overrides) {

    static ConfigSource file(String file) {
        return new ConfigSource(file, Map.of());
    }

    /** The --set text that supplied this key ("train.max_lr=1e-3"), or null. */
    String override(String path) {
        return overrides.get(path);
    }

    /** The prefix of an error about these keys: the --set option that set one of them, else the file. */
    String where(String... paths) {
        for (String path : paths) {
            String o = overrides.get(path);
            if (o != null) return "--set " + o + ": ";
        }
        return file == null ? "" : file + ": ";
    }

    String where(List<String> paths) {
        return where(paths.toArray(String[]::new));
    }
}
