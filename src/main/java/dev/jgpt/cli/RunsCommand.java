package dev.jgpt.cli;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import dev.jgpt.JgptException;
import dev.jgpt.track.ConfigTree;
import dev.jgpt.track.Metrics;
import dev.jgpt.track.RunIndex;
import dev.jgpt.track.RunInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** Lists the runs in a runs directory, or shows one in full. */
@Command(name = "runs", mixinStandardHelpOptions = true, subcommands = RunsCommand.Show.class,
        description = {"List every run: status, steps, losses, HellaSwag, tokens, wall time, and what --set changed "
                + "from the config file it was started from.",
                "Files that cannot be read are reported once on standard error and skipped; the rest is listed."})
public final class RunsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--dir", paramLabel = "DIR", description = "the runs directory (default: runs)")
    Path dir = Path.of("runs");

    @Option(names = "--json", description = "print a JSON array instead of a table")
    boolean json;

    @Override
    public Integer call() {
        requireNotFile(dir);
        if (!Files.isDirectory(dir)) throw new JgptException("--dir " + dir + ": no such directory (train a run first: jgpt train)");
        List<RunInfo> runs = new RunIndex(dir).list();
        PrintWriter out = spec.commandLine().getOut();
        reportProblems(spec.commandLine().getErr(), "jgpt runs", runs);
        if (json) {
            JsonArray a = new JsonArray();
            runs.forEach(r -> a.add(r.toJson(false)));
            out.println(new GsonBuilder().setPrettyPrinting().serializeNulls().disableHtmlEscaping().create().toJson(a));
        } else if (runs.isEmpty()) {
            out.println("no runs in " + dir);
        } else {
            out.print(table(runs));
        }
        out.flush();
        return 0;
    }

    /** A runs directory that is a file holds no runs, and "no such run" or "no runs yet" would hide why. */
    static void requireNotFile(Path dir) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) throw new JgptException("--dir " + dir + ": is a file, not a folder");
    }

    /** Each run's problems, one line each, prefixed by the command that found them ("jgpt plot"). */
    static void reportProblems(PrintWriter err, String command, List<RunInfo> runs) {
        for (RunInfo r : runs) for (String p : r.problems()) err.println(command + ": " + r.name() + ": " + p);
        err.flush();
    }

    /** The listing: one row per run, unknowns as "-". */
    static String table(List<RunInfo> runs) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "STATUS", "STEPS", "TRAIN LOSS", "BEST VAL", "HELLASWAG", "TOKENS", "WALL", "CHANGED FROM CONFIG FILE"});
        for (RunInfo r : runs) {
            Metrics.Entry train = r.lastTrain(), val = r.bestVal(), hs = r.lastHellaSwag();
            String status = r.status().state().word() + (r.divergedAt() >= 0 ? " (diverged)" : "");
            rows.add(new String[] {
                    r.name(), status,
                    r.stepsDone() + "/" + (r.maxSteps() == null ? "?" : r.maxSteps()),
                    train == null ? "-" : loss(train.number("loss")),
                    val == null ? "-" : loss(val.number("loss")),
                    hs == null ? "-" : String.format(Locale.ROOT, "%.4f", hs.number("acc_norm")),
                    r.tokensSeen() == null ? "-" : count(r.tokensSeen()),
                    r.wallTime() == null ? "-" : duration(r.wallTime()),
                    changes(r.changedFromFile())});
        }
        int[] width = new int[rows.getFirst().length];
        for (String[] row : rows) for (int i = 0; i < row.length; i++) width[i] = Math.max(width[i], row[i].length());
        StringBuilder sb = new StringBuilder();
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int i = 0; i < row.length; i++) {
                line.append(row[i]);
                if (i < row.length - 1) line.append(" ".repeat(width[i] - row[i].length() + 2));
            }
            sb.append(line.toString().stripTrailing()).append('\n');
        }
        return sb.toString();
    }

    static String changes(List<ConfigTree.Difference> diffs) {
        if (diffs.isEmpty()) return "";
        List<String> parts = new ArrayList<>();
        for (ConfigTree.Difference d : diffs) {
            parts.add(d.key() + "=" + ConfigTree.show(d.right()) + " (file: " + ConfigTree.show(d.left()) + ")");
        }
        return String.join(", ", parts);
    }

    static String loss(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.4f", v) : Double.toString(v);
    }

    /** 1234 -> 1.2K, 3_500_000 -> 3.5M, 10_000_000_000 -> 10.0B. */
    static String count(long n) {
        if (n < 1000) return Long.toString(n);
        String[] units = {"K", "M", "B", "T"};
        double v = n;
        int u = -1;
        while (v >= 1000 && u < units.length - 1) {
            v /= 1000;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f%s", v, units[u]);
    }

    /** To the nearest second, as the dashboard rounds it (fmtDuration in dashboard.js): 9.7 s is 0m10s in both. */
    static String duration(Duration d) {
        long s = Math.round(d.toMillis() / 1000.0);
        if (s >= 86400) return String.format("%dd%02dh", s / 86400, s / 3600 % 24);
        if (s >= 3600) return String.format("%dh%02dm", s / 3600, s / 60 % 60);
        return String.format("%dm%02ds", s / 60, s % 60);
    }

    /** One run in full: status, where it came from, progress, checkpoints, latest samples, config. */
    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "Show one run in full: its status, start record, progress, checkpoints with their steps and "
                    + "validation losses, latest samples and config.")
    static final class Show implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @ParentCommand
        RunsCommand parent;

        @Parameters(paramLabel = "NAME", description = "a run's name under --dir, or the path of a run directory")
        String name;

        // null when not given here: then `jgpt runs --dir D show NAME`'s D applies
        @Option(names = "--dir", paramLabel = "DIR", description = "the runs directory (default: the --dir before show, else runs)")
        Path dir;

        @Option(names = "--json", description = "print JSON instead of text")
        boolean json;

        @Override
        public Integer call() {
            RunInfo r = RunInfo.read(resolveRun(dir != null ? dir : parent.dir, name));
            PrintWriter out = spec.commandLine().getOut();
            reportProblems(spec.commandLine().getErr(), "jgpt runs show", List.of(r));
            if (json) {
                out.println(new GsonBuilder().setPrettyPrinting().serializeNulls().disableHtmlEscaping().create().toJson(r.toJson(true)));
            } else {
                out.print(describe(r));
            }
            out.flush();
            return 0;
        }
    }

    /** A run given as a name under {@code runsDir} or as a path; one error line when it is neither. */
    static Path resolveRun(Path runsDir, String name) {
        Path byName = runsDir.resolve(name);
        if (!name.contains("/") && RunIndex.isRun(byName)) return byName;
        Path byPath = Path.of(name);
        if (RunIndex.isRun(byPath)) return byPath;
        if (Files.isDirectory(byPath) || Files.isDirectory(byName)) {
            throw new JgptException(name + ": not a run directory (no config.yaml, metrics.jsonl, run.json or checkpoints)");
        }
        throw new JgptException(name + ": no such run in " + runsDir + " (jgpt runs --dir " + JgptException.shellWord(runsDir) + " lists them)");
    }

    static String describe(RunInfo r) {
        StringBuilder sb = new StringBuilder();
        String status = r.status().state().word();
        if (r.status().error() != null) status += ": " + r.status().error();
        if (r.divergedAt() >= 0) status += " (diverged at step " + r.divergedAt() + ")";
        line(sb, "run", r.name() + " (" + r.dir() + ")");
        line(sb, "status", status);
        JsonObject rec = r.record();
        if (rec != null && rec.get("sessions") instanceof JsonArray sessions) {
            for (JsonElement s : sessions) {
                if (!(s instanceof JsonObject o)) continue;
                String commit = o.has("git_commit") ? ", commit " + text(o, "git_commit").substring(0, Math.min(12, text(o, "git_commit").length()))
                        + (o.has("git_dirty") && o.get("git_dirty").getAsBoolean() ? " (with uncommitted changes)" : "") : "";
                // under mpirun the record is rank 0's: its threads and cores are each process's
                String processes = o.get("processes") instanceof JsonPrimitive p && p.isNumber() && p.getAsInt() > 1
                        ? p.getAsInt() + " processes, each " : "";
                line(sb, "session", text(o, "started") + " on " + text(o, "host") + ": jgpt " + text(o, "jgpt_version") + commit
                        + ", " + text(o, "jvm") + ", " + processes + text(o, "threads") + " threads of " + text(o, "cores") + " cores, " + text(o, "os")
                        + (o.has("device") ? "; trained on " + text(o, "device") : ""));
            }
        }
        if (rec != null && rec.get("config_file") instanceof JsonObject file) {
            String overrides = file.get("overrides") instanceof JsonArray a && !a.isEmpty()
                    ? " with --set " + String.join(" --set ", a.asList().stream().map(ConfigTree::show).toList()) : "";
            line(sb, "config file", text(file, "path") + overrides);
        }
        if (!r.changedFromFile().isEmpty()) line(sb, "changed", changes(r.changedFromFile()));
        line(sb, "steps", r.stepsDone() + "/" + (r.maxSteps() == null ? "?" : r.maxSteps())
                + (r.tokensSeen() == null ? "" : ", " + String.format(Locale.ROOT, "%,d", r.tokensSeen()) + " tokens")
                + (r.wallTime() == null ? "" : ", wall time " + duration(r.wallTime())));
        Metrics.Entry train = r.lastTrain(), val = r.bestVal(), hs = r.lastHellaSwag();
        line(sb, "train loss", train == null ? "-" : loss(train.number("loss")) + " at step " + train.step());
        line(sb, "best val", val == null ? "-" : loss(val.number("loss")) + " at step " + val.step());
        line(sb, "hellaswag", hs == null ? "-" : String.format(Locale.ROOT, "%.4f acc_norm at step %d", hs.number("acc_norm"), hs.step()));
        sb.append("checkpoints\n");
        if (r.checkpoints().isEmpty()) sb.append("  none\n");
        for (RunInfo.Checkpoint c : r.checkpoints()) {
            sb.append(String.format(Locale.ROOT, "  %-14s step %6d  val loss %-8s %8s%n", c.name(), c.step(),
                    Double.isNaN(c.valLoss()) ? "-" : loss(c.valLoss()), count(c.bytes()) + "B"));
        }
        List<Metrics.Entry> samples = r.latestSamples();
        sb.append("latest samples").append(samples.isEmpty() ? "\n  none\n" : " (step " + samples.getFirst().step() + ")\n");
        for (Metrics.Entry s : samples) {
            sb.append("  --- sample ").append(s.hasNumber("index") ? (int) s.number("index") : "?").append('\n');
            s.text("text").lines().forEach(l -> sb.append("  ").append(l).append('\n'));
        }
        sb.append("config\n");
        if (r.config() == null) sb.append("  unknown\n");
        else for (Map.Entry<String, JsonElement> e : ConfigTree.flatten(r.config()).entrySet()) {
            sb.append("  ").append(e.getKey()).append(": ").append(ConfigTree.show(e.getValue())).append('\n');
        }
        return sb.toString();
    }

    private static void line(StringBuilder sb, String label, String value) {
        sb.append(String.format("%-12s %s%n", label, value));
    }

    private static String text(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? "unknown" : ConfigTree.show(e);
    }
}
