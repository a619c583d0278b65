package dev.jgpt.track;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.jgpt.JgptException;
import dev.jgpt.config.LogConfig;
import dev.jgpt.config.RunConfig;
import dev.jgpt.io.AtomicFiles;
import dev.jgpt.io.TrainingCheckpoint;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * One training run's folder, {@code <runs_dir>/<name>/}:
 *
 * <pre>
 * config.yaml     the fully resolved configuration the run was started with
 * run.json        who started the run, where, with which jgpt and config file ({@link RunRecord})
 * metrics.jsonl   one JSON object per line: {"type":"train","step":0,"time":"2025-01-31T14:25:01.203Z","loss":10.95,...}
 * console.log     everything the run printed through {@link #println}
 * samples.txt     the text samples, for reading
 * checkpoints/    training checkpoints
 * run.lock        held by the process that owns the run ({@link RunLock})
 * status.json     running, finished, interrupted or failed ({@link RunStatus})
 * </pre>
 *
 * Every line is flushed as it is written, so a run killed at any moment leaves complete files
 * (except possibly a cut-off last metrics line, which {@link #open} repairs). A new run never
 * writes into a non-empty folder; an existing one is continued with {@link #open}. Either way the
 * process holds the run's lock until {@link #close}: one writer per run.
 */
public final class RunDirectory implements AutoCloseable {
    public static final String CONFIG_FILE = "config.yaml";
    public static final String METRICS_FILE = "metrics.jsonl";
    public static final String CONSOLE_FILE = "console.log";
    public static final String SAMPLES_FILE = "samples.txt";
    public static final String CHECKPOINTS_DIR = "checkpoints";

    /** What a run's config.yaml that holds no settings is called in errors and problem notes. */
    static final String EMPTY_CONFIG = "holds no settings (a run's config.yaml lists every one)";

    // NaN and Infinity are written bare: a diverged loss must be recorded, not crash the run.
    private static final Gson GSON = new GsonBuilder().serializeSpecialFloatingPointValues().disableHtmlEscaping().create();

    private final Path dir;
    private final PrintStream console;
    private final int lastStep;
    private final RunLock lock;
    private final boolean isNew;
    private final List<Path> madeFolders; // the run folder and those above it that this process made
    private final boolean writes; // false for a follower
    private final Object statusLock = new Object();
    private RunConfig config;
    private RunStatus status;
    // null for a follower
    private final Appender metrics, consoleLog, samples;

    private RunDirectory(Path dir, RunConfig config, PrintStream console, int lastStep, RunLock lock, boolean isNew, List<Path> madeFolders) {
        this.dir = dir;
        this.config = config;
        this.console = console;
        this.lastStep = lastStep;
        this.lock = lock;
        this.isNew = isNew;
        this.madeFolders = madeFolders;
        this.writes = lock != null;
        this.metrics = writes ? new Appender(metricsFile()) : null;
        this.consoleLog = writes ? new Appender(consoleLogFile()) : null;
        this.samples = writes ? new Appender(samplesFile()) : null;
        if (isNew) {
            // a new run's files are there from the start (an empty metrics.jsonl says: no step yet)
            for (Appender a : List.of(metrics, consoleLog, samples)) a.write("");
        }
    }

    /**
     * The run as a data-parallel rank other than 0 sees it: rank 0 owns the directory and writes
     * every file, so here every print, log and status change is dropped and nothing is locked.
     */
    public static RunDirectory follower(Path dir, RunConfig config) {
        return new RunDirectory(dir, config, null, -1, null, false, List.of());
    }

    /** Starts a new run under {@code config.log().runsDir()}, printing to standard output. */
    public static RunDirectory create(RunConfig config) {
        return create(config, System.out, LocalDateTime.now());
    }

    /** Starts a new run with no record of a config file, e.g. from the Java API. */
    public static RunDirectory create(RunConfig config, PrintStream console, LocalDateTime startedAt) {
        return create(config, null, console, startedAt);
    }

    /** Starts a new run from {@code configFile} (the file and --set options it was made of; may be null). */
    public static RunDirectory create(RunConfig config, RunRecord.ConfigFile configFile) {
        return create(config, configFile, System.out, LocalDateTime.now());
    }

    /**
     * Starts a new run: creates the folder (named by log.name, or by {@code startedAt} when that is
     * not set), takes its lock, refuses one that already has files in it, and writes config.yaml with
     * the name filled in and run.json with the start record. The folder is this process's until {@link #close}.
     */
    public static RunDirectory create(RunConfig config, RunRecord.ConfigFile configFile, PrintStream console, LocalDateTime startedAt) {
        Path runsDir = config.log().runsDir();
        String name = config.log().name();
        Path dir;
        List<Path> made;
        RunLock lock;
        if (name != null) {
            dir = runsDir.resolve(name);
            if (!isEmptyOrMissing(dir)) throw notEmpty(dir);
            made = AtomicFiles.missingFolders(dir);
            lock = claim(dir);
            if (!isEmptyOrMissing(dir)) {
                lock.close();
                throw notEmpty(dir);
            }
        } else {
            // Two runs started in the same second get -2, -3, ... rather than sharing a folder.
            String base = LogConfig.generatedName(startedAt);
            for (int i = 1; ; i++) {
                name = i == 1 ? base : base + "-" + i;
                dir = runsDir.resolve(name);
                if (!isEmptyOrMissing(dir)) continue;
                made = AtomicFiles.missingFolders(dir);
                try {
                    lock = claim(dir);
                } catch (JgptException inUse) {
                    continue;
                }
                if (isEmptyOrMissing(dir)) break;
                lock.close();
            }
        }
        RunConfig named = config.withRunName(name);
        try {
            Files.createDirectories(dir.resolve(CHECKPOINTS_DIR));
            AtomicFiles.writeString(dir.resolve(CONFIG_FILE), named.toYaml());
            RunRecord.created(dir, named, configFile);
            return new RunDirectory(dir, named, console, -1, lock, true, made);
        } catch (IOException | RuntimeException e) {
            lock.close();
            throw e instanceof IOException io ? new JgptException(dir + ": cannot create run directory (" + io.getMessage() + ")", io)
                    : (RuntimeException) e;
        }
    }

    private static RunLock claim(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new JgptException(dir + ": cannot create run directory (" + JgptException.reason(e) + ")", e);
        }
        return RunLock.acquire(dir);
    }

    private static JgptException notEmpty(Path dir) {
        return new JgptException("run directory " + dir + " already exists and is not empty; choose another"
                + " log.name, or resume that run instead");
    }

    /** Reopens an existing run to continue it, printing to standard output. */
    public static RunDirectory open(Path dir) {
        return open(dir, System.out);
    }

    /**
     * Reopens an existing run to continue it: takes its lock (one line naming the owner when another
     * process has it), removes what killed writes left behind (temporary checkpoint folders and
     * files), reads back its config.yaml and the last step in metrics.jsonl, and drops a metrics line
     * that was cut off mid-write so new lines start clean.
     */
    public static RunDirectory open(Path dir, PrintStream console) {
        Path configFile = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(configFile)) {
            throw new JgptException(dir + ": not a run directory (it has no " + CONFIG_FILE + ")");
        }
        RunLock lock = RunLock.acquire(dir);
        try {
            RunConfig config = RunConfig.load(configFile);
            requireSettings(configFile);
            // a run folder that was moved or copied is named by where it is now
            String name = dir.toAbsolutePath().normalize().getFileName().toString();
            if (!name.equals(config.log().name())) config = config.withRunName(name);
            Path metricsFile = dir.resolve(METRICS_FILE);
            try {
                removeLeftovers(dir);
                // no folder or file is made here: a refused resume leaves the run as it was (a checkpoint's
                // save makes checkpoints/, the first line written makes its file)
                dropUnterminatedLine(metricsFile);
            } catch (IOException e) {
                throw new JgptException(dir + ": cannot reopen run directory (" + e.getMessage() + ")", e);
            }
            int lastStep = Metrics.lastStep(Metrics.read(metricsFile));
            return new RunDirectory(dir, config, console, lastStep, lock, false, List.of());
        } catch (RuntimeException e) {
            lock.close();
            throw e;
        }
    }

    /**
     * Refuses a run config that holds no settings (emptied by a full disk, say): as a config file it
     * would mean every default, which is not the run that was trained.
     */
    private static void requireSettings(Path configFile) {
        boolean empty;
        try {
            empty = ConfigTree.toJson(Files.readString(configFile, StandardCharsets.UTF_8)).isEmpty();
        } catch (IOException | RuntimeException e) {
            return; // RunConfig.load has read and parsed it already
        }
        if (empty) {
            throw new JgptException(configFile + ": " + EMPTY_CONFIG + "; the run cannot be resumed from it"
                    + " (run.json, where there is one, keeps a copy of the settings under \"config\")");
        }
    }

    /** Temporary files and checkpoint folders of writes that a killed process never finished. */
    private static void removeLeftovers(Path dir) throws IOException {
        TrainingCheckpoint.removeLeftovers(dir.resolve(CHECKPOINTS_DIR));
        for (String own : List.of(CONFIG_FILE, METRICS_FILE, RunStatus.STATUS_FILE, RunRecord.RECORD_FILE)) {
            AtomicFiles.removeLeftovers(dir.resolve(own));
        }
    }

    public Path path() {
        return dir;
    }

    /** The run's configuration, with log.name set to the folder's name. */
    public RunConfig config() {
        return config;
    }

    public String name() {
        return config.log().name();
    }

    /** The highest step in metrics.jsonl when the run was opened; -1 for a new run or no metrics. */
    public int lastStep() {
        return lastStep;
    }

    public Path configFile() {
        return dir.resolve(CONFIG_FILE);
    }

    public Path metricsFile() {
        return dir.resolve(METRICS_FILE);
    }

    public Path consoleLogFile() {
        return dir.resolve(CONSOLE_FILE);
    }

    public Path samplesFile() {
        return dir.resolve(SAMPLES_FILE);
    }

    public Path checkpointsDir() {
        return dir.resolve(CHECKPOINTS_DIR);
    }

    /** Appends a line to console.log only (what a terminal saw drawn live, such as a progress bar). */
    public synchronized void logOnly(String line) {
        if (!writes) return;
        consoleLog.write(line + "\n");
    }

    /** Prints a line to the console and appends it to console.log. */
    public synchronized void println(String line) {
        if (!writes) return;
        console.println(line);
        consoleLog.write(line + "\n");
    }

    /**
     * Appends one metrics line: {"type":type,"step":step,"time":wall-clock time (UTC, ms), then the
     * fields in their order}. Field values are numbers, text or booleans.
     */
    public synchronized void log(String type, int step, Map<String, ?> fields) {
        if (!writes) return;
        JsonObject o = new JsonObject();
        o.addProperty("type", type);
        o.addProperty("step", step);
        o.addProperty("time", Instant.now().truncatedTo(ChronoUnit.MILLIS).toString());
        for (Map.Entry<String, ?> f : fields.entrySet()) {
            if (f.getKey().equals("type") || f.getKey().equals("step") || f.getKey().equals("time")) {
                throw new IllegalArgumentException("field name " + f.getKey() + " is reserved");
            }
            o.add(f.getKey(), switch (f.getValue()) {
                case Number n -> new JsonPrimitive(n);
                case Boolean b -> new JsonPrimitive(b);
                case String s -> new JsonPrimitive(s);
                case null, default -> throw new IllegalArgumentException(
                        "metric " + f.getKey() + " must be a number, text or boolean: " + f.getValue());
            });
        }
        metrics.write(GSON.toJson(o) + "\n");
    }

    /** One optimizer step: mean loss over the step's micro-batches, learning rate, gradient norm before clipping, time. */
    public void logTrain(int step, double loss, double lr, double gradNorm, double millis, double tokensPerSecond) {
        log("train", step, fields("loss", loss, "lr", lr, "norm", gradNorm, "dt_ms", millis, "tok_per_sec", tokensPerSecond));
    }

    /** Validation loss, averaged over eval.val_steps micro-batches. */
    public void logVal(int step, double loss) {
        log("val", step, fields("loss", loss));
    }

    /** HellaSwag over {@code total} items: correct by summed loss (acc) and by mean loss (acc_norm). */
    public void logHellaSwag(int step, int total, int correct, int correctNorm) {
        log("hellaswag", step, fields("total", total, "correct", correct, "correct_norm", correctNorm,
                "acc", (double) correct / total, "acc_norm", (double) correctNorm / total));
    }

    /** A generated sample: recorded in metrics.jsonl and appended to samples.txt for reading. */
    public synchronized void logSample(int step, int index, String text) {
        if (!writes) return;
        log("sample", step, fields("index", index, "text", text));
        samples.write(sampleText(step, index, text));
    }

    /** A sample as samples.txt holds it. */
    private static String sampleText(int step, int index, String text) {
        return "--- step " + step + ", sample " + index + "\n" + text + "\n";
    }

    /**
     * Removes the metrics of step {@code step} and later, for a run resumed from a checkpoint
     * taken before them, so each step is recorded once; samples.txt is cut the same way. Both files
     * are replaced atomically.
     */
    public synchronized void dropMetricsFrom(int step) {
        if (!writes) return;
        Path file = metricsFile();
        StringBuilder keptSamples = new StringBuilder();
        try {
            metrics.close();
            List<String> kept = new ArrayList<>();
            for (String line : Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : List.<String>of()) {
                if (line.isBlank()) continue;
                Metrics.Entry e;
                try {
                    e = Metrics.parse(line);
                } catch (RuntimeException bad) {
                    throw new JgptException(file + ": not a metrics line: " + line, bad);
                }
                if (e.step() >= step) continue;
                kept.add(line);
                // metrics.jsonl holds every sample samples.txt does: rebuilt from it, samples.txt keeps
                // exactly the kept ones (its text, being free text, cannot be cut reliably on its own)
                if (e.type().equals("sample") && e.hasNumber("index") && e.fields().get("text") instanceof String text) {
                    keptSamples.append(sampleText(e.step(), (int) e.number("index"), text));
                }
            }
            AtomicFiles.writeString(file, kept.isEmpty() ? "" : String.join("\n", kept) + "\n");
        } catch (IOException e) {
            throw new JgptException(file + ": cannot rewrite metrics (" + JgptException.reason(e) + ")", e);
        }
        Path samplesFile = samplesFile();
        try {
            samples.close();
            AtomicFiles.writeString(samplesFile, keptSamples.toString());
        } catch (IOException e) {
            throw new JgptException(samplesFile + ": cannot rewrite samples (" + JgptException.reason(e) + ")", e);
        }
    }

    /**
     * Replaces config.yaml (atomically) with {@code changed}: a resumed run with overrides, once they
     * have been checked against its checkpoint.
     */
    public synchronized void replaceConfig(RunConfig changed) {
        try {
            AtomicFiles.writeString(configFile(), changed.toYaml());
        } catch (IOException e) {
            throw new JgptException(configFile() + ": cannot write (" + e.getMessage() + ")", e);
        }
        config = changed;
    }

    /**
     * Records in run.json where this process trains the run ("cuda, NVIDIA H100 ... (why)", "cpu
     * (why)"), the threads its math runs on, as the pool was built (train.threads cut to the cores,
     * or shared among the ranks on one host), and how many processes train it (mpirun's ranks).
     */
    public void recordDevice(String device, int threads, int processes) {
        if (writes) RunRecord.device(dir, device, threads, processes);
    }

    /** Records in status.json that this process is running the run (see {@link RunStatus}). */
    public void markRunning() {
        if (!writes) return;
        if (!isNew) RunRecord.resumed(dir, config); // this process's session, once the resume is accepted
        synchronized (statusLock) {
            status = RunStatus.runningNow();
            status.write(dir);
        }
    }

    /**
     * Records how this process's session with the run ended: finished, interrupted, or failed with
     * its one-line error. The first ending recorded stays. Safe from a signal handler: it never waits
     * for the run's other writes.
     */
    public void markEnded(RunStatus.State state, String error) {
        if (!writes) return;
        synchronized (statusLock) {
            if (status != null && status.state() != RunStatus.State.RUNNING) return;
            RunStatus running = status != null ? status : RunStatus.runningNow();
            status = running.endedNow(state, error);
            status.write(dir);
        }
    }

    /** True for a run this process created (not one it resumed). */
    public boolean isNew() {
        return isNew;
    }

    /**
     * Removes a new run that never trained a step, so its name stays free: the files this process
     * wrote, and the folders it made (the run's, and runs/ when it was missing) where nothing else is
     * left in them. Then closes the run.
     */
    public synchronized void discard() {
        if (!isNew) throw new IllegalStateException("only a new run is discarded");
        closeWriters();
        try {
            TrainingCheckpoint.removeLeftovers(checkpointsDir());
            for (Path checkpoint : TrainingCheckpoint.list(checkpointsDir())) AtomicFiles.deleteTree(checkpoint);
            deleteIfEmpty(checkpointsDir());
            for (String own : List.of(CONFIG_FILE, METRICS_FILE, CONSOLE_FILE, SAMPLES_FILE, RunStatus.STATUS_FILE, RunRecord.RECORD_FILE)) {
                Files.deleteIfExists(dir.resolve(own));
            }
            removeLeftovers(dir);
            Files.deleteIfExists(lock.file());
            lock.close();
            AtomicFiles.removeIfEmpty(madeFolders); // runs/ too, when this run made it
        } catch (IOException e) {
            throw new JgptException(dir + ": cannot remove the failed run's files (" + e.getMessage() + ")", e);
        } finally {
            lock.close();
        }
    }

    /** Closes the run's files and gives up its lock. */
    @Override
    public synchronized void close() {
        try {
            closeWriters();
        } finally {
            if (lock != null) lock.close();
        }
    }

    private void closeWriters() {
        if (!writes) return;
        IOException failure = null;
        for (Appender w : List.of(metrics, consoleLog, samples)) {
            try {
                w.close();
            } catch (IOException e) {
                failure = e;
            }
        }
        if (failure != null) throw new JgptException(dir + ": cannot close run files (" + JgptException.reason(failure) + ")", failure);
    }

    private static void deleteIfEmpty(Path dir) throws IOException {
        try {
            Files.deleteIfExists(dir);
        } catch (java.nio.file.DirectoryNotEmptyException kept) {
            // something this process did not write is in it
        }
    }

    private static Map<String, Object> fields(Object... keysAndValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) m.put((String) keysAndValues[i], keysAndValues[i + 1]);
        return m;
    }

    /**
     * One of the run's append-only files, opened (and made, when missing) by its first write, so that
     * reopening a run makes no file before anything is written; closed, it opens again on the next.
     */
    private static final class Appender {
        private final Path file;
        private BufferedWriter out;

        Appender(Path file) {
            this.file = file;
        }

        void write(String text) {
            try {
                if (out == null) out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                out.write(text);
                out.flush();
            } catch (IOException e) {
                throw new JgptException(file + ": cannot write (" + JgptException.reason(e) + ")", e);
            }
        }

        void close() throws IOException {
            if (out == null) return;
            BufferedWriter w = out;
            out = null;
            w.close();
        }
    }

    /** A folder a new run may take: missing, or empty but for an unheld lock file. */
    /**
     * Whether a run may start in {@code dir}: it is missing, or holds nothing but a lock file and an
     * empty checkpoints/ (what a start killed before writing config.yaml leaves behind).
     */
    private static boolean isEmptyOrMissing(Path dir) {
        if (!Files.exists(dir)) return true;
        if (!Files.isDirectory(dir)) return false;
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.allMatch(p -> p.getFileName().toString().equals(RunLock.LOCK_FILE)
                    || p.getFileName().toString().equals(CHECKPOINTS_DIR) && isEmptyFolder(p));
        } catch (IOException e) {
            throw new JgptException(dir + ": cannot list (" + JgptException.reason(e) + ")", e);
        }
    }

    private static boolean isEmptyFolder(Path dir) {
        if (!Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return false;
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Ends the file with a newline: a tail after the last one is a line a killed process left
     * behind, kept (terminated) when it is a whole metrics object and cut off when it is not.
     */
    private static void dropUnterminatedLine(Path file) throws IOException {
        if (!Files.exists(file)) return;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            long end = f.length();
            long keep = end;
            while (keep > 0) {
                f.seek(keep - 1);
                if (f.read() == '\n') break;
                keep--;
            }
            if (keep == end) return;
            byte[] tail = new byte[(int) (end - keep)];
            f.seek(keep);
            f.readFully(tail);
            try {
                Metrics.parse(new String(tail, StandardCharsets.UTF_8));
                f.seek(end);
                f.write('\n');
            } catch (RuntimeException halfWritten) {
                f.setLength(keep);
            }
        }
    }


}
