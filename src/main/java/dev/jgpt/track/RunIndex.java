package dev.jgpt.track;

import dev.jgpt.io.TrainingCheckpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The runs under a runs directory: every folder in it that holds any of a run's files (config.yaml,
 * metrics.jsonl, run.json, status.json, checkpoints/), however it got there — a run copied in from
 * another machine lists like one trained here.
 */
public final class RunIndex {
    private final Path runsDir;
    private final MetricsCache cache = new MetricsCache();

    public RunIndex(Path runsDir) {
        this.runsDir = runsDir;
    }

    public Path runsDir() {
        return runsDir;
    }

    /** Every run, newest first (by creation time where known, else by name). */
    public List<RunInfo> list() {
        List<RunInfo> runs = new ArrayList<>();
        for (Path dir : runDirs()) runs.add(RunInfo.read(dir, cache));
        runs.sort(Comparator.comparing((RunInfo r) -> r.created() == null ? Instant.EPOCH : r.created()).reversed()
                .thenComparing(RunInfo::name, Comparator.reverseOrder()));
        return runs;
    }

    /** The run called {@code name} (a folder directly under the runs directory), or null when there is none. */
    public RunInfo find(String name) {
        Path dir = runDir(name);
        return dir == null ? null : RunInfo.read(dir, cache);
    }

    /** The folder of the run called {@code name}; null when the name is not a plain folder name or no run is there. */
    public Path runDir(String name) {
        if (name == null || name.isEmpty() || name.equals(".") || name.equals("..") || name.contains("/")
                || name.contains("\\") || name.indexOf('\0') >= 0) {
            return null;
        }
        Path dir = runsDir.resolve(name);
        return isRun(dir) ? dir : null;
    }

    /** The run folders, sorted by name. */
    public List<Path> runDirs() {
        if (!Files.isDirectory(runsDir)) return List.of();
        try (Stream<Path> s = Files.list(runsDir)) {
            return s.filter(p -> !p.getFileName().toString().startsWith(".") && isRun(p)).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Whether {@code dir} is a folder holding any of a run's files. */
    public static boolean isRun(Path dir) {
        if (!Files.isDirectory(dir)) return false;
        for (String f : List.of(RunDirectory.CONFIG_FILE, RunDirectory.METRICS_FILE, RunRecord.RECORD_FILE, RunStatus.STATUS_FILE)) {
            if (Files.isRegularFile(dir.resolve(f))) return true;
        }
        try {
            return !TrainingCheckpoint.list(dir.resolve(RunDirectory.CHECKPOINTS_DIR)).isEmpty();
        } catch (IOException e) {
            return false;
        }
    }
}
