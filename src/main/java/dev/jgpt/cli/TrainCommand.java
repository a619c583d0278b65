package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.config.RunConfig;
import dev.jgpt.config.TrainConfig;
import dev.jgpt.data.Prepare;
import dev.jgpt.data.TokenDataset;
import dev.jgpt.dist.AgreedFailure;
import dev.jgpt.dist.DataParallel;
import dev.jgpt.dist.Mpi;
import dev.jgpt.eval.HellaSwag;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.MemoryEstimate;
import dev.jgpt.tensor.Parallel;
import dev.jgpt.track.RunDirectory;
import dev.jgpt.track.RunRecord;
import dev.jgpt.track.RunStatus;
import dev.jgpt.train.Optimizer;
import dev.jgpt.train.Resume;
import dev.jgpt.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import sun.misc.Signal;
import sun.misc.SignalHandler;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** Trains a GPT from a YAML config; with no arguments, the quick start on the JDK's own sources. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train a GPT-2 from a YAML config (default: the built-in quickstart: a small model on the "
                + "JDK's own Java sources, prepared on first use).",
                "Every run gets runs/<name>/ with config.yaml, metrics.jsonl, console.log, samples.txt and checkpoints/.",
                "Ctrl-C or SIGTERM stops at the next micro-batch, writes a checkpoint of the last completed step and exits"
                        + " 130 or 143 (a second one quits at once); --resume continues exactly."})
public final class TrainCommand implements Callable<Integer> {
    @Option(names = {"-c", "--config"}, description = "YAML config file, or a built-in preset: quickstart, gpt2-124m (default: quickstart)")
    String config;

    @Option(names = "--set", paramLabel = "SECTION.KEY=VALUE", description = "override one config key (repeatable), e.g. --set train.max_steps=100")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--name", description = "run name (the folder under log.runs_dir); default: the start time")
    String name;

    @Option(names = "--resume", paramLabel = "RUN_DIR", description = "continue the run in this directory from its newest checkpoint")
    Path resume;

    @Override
    public Integer call() throws Exception {
        if (resume != null && (config != null || name != null)) throw new JgptException("--resume takes the run's own config; drop --config and --name");
        DataParallel group = DataParallel.fromEnvironment();
        try (group) { // under mpirun, MPI_Finalize at the end (also for mpirun -np 1)
            if (group.size() == 1) return trainAsRankZero(group);
            try {
                return group.isMain() ? trainAsRankZero(group) : trainAsFollower(group);
            } catch (AgreedFailure e) {
                throw e; // every rank stops here together, rank 0 saying why
            } catch (Throwable e) {
                // the other ranks wait in a collective call for this one: end the whole job, naming the rank
                System.err.println("jgpt train: rank " + group.rank() + " of " + group.size() + ": " + oneLine(e));
                System.err.flush();
                group.abort(1);
                throw e;
            }
        }
    }

