package dev.jgpt.track;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jgpt.config.RunConfig;
import dev.jgpt.io.AtomicFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * A run's {@code run.json}: what it was started from and by whom, the part of a run that no metric
 * says. Written when a run is created, and a session added each time a process takes it up again
 * (a resume):
 *
 * <pre>
 * {"name": "quickstart", "created": "2025-01-31T14:25:01.203Z",
 *  "config_file": {"path": "configs/quickstart.yaml", "content": "...", "overrides": ["train.max_steps=300"],
 *                  "resolved": {the file's config with defaults filled in, before the overrides}},
 *  "config": {the run's resolved config, as config.yaml holds it},
 *  "sessions": [{"started": "...", "pid": 4242, "host": "box", "jgpt_version": "0.1.0",
 *                "git_commit": "3f2a...", "git_dirty": false, "os": "Linux 6.1 (amd64)",
 *                "jvm": "Eclipse Adoptium 25+36-LTS", "cores": 2, "threads": 2, "max_heap_mb": 18432,
 *                "processes": 1, "device": "cpu (train.device auto: no usable GPU: ...)"}]}
 * </pre>
 *
 * The record is for people and for {@code jgpt runs}; training never reads it, so failing to
 * write it costs the run nothing but is said once on standard error.
 */
public final class RunRecord {
    public static final String RECORD_FILE = "run.json";

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    /**
     * The config file a run was started from: its path as given (or a built-in preset's name), its
     * text, and the {@code --set} overrides applied on top.
     */
    public record ConfigFile(String path, String content, List<String> overrides) {
    }

    private RunRecord() {
    }

    /** Writes run.json for a run just created in {@code dir}. */
    static void created(Path dir, RunConfig config, ConfigFile configFile) {
        JsonObject o = new JsonObject();
        o.addProperty("name", config.log().name());
        o.addProperty("created", now());
        if (configFile != null) {
            JsonObject f = new JsonObject();
            f.addProperty("path", configFile.path());
            f.addProperty("content", configFile.content());
            JsonArray overrides = new JsonArray();
            configFile.overrides().forEach(overrides::add);
            f.add("overrides", overrides);
            try {
                // what the file alone says, resolved the same way, so listings can show what --set changed
                f.add("resolved", ConfigTree.toJson(RunConfig.parse(configFile.content(), configFile.path(), List.of())
                        .withRunName(config.log().name()).toYaml()));
            } catch (RuntimeException e) {
                // the file is only valid with its overrides (say, a seq_len fixed by --set): keep the text alone
            }
            o.add("config_file", f);
        }
        o.add("config", ConfigTree.toJson(config.toYaml()));
        JsonArray sessions = new JsonArray();
        sessions.add(session(config));
        o.add("sessions", sessions);
        write(dir, o);
    }

    /** Adds this process's session to run.json of a run being continued (a run from before run.json gets one). */
    static void resumed(Path dir, RunConfig config) {
        JsonObject o = read(dir);
        if (o == null) o = new JsonObject();
        JsonArray sessions = o.get("sessions") instanceof JsonArray a ? a : new JsonArray();
        JsonObject mine = session(config);
        // the same process reopening (to rewrite its config) is one session, not two
        if (!sessions.isEmpty() && sessions.get(sessions.size() - 1) instanceof JsonObject last
                && mine.get("pid").equals(last.get("pid")) && mine.get("host").equals(last.get("host"))) {
            sessions.remove(sessions.size() - 1);
        }
        sessions.add(mine);
        o.add("sessions", sessions);
        o.add("config", ConfigTree.toJson(config.toYaml()));
        write(dir, o);
    }

    /**
     * Adds where this process trains (train.device as decided), on how many threads, and how many
     * processes train the run together (1, or mpirun's ranks) to its session, the last one in run.json.
     */
    static void device(Path dir, String device, int threads, int processes) {
        JsonObject o = read(dir);
        if (o == null || !(o.get("sessions") instanceof JsonArray sessions) || sessions.isEmpty()
                || !(sessions.get(sessions.size() - 1) instanceof JsonObject last)) {
            return;
        }
        last.addProperty("threads", threads);
        last.addProperty("processes", processes);
        last.addProperty("device", device);
        write(dir, o);
    }

    /** run.json of {@code dir} as a JSON object, or null when it is missing or not a JSON object. */
    public static JsonObject read(Path dir) {
        try {
            JsonElement e = JsonParser.parseString(Files.readString(dir.resolve(RECORD_FILE), StandardCharsets.UTF_8));
            return e.isJsonObject() ? e.getAsJsonObject() : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Where and with what this process runs. */
    static JsonObject session(RunConfig config) {
        JsonObject s = new JsonObject();
        s.addProperty("started", now());
        s.addProperty("pid", ProcessHandle.current().pid());
        s.addProperty("host", RunStatus.hostName());
        s.addProperty("jgpt_version", version());
        String home = System.getProperty("jgpt.home");
        GitCommit commit = home == null ? null : gitCommit(Path.of(home));
        if (commit != null) {
            s.addProperty("git_commit", commit.sha());
            s.addProperty("git_dirty", commit.dirty());
        }
        s.addProperty("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " (" + System.getProperty("os.arch") + ")");
        s.addProperty("jvm", System.getProperty("java.vm.vendor") + " " + System.getProperty("java.runtime.version"));
        s.addProperty("cores", Runtime.getRuntime().availableProcessors());
        s.addProperty("threads", config.train().threadCount());
        s.addProperty("max_heap_mb", Runtime.getRuntime().maxMemory() >> 20);
        return s;
    }

    /** jgpt's version, from the build; "unknown" when the classes did not come out of the Maven build. */
    public static String version() {
        try (InputStream in = RunRecord.class.getResourceAsStream("/dev/jgpt/version.properties")) {
            if (in == null) return "unknown";
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("version", "unknown");
            return v.startsWith("${") ? "unknown" : v;
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** The commit a checkout is at, and whether tracked files differ from it. */
    public record GitCommit(String sha, boolean dirty) {
    }

    /**
     * The commit of jgpt's sources when {@code home} is a git checkout of them (the launcher passes
     * its own folder as jgpt.home); null when it is not one or git is not installed.
     */
    public static GitCommit gitCommit(Path home) {
        if (!Files.exists(home.resolve(".git"))) return null; // not a checkout (or inside someone else's)
        String sha = git(home, "rev-parse", "HEAD");
        if (sha == null || !sha.matches("[0-9a-f]{40}")) return null;
        String status = git(home, "status", "--porcelain", "--untracked-files=no");
        return new GitCommit(sha, status != null && !status.isBlank());
    }

    private static String git(Path dir, String... args) {
        try {
            List<String> command = new java.util.ArrayList<>(List.of("git", "-C", dir.toString()));
            command.addAll(List.of(args));
            Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return null;
            }
            return p.exitValue() == 0 ? out : null;
        } catch (IOException e) {
            return null; // no git on this machine
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private static String now() {
        return Instant.now().truncatedTo(ChronoUnit.MILLIS).toString();
    }

    private static void write(Path dir, JsonObject o) {
        Path file = dir.resolve(RECORD_FILE);
        try {
            AtomicFiles.writeString(file, GSON.toJson(o) + "\n");
        } catch (IOException e) {
            System.err.println("jgpt: " + file + ": cannot write the run's start record (" + e.getMessage() + "); training goes on");
        }
    }
}
