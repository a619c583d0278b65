package dev.jgpt.config;

import dev.jgpt.JgptException;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Where the run's directory goes and how often it prints.
 *
 * @param runsDir  parent folder of all run directories
 * @param name     this run's folder under runsDir; null means one is made from the start time
 * @param logEvery print and record the training loss every this-many steps (build-nanogpt: every step)
 */
public record LogConfig(Path runsDir, String name, int logEvery) {

    static final List<String> KEYS = List.of("runs_dir", "name", "log_every");

    /**
     * A run name is one folder name under runs_dir: letters, digits, dot, dash, underscore; no leading
     * dot. So no name can be empty, hold a space, climb out with ".." or be an absolute path, and a
     * run's config.yaml always loads again for --resume.
     */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}");
    static final String NAME_RULE = "a folder name of letters, digits, '.', '-', '_' (at most 100, not starting with '.')";
    private static final DateTimeFormatter GENERATED = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

    public static LogConfig defaults() {
        return new LogConfig(Path.of("runs"), null, 1);
    }

    /** The name a run started at this time gets when none is configured, e.g. 20250131-142501. */
    public static String generatedName(LocalDateTime startedAt) {
        return GENERATED.format(startedAt);
    }

    public static boolean isValidName(String name) {
        return NAME.matcher(name).matches();
    }

    /**
     * The same settings under another run name, checked by the rule log.name follows; {@code option}
     * names where the name came from (e.g. --name) in the error.
     */
    public LogConfig withName(String newName, String option) {
        if (newName == null || !isValidName(newName)) {
            throw new JgptException(option + " '" + newName + "': a run name must be " + NAME_RULE);
        }
        return new LogConfig(runsDir, newName, logEvery);
    }

    static LogConfig from(Map<String, Object> tree, ConfigSource source) {
        ConfigSection s = ConfigSection.of(tree, "log", KEYS, source);
        LogConfig d = defaults();
        Path runsDir = s.path("runs_dir", d.runsDir);
        String name = s.text("name", d.name);
        if (name != null) {
            s.check(isValidName(name), "name", name, NAME_RULE);
        }
        int logEvery = s.integer("log_every", d.logEvery);
        s.check(logEvery >= 1, "log_every", logEvery, ">= 1");
        return new LogConfig(runsDir, name, logEvery);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("runs_dir", runsDir.toString());
        m.put("name", name);
        m.put("log_every", logEvery);
        return m;
    }
}
