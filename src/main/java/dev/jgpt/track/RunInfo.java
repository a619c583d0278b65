package dev.jgpt.track;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.jgpt.io.TrainingCheckpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One run as its directory shows it, read for people: never fails, whatever the files hold. Each
 * fact the files do not give (a run from before status files, a config that will not parse) is null,
 * shown as "unknown", and what could not be read is said once in {@link #problems()}.
 *
 * @param status         from status.json and the run's lock ({@link RunStatus})
 * @param configText     config.yaml as written; null when missing
 * @param config         config.yaml as a tree; null when missing or not YAML
 * @param record         run.json ({@link RunRecord}); null for runs from before it
 * @param entries        every readable line of metrics.jsonl
 * @param summary        what the listing shows of those lines, worked out once per reading of the file
 * @param checkpoints    the checkpoints on disk, oldest first
 * @param changedFromFile the config keys whose value differs from the file the run was started from
 */
public record RunInfo(String name, Path dir, RunStatus status, String configText, JsonObject config, JsonObject record,
                      List<Metrics.Entry> entries, Summary summary, List<Checkpoint> checkpoints,
                      List<ConfigTree.Difference> changedFromFile, List<String> problems) {

    /** build-nanogpt's reference lines for the GPT-2 124M shape, as its plot draws them. */
    public static final double GPT2_124M_VAL_LOSS = 3.2924;    // OpenAI GPT-2 124M on FineWeb-Edu's val split
    public static final double GPT2_124M_HELLASWAG = 0.2945;   // OpenAI GPT-2 124M, acc_norm
    public static final double GPT3_124M_HELLASWAG = 0.337;    // OpenAI GPT-3 124M, acc_norm

    /** The config keys the listing reads, which must be numbers. */
    private static final List<String> NUMBER_KEYS = List.of("train.max_steps", "train.total_batch_size", "model.n_layer",
            "model.n_head", "model.n_embd");

    /** A checkpoint: its step and the validation loss it recorded (NaN when none was measured). */
    public record Checkpoint(String name, int step, double valLoss, long bytes) {
    }

    /**
     * What the listing shows of a run's metrics lines, found in one pass when the file is read: a
     * dashboard lists every run twice a second, and a GPT-2 124M run alone has 20,000 lines.
     *
     * @param trainStepsDone one more than the last applied training step; -1 without training lines
     * @param lastTrain      the last training entry with a loss whose step was applied, or null
     * @param bestVal        the validation entry with the lowest finite loss, or null
     * @param lastHellaSwag  the last HellaSwag entry with an acc_norm, or null
     * @param divergedAt     the first step whose loss or gradient norm is NaN or infinite, or -1
     * @param firstTime      the time of the first timestamped line, or null
     * @param times          the times of the timestamped lines, in epoch milliseconds, sorted
     */
    public record Summary(int trainStepsDone, Metrics.Entry lastTrain, Metrics.Entry bestVal, Metrics.Entry lastHellaSwag,
                          int divergedAt, Instant firstTime, long[] times) {

        public static Summary of(List<Metrics.Entry> entries) {
            int done = -1, diverged = -1;
            Metrics.Entry train = null, val = null, hs = null;
            Instant first = null;
            long[] times = new long[entries.size()];
            int n = 0;
            for (Metrics.Entry e : entries) {
                switch (e.type()) {
                    case "train" -> {
                        boolean rejected = rejected(e);
                        done = Math.max(done, rejected ? e.step() : e.step() + 1);
                        if (rejected && diverged < 0) diverged = e.step();
                        if (!rejected && e.hasNumber("loss")) train = e;
                    }
                    case "val" -> {
                        if (e.hasNumber("loss") && Double.isFinite(e.number("loss"))
                                && (val == null || e.number("loss") < val.number("loss"))) {
                            val = e;
                        }
                    }
                    case "hellaswag" -> {
                        if (e.hasNumber("acc_norm")) hs = e;
                    }
                    default -> {
                    }
                }
                Instant t = e.time();
                if (t != null) {
                    if (first == null) first = t;
                    times[n++] = t.toEpochMilli();
                }
            }
            times = Arrays.copyOf(times, n);
            Arrays.sort(times);
            return new Summary(done, train, val, hs, diverged, first, times);
        }
    }

    /** Reads the run in {@code dir}. */
    public static RunInfo read(Path dir) {
        return read(dir, null);
    }

    /** Reads the run in {@code dir}, reusing metrics that {@code cache} read before when the file has not changed. */
    public static RunInfo read(Path dir, MetricsCache cache) {
        Problems problems = new Problems();
        String name = dir.getFileName() == null ? dir.toString() : dir.getFileName().toString();
        RunStatus status = RunStatus.read(dir);
        if (status.state() == RunStatus.State.UNKNOWN && status.error() != null) {
            problems.add("status", status.error());
            status = new RunStatus(RunStatus.State.UNKNOWN, status.pid(), status.host(), status.started(), status.ended(), null);
        }

        String configText = null;
        JsonObject config = null;
        Path configFile = dir.resolve(RunDirectory.CONFIG_FILE);
        try {
            configText = Files.readString(configFile, StandardCharsets.UTF_8);
            config = ConfigTree.toJson(configText);
            if (config.isEmpty()) {
                // a run's config.yaml holds every key: read as empty, each would differ from the file's
                config = null;
                problems.add("config", configFile + ": " + RunDirectory.EMPTY_CONFIG + "; the run's settings are unknown");
            }
        } catch (NoSuchFileException e) {
            problems.add("config", configFile + ": missing; the run's settings are unknown");
        } catch (IOException | RuntimeException e) {
            problems.add("config", configFile + ": unreadable (" + e.getMessage() + "); the run's settings are unknown");
        }

        if (config != null) {
            Map<String, JsonElement> flat = ConfigTree.flatten(config);
            for (String key : NUMBER_KEYS) {
                JsonElement v = flat.get(key);
                if (v != null && !(v instanceof JsonPrimitive p && p.isNumber())) {
                    problems.add("config type", configFile + ": " + key + " is " + ConfigTree.show(v) + ", not a number; shown as unknown");
                }
            }
        }

        JsonObject record = null;
        if (Files.exists(dir.resolve(RunRecord.RECORD_FILE))) {
            record = RunRecord.read(dir);
            if (record == null) problems.add("record", dir.resolve(RunRecord.RECORD_FILE) + ": not a JSON object; skipped");
        }

        MetricsCache.Read metrics = (cache == null ? new MetricsCache() : cache).read(dir.resolve(RunDirectory.METRICS_FILE));
        problems.addAll(metrics.problems());
        if (metrics.cutOff() && status.state() != RunStatus.State.RUNNING) {
            problems.add("cut off", dir.resolve(RunDirectory.METRICS_FILE) + ": the last line was cut off mid-write (the run was"
                    + " killed while writing it); skipped");
        }

        List<Checkpoint> checkpoints = checkpoints(dir.resolve(RunDirectory.CHECKPOINTS_DIR), problems);

        List<ConfigTree.Difference> changed = List.of();
        if (config != null && record != null && record.get("config_file") instanceof JsonObject file
                && file.get("resolved") instanceof JsonObject fromFile) {
            Map<String, JsonElement> mine = new LinkedHashMap<>(ConfigTree.flatten(config));
            Map<String, JsonElement> theirs = new LinkedHashMap<>(ConfigTree.flatten(fromFile));
            mine.remove("log.name"); // the run's own name, not a setting
            theirs.remove("log.name");
            changed = ConfigTree.diff(theirs, mine);
        }
        return new RunInfo(name, dir, status, configText, config, record, metrics.entries(), metrics.summary(), checkpoints, changed,
                problems.lines());
    }

    private static List<Checkpoint> checkpoints(Path dir, Problems problems) {
        List<Checkpoint> found = new ArrayList<>();
        try {
            for (Path c : TrainingCheckpoint.list(dir)) {
                try {
                    TrainingCheckpoint.State s = TrainingCheckpoint.readState(c);
                    found.add(new Checkpoint(c.getFileName().toString(), s.step(), s.valLoss(), bytes(c)));
                } catch (IOException | RuntimeException e) {
                    problems.add("checkpoint", c + ": unreadable state (" + e.getMessage() + "); skipped");
                }
            }
        } catch (IOException | RuntimeException e) {
            problems.add("checkpoints", dir + ": cannot list (" + e.getMessage() + ")");
        }
        return found;
    }

    private static long bytes(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    return 0;
                }
            }).sum();
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    // ---- what the listing shows -------------------------------------------------------------

    /** A number of config.yaml; null when the config or the key is missing or not a number. */
    public Double configNumber(String key) {
        if (config == null) return null;
        JsonElement v = ConfigTree.flatten(config).get(key);
        return v instanceof JsonPrimitive p && p.isNumber() ? p.getAsDouble() : null;
    }

    /** train.max_steps; null when unknown. */
    public Integer maxSteps() {
        Double v = configNumber("train.max_steps");
        return v == null ? null : (int) (double) v;
    }

    /**
     * Optimizer steps taken: one more than the last training step recorded, else the newest
     * checkpoint's step. A step that diverged ({@link #rejected}) was recorded but not applied, so it
     * is not counted.
     */
    public int stepsDone() {
        if (summary.trainStepsDone() >= 0) return summary.trainStepsDone();
        return checkpoints.isEmpty() ? 0 : checkpoints.getLast().step();
    }

    /**
     * Whether a training entry is the step training diverged at: a NaN or infinite loss or gradient
     * norm. jgpt stops there without applying the update and records the step only to mark the
     * divergence; its loss may be finite, if huge, when the gradient norm overflowed.
     */
    static boolean rejected(Metrics.Entry e) {
        return e.type().equals("train") && (notFinite(e, "loss") || notFinite(e, "norm"));
    }

    private static boolean notFinite(Metrics.Entry e, String field) {
        return e.hasNumber(field) && !Double.isFinite(e.number(field));
    }

    /** Tokens trained on: steps done times train.total_batch_size; null without a config. */
    public Long tokensSeen() {
        Double batch = configNumber("train.total_batch_size");
        return batch == null ? null : (long) (stepsDone() * batch);
    }

    /** The last training entry with a loss whose step was applied (not {@link #rejected}), or null. */
    public Metrics.Entry lastTrain() {
        return summary.lastTrain();
    }

    /** The last HellaSwag entry with an acc_norm, or null. */
    public Metrics.Entry lastHellaSwag() {
        return summary.lastHellaSwag();
    }

    /** The validation entry with the lowest finite loss, or null. */
    public Metrics.Entry bestVal() {
        return summary.bestVal();
    }

    /** The first step whose training loss or gradient norm is NaN or infinite ({@link #rejected}), or -1. */
    public int divergedAt() {
        return summary.divergedAt();
    }

    /** Whether the model is GPT-2 124M's shape (12 layers, 12 heads, 768 channels): the reference lines apply. */
    public boolean isGpt2Small() {
        Double l = configNumber("model.n_layer"), h = configNumber("model.n_head"), c = configNumber("model.n_embd");
        return l != null && h != null && c != null && l == 12 && h == 12 && c == 768;
    }

    /**
     * Time the run's processes spent on it: for each session in run.json, from its start to its last
     * metrics line (to now for a session still running). Null for runs from before run.json.
     */
    public Duration wallTime() {
        List<Instant> starts = new ArrayList<>();
        if (record != null && record.get("sessions") instanceof JsonArray sessions) {
            for (JsonElement s : sessions) {
                Instant t = s instanceof JsonObject o ? instant(o.get("started")) : null;
                if (t != null) starts.add(t);
            }
        }
        if (starts.isEmpty()) return null;
        starts.sort(null);
        long[] times = summary.times();
        Duration total = Duration.ZERO;
        for (int i = 0; i < starts.size(); i++) {
            Instant from = starts.get(i);
            Instant last = null;
            // the last line before the next session's start: the first index at or after it, less one
            int end = i + 1 < starts.size() ? firstAtOrAfter(times, starts.get(i + 1).toEpochMilli()) : times.length;
            if (end > 0 && times[end - 1] >= from.toEpochMilli()) last = Instant.ofEpochMilli(times[end - 1]);
            boolean live = i == starts.size() - 1 && status.state() == RunStatus.State.RUNNING;
            if (live) last = Instant.now();
            if (last != null) total = total.plus(Duration.between(from, last));
        }
        return total;
    }

    /** When the run was created: run.json, else its first timestamped line, else null. */
    public Instant created() {
        if (record != null) {
            Instant t = instant(record.get("created"));
            if (t != null) return t;
        }
        return summary.firstTime();
    }

    /** The index of the first of {@code sorted} at or after {@code t}; its length when there is none. */
    private static int firstAtOrAfter(long[] sorted, long t) {
        int i = Arrays.binarySearch(sorted, t);
        if (i < 0) return -i - 1;
        while (i > 0 && sorted[i - 1] == t) i--;
        return i;
    }

    /** The samples of the highest step that has any, in index order. */
    public List<Metrics.Entry> latestSamples() {
        int step = entries.stream().filter(e -> e.type().equals("sample")).mapToInt(Metrics.Entry::step).max().orElse(-1);
        return entries.stream().filter(e -> e.type().equals("sample") && e.step() == step && e.fields().get("text") instanceof String)
                .toList();
    }

    private static Instant instant(JsonElement e) {
        try {
            return e instanceof JsonPrimitive p && p.isString() ? Instant.parse(p.getAsString()) : null;
        } catch (RuntimeException bad) {
            return null;
        }
    }

    // ---- JSON ----------------------------------------------------------------------------------

    /**
     * The listing's facts as JSON (unknowns are null; NaN and the infinities are the strings "NaN",
     * "Infinity", "-Infinity", since JSON has no such numbers). {@code full} adds the config, the
     * start record, the checkpoints and the latest samples.
     */
    public JsonObject toJson(boolean full) {
        JsonObject o = new JsonObject();
        o.addProperty("name", name);
        o.addProperty("status", status.state().word());
        if (status.error() != null) o.addProperty("error", status.error());
        Instant created = created();
        o.addProperty("created", created == null ? null : created.toString());
        o.addProperty("steps_done", stepsDone());
        o.add("max_steps", maxSteps() == null ? JsonNull.INSTANCE : new JsonPrimitive(maxSteps()));
        Metrics.Entry train = lastTrain(), val = bestVal(), hs = lastHellaSwag();
        o.add("train_loss", train == null ? JsonNull.INSTANCE : number(train.number("loss")));
        o.add("best_val_loss", val == null ? JsonNull.INSTANCE : number(val.number("loss")));
        o.add("best_val_step", val == null ? JsonNull.INSTANCE : new JsonPrimitive(val.step()));
        o.add("hellaswag", hs == null ? JsonNull.INSTANCE : number(hs.number("acc_norm")));
        o.add("tokens", tokensSeen() == null ? JsonNull.INSTANCE : new JsonPrimitive(tokensSeen()));
        Double batch = configNumber("train.total_batch_size");
        o.add("tokens_per_step", batch == null ? JsonNull.INSTANCE : number(batch));
        Duration wall = wallTime();
        o.add("wall_seconds", wall == null ? JsonNull.INSTANCE : new JsonPrimitive(wall.toMillis() / 1000.0));
        int diverged = divergedAt();
        o.add("diverged_at", diverged < 0 ? JsonNull.INSTANCE : new JsonPrimitive(diverged));
        o.addProperty("gpt2_124m_shape", isGpt2Small());
        JsonArray changed = new JsonArray();
        changedFromFile.forEach(d -> changed.add(d.toJson()));
        o.add("changed_from_config_file", changed);
        JsonArray p = new JsonArray();
        problems.forEach(p::add);
        o.add("problems", p);
        if (full) {
            o.addProperty("dir", dir.toString());
            o.add("config", config == null ? JsonNull.INSTANCE : config);
            o.addProperty("config_text", configText);
            o.add("record", record == null ? JsonNull.INSTANCE : record);
            JsonArray cs = new JsonArray();
            for (Checkpoint c : checkpoints) {
                JsonObject j = new JsonObject();
                j.addProperty("name", c.name());
                j.addProperty("step", c.step());
                j.add("val_loss", number(c.valLoss()));
                j.addProperty("bytes", c.bytes());
                cs.add(j);
            }
            o.add("checkpoints", cs);
            JsonArray samples = new JsonArray();
            for (Metrics.Entry e : latestSamples()) samples.add(entryJson(e));
            o.add("latest_samples", samples);
        }
        return o;
    }

    /** A metrics entry as JSON a browser can parse (non-finite numbers as strings). */
    public static JsonObject entryJson(Metrics.Entry e) {
        JsonObject o = new JsonObject();
        o.addProperty("type", e.type());
        o.addProperty("step", e.step());
        for (Map.Entry<String, Object> f : e.fields().entrySet()) {
            o.add(f.getKey(), switch (f.getValue()) {
                case Double d -> number(d);
                case Boolean b -> new JsonPrimitive(b);
                case null -> JsonNull.INSTANCE;
                default -> new JsonPrimitive(String.valueOf(f.getValue()));
            });
        }
        return o;
    }

    static JsonElement number(double v) {
        if (Double.isFinite(v)) return new JsonPrimitive(v == Math.rint(v) && Math.abs(v) < 1e15 ? (Number) (long) v : v);
        return new JsonPrimitive(Double.toString(v));
    }
}
