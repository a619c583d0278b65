package dev.jgpt.config;

import dev.jgpt.JgptException;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
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

    /**
     * A run name is one folder name under runs_dir: letters, digits, dot, dash, underscore; no leading
     * dot. So no name can be empty, hold a space, climb out with ".." or be an absolute path, and a
     * run's config.yaml always loads again for --resume.
     */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9._-]{0,99}");
    // not starting with '-' either: commands would read such a name as an option (runs show -x)
    static final String NAME_RULE = "a folder name of letters, digits, '.', '-', '_' (at most 100, not starting with '.' or '-')";
    private static final DateTimeFormatter GENERATED = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

    static final Section<LogConfig> SECTION = new Section<>("log", LogConfig.class, List.of(
            Key.path("runs_dir", Path.of("runs")),
            Key.text("name", null).check(LogConfig::isValidName, NAME_RULE),
            Key.integer("log_every", 1).check(v -> v >= 1, ">= 1")));

    public static LogConfig defaults() {
        return SECTION.defaults();
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
        return SECTION.read(SECTION.open(tree, source));
    }
}