    /**
     * Rank 0 (the only rank without mpirun) owns the run: its directory and lock, the checks, the
     * status, every file. Under mpirun it tells the others what to do once everything is checked:
     * train this config, or exit.
     */
    private int trainAsRankZero(DataParallel group) throws Exception {
        StopSignals signals = StopSignals.install();
        RunDirectory run;
        TrainDevice device = null;
        if (resume != null) {
            if (!Files.isDirectory(resume)) throw new JgptException("--resume " + resume + ": no such run directory");
            run = RunDirectory.open(resume); // takes the run's lock before anything reads or writes it
        } else {
            String file = config == null ? "quickstart" : config;
            RunConfig cfg = loadConfig(file, overrides);
            if (name != null) cfg = cfg.withRunName(name, "--name");
            device = TrainDevice.of(cfg.train().device());
            try {
                device.requireFits(cfg, MemoryEstimate.heap()); // before the run directory exists
                run = RunDirectory.create(cfg, configFile(file, overrides));
            } catch (RuntimeException | IOException e) {
                device.close();
                throw e;
            }
            System.out.println("run directory: " + run.path());
        }
        signals.setUp(run);
        Trainer trainer = null;
        boolean training = false;
        try {
            if (run.isNew()) run.markRunning();
            RunConfig cfg = run.config();
            Path checkpoint = null;
            List<String> damaged = new ArrayList<>();
            if (resume != null) {
                cfg = resumeConfig(run.config());
                checkpoint = TrainingCheckpoint.newestWhole(run.checkpointsDir(), damaged::add); // null: none yet
                RunStatus.State ended = RunStatus.read(run.path()).state();
                if (checkpoint == null && (ended == RunStatus.State.FINISHED || ended == RunStatus.State.INTERRUPTED)) {
                    // it wrote one as it ended: they were deleted since, and training it again would replace its metrics
                    throw new JgptException("--resume " + resume + ": the run ended " + ended.word() + " but its checkpoints are gone,"
                            + " so it cannot go on; start a new run (jgpt train --name ...)");
                }
                device = TrainDevice.of(cfg.train().device());
            }
            // every check happens here, before the run's files change: a refused resume leaves the run as it was
            trainer = trainer(cfg, run, checkpoint, group, device);
            if (resume != null && trainer.finished()) {
                System.out.println("run " + run.name() + " already finished at step " + trainer.step()
                        + "; to train on, raise train.max_steps (--set train.max_steps=N)");
                if (group.size() > 1) group.broadcast(EXIT);
                return 0;
            }
            if (group.size() > 1) { // the other ranks set up from rank 0's config, then all compare their setups
                group.broadcast(run.path().toAbsolutePath() + "\n" + cfg.toYaml());
                group.agree(trainer.setup(), null);
            }
            if (resume != null) {
                damaged.forEach(run::println);
                if (checkpoint == null) {
                    // killed before its first checkpoint (in the first-use prepare, say): there is nothing to go on
                    // from, and its name is taken, so it starts over as llm.c's resume does when it finds none
                    run.println("no checkpoint in " + run.checkpointsDir() + " yet: training " + run.name() + " again from step 0");
                    run.dropMetricsFrom(0);
                }
                if (!cfg.equals(run.config())) run.replaceConfig(cfg);
                run.markRunning();
            }
            training = true;
            signals.training(trainer);
            trainer.run();
            if (trainer.finished()) {
                run.markEnded(RunStatus.State.FINISHED, null);
                System.out.println("run directory: " + run.path() + " (sample from it: jgpt generate --model " + JgptException.shellWord(run.path()) + ")");
                return 0;
            }
            run.markEnded(RunStatus.State.INTERRUPTED, null);
            return 128 + trainer.stopSignal();
        } catch (Throwable e) {
            try {
                if (run.isNew() && (trainer == null || !trainer.trainedAStep())) {
                    run.discard(); // a run that never trained a step leaves nothing, so its name stays free
                } else if (training) {
                    run.markEnded(RunStatus.State.FAILED, oneLine(e));
                }
            } catch (RuntimeException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        } finally {
            try {
                run.close();
            } finally {
                signals.restore();
                if (device != null) device.close();
            }
        }
    }

    private static final String EXIT = "exit";

    /**
     * A rank other than 0: trains the config rank 0 sends, on rank 0's weights, and writes nothing
     * (rank 0 holds the run's lock and writes its files).
     */
    private static int trainAsFollower(DataParallel group) throws Exception {
        StopSignals signals = StopSignals.install();
        try {
            String plan = group.broadcast("");
            if (plan.equals(EXIT)) return 0;
            Path dir = Path.of(plan.substring(0, plan.indexOf('\n')));
            RunConfig cfg = RunConfig.parse(plan.substring(plan.indexOf('\n') + 1), dir.resolve(RunDirectory.CONFIG_FILE).toString(), List.of());
            RunDirectory run = RunDirectory.follower(dir, cfg);
            signals.setUp(run);
            TrainDevice device = null;
            Trainer trainer = null;
            Throwable failure = null;
            try {
                device = TrainDevice.of(cfg.train().device());
                trainer = trainer(cfg, run, null, group, device);
            } catch (Throwable e) {
                failure = e;
            }
            try {
                group.agree(trainer == null ? "" : trainer.setup(), failure == null ? null : oneLine(failure));
                signals.training(trainer);
                trainer.run();
                return trainer.finished() ? 0 : 128 + trainer.stopSignal();
            } finally {
                if (device != null) device.close();
            }
        } finally {
            signals.restore();
        }
    }

    /**
     * Builds a run's parts and hands them to the training loop: the threads, the data (prepared if
     * missing), the model (from {@code checkpoint}, model.init_from or a random init), AdamW, the
     * resumed position, HellaSwag, and the engine on {@code device}. Everything is checked here and
     * nothing is written into the run directory, so a refused start leaves the run as it was. In a
     * data-parallel {@code group}, rank 0 passes the checkpoint and the other ranks none: they take
     * rank 0's when the loop starts.
     */
    static Trainer trainer(RunConfig cfg, RunDirectory run, Path checkpoint, DataParallel group, TrainDevice device) throws IOException {
        device.requireFits(cfg, MemoryEstimate.heap());
        TrainConfig t = cfg.train();
        // ranks on one host share its cores: by default each takes its part
        int threads = t.threads() == 0 && group.size() > 1
                ? Math.max(1, Runtime.getRuntime().availableProcessors() / Mpi.localSize()) : t.threads();
        Parallel pool = new Parallel(Parallel.threadsFor(threads, "train.threads", run::println));
        cfg.gradAccumSteps(group.size()); // the batch must split into whole micro-batches on every rank
        // rank 0 prepares what is missing before the others start; they read what it prepared
        Path data = group.isMain() ? Prepare.ensureShards(cfg.data().dir(), cfg.data().source(), cfg.data().textField(), run::println, run::logOnly)
                : Prepare.requireShards(cfg.data().dir(), "rank 0 prepares data.source only on its own machine: give every rank"
                        + " this folder (a shared file system), or run the same jgpt prepare on each machine first");
        var order = TokenDataset.Order.parse(cfg.data().order().name());
        int vocab = cfg.model().shape().vocabSize(), rank = group.rank(), ranks = group.size();
        TokenDataset train = new TokenDataset(data, "train", t.microBatchSize(), t.seqLen(), rank, ranks, order, cfg.data().seed(), vocab);
        TokenDataset val = new TokenDataset(data, "val", t.microBatchSize(), t.seqLen(), rank, ranks, TokenDataset.Order.SEQUENTIAL, cfg.data().seed(), vocab);

        Resume resume = checkpoint == null ? null : Resume.read(checkpoint, group.size(), cfg);
        GptConfig shape = cfg.model().shape();
        Path initFrom = cfg.model().initFrom();
        Gpt model;
        if (resume != null) {
            model = resume.model(shape);
        } else if (initFrom != null) {
            model = ModelFiles.load(initFrom);
            Resume.requireInitShape(initFrom, model.config, shape);
        } else {
            model = new Gpt(shape);
            model.initialize(t.seed());
        }
        model.runOn(pool);
        Optimizer optimizer = new Optimizer(model, (float) t.weightDecay(), (float) t.beta1(), (float) t.beta2(), (float) t.eps());
        if (resume != null) resume.restore(model, optimizer, train);
        List<HellaSwag.Example> hellaswag = HellaSwag.forTraining(cfg.eval().hellaswagEvery(), cfg.eval().hellaswagFile(), cfg.eval().hellaswagLimit());
        return new Trainer(cfg, run, group, model, optimizer, device.engines().apply(model, optimizer), device.description(),
                device.memoryLine(cfg, MemoryEstimate.heap()), train, val, hellaswag, resume);
    }

    /** As above, on the device the config's train.device picks here. */
    public static Trainer trainer(RunConfig cfg, RunDirectory run, Path checkpoint, DataParallel group) throws IOException {
        return trainer(cfg, run, checkpoint, group, TrainDevice.of(cfg.train().device()));
    }

    /** The resumed run's config with the --set overrides; the run's folder (log.name, log.runs_dir) stays. */
    private RunConfig resumeConfig(RunConfig saved) {
        if (overrides.isEmpty()) return saved;
        for (String o : overrides) {
            String key = o.contains("=") ? o.substring(0, o.indexOf('=')).strip() : o;
            if (key.equals("log.name") || key.equals("log.runs_dir")) {
                throw new JgptException("--set " + key + ": a resumed run stays in its folder " + resume);
            }
        }
        return saved.withOverrides(overrides);
    }

    /** What status.json records of an error: the line the user saw (see ErrorHandler). */
    static String oneLine(Throwable e) {
        boolean user = e instanceof JgptException || e instanceof java.io.UncheckedIOException || e instanceof java.nio.file.NoSuchFileException;
        String text = user && e.getMessage() != null ? e.getMessage() : e.toString();
        return text.lines().findFirst().orElse(text);
    }

    /** A config file, or the name of a preset shipped in the jar (configs/NAME.yaml). */
    static RunConfig loadConfig(String config, List<String> overrides) throws IOException {
        Path file = Path.of(config);
        if (Files.isRegularFile(file)) return RunConfig.load(file, overrides);
        if (Files.isDirectory(file)) throw new JgptException("--config " + config + ": is a directory, not a config file");
        String preset = config.endsWith(".yaml") ? config : config + ".yaml";
        try (InputStream in = TrainCommand.class.getResourceAsStream("/configs/" + Path.of(preset).getFileName())) {
            if (in == null || config.contains("/")) {
                throw new JgptException("--config " + config + ": no such file, and not a built-in preset (quickstart, gpt2-124m)");
            }
            return RunConfig.parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), "configs/" + preset, overrides);
        }
    }

    /** The config file (or preset) a run starts from, for its record; loadConfig has already read it once. */
    static RunRecord.ConfigFile configFile(String config, List<String> overrides) throws IOException {
        Path file = Path.of(config);
        if (Files.isRegularFile(file)) return new RunRecord.ConfigFile(config, Files.readString(file, StandardCharsets.UTF_8), overrides);
        String preset = "configs/" + Path.of(config.endsWith(".yaml") ? config : config + ".yaml").getFileName();
        try (InputStream in = TrainCommand.class.getResourceAsStream("/" + preset)) {
            return new RunRecord.ConfigFile(preset, new String(in.readAllBytes(), StandardCharsets.UTF_8), overrides);
        }
    }

    /**
     * SIGINT (Ctrl-C) and SIGTERM (kill, timeout, Slurm). While training, the first one stops the loop
     * at the next micro-batch boundary with a checkpoint of the last completed step, and the command
     * exits 128 + the signal's number (130, 143); a second one exits at once. The same signal again
     * within {@link #SAME_REQUEST_NANOS} is the same request: timeout sends its signal to the
     * process and to its process group, so it arrives twice. Before training starts there is nothing
     * to save: a new run is removed and the process exits at once.
     */
    static final class StopSignals {
        static final long SAME_REQUEST_NANOS = 1_000_000_000L;
        private final Map<Signal, SignalHandler> previous = new HashMap<>();
        private volatile int first;
        private long firstAt;
        private RunDirectory run;
        private Trainer trainer;
        private boolean ended;

        static StopSignals install() {
            StopSignals s = new StopSignals();
            // USR1: the graceful stop mpirun forwards to every rank (its own SIGINT and SIGTERM kill them soon after)
            for (String name : List.of("INT", "TERM", "USR1")) {
                try {
                    Signal sig = new Signal(name);
                    s.previous.put(sig, Signal.handle(sig, s::handle));
                } catch (IllegalArgumentException e) {
                    // not ours to handle on this platform: the run then stops only by being killed,
                    // and resumes from its last checkpoint
                }
            }
            return s;
        }

        /** Gives the signals back to the JVM (the command is returning its own exit code). */
        synchronized void restore() {
            ended = true;
            previous.forEach(Signal::handle);
        }

        synchronized void setUp(RunDirectory run) {
            this.run = run;
        }

        synchronized void training(Trainer trainer) {
            this.trainer = trainer;
            if (first != 0) trainer.requestStop(first);
        }

        private void handle(Signal sig) {
            int code = 128 + sig.getNumber();
            synchronized (this) {
                if (ended) return; // the command is returning its own code
                if (first == sig.getNumber() && System.nanoTime() - firstAt < SAME_REQUEST_NANOS) return;
                if (first == 0 && trainer != null) {
                    first = sig.getNumber();
                    firstAt = System.nanoTime();
                    System.err.println("\nSIG" + sig.getName() + ": stopping at the next micro-batch and writing a checkpoint of the"
                            + " last completed step (" + (sig.getName().equals("INT") ? "Ctrl-C again" : "a second signal") + " quits at once)");
                    trainer.requestStop(first);
                    return;
                }
                // nothing to save yet, or asked twice: leave now, with the run's state on record
                try {
                    if (run != null && trainer == null && run.isNew()) run.discard();
                    else if (run != null && trainer != null) run.markEnded(RunStatus.State.INTERRUPTED, null);
                } catch (RuntimeException e) {
                    System.err.println("jgpt train: " + e.getMessage());
                }
                System.out.flush();
                Runtime.getRuntime().halt(code);
            }
        }
    }
}
