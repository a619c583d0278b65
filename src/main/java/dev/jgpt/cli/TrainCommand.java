package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.config.RunConfig;
import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.model.MemoryEstimate;
import dev.jgpt.track.RunDirectory;
import dev.jgpt.track.RunRecord;
import dev.jgpt.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import sun.misc.Signal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** Trains a GPT from a YAML config; with no arguments, the quick start on the JDK's own sources. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train a GPT-2 from a YAML config (default: the built-in quickstart: a small model on the "
                + "JDK's own Java sources, prepared on first use).",
                "Every run gets runs/<name>/ with config.yaml, metrics.jsonl, console.log, samples.txt and checkpoints/.",
                "Ctrl-C finishes the current step, writes a checkpoint and exits; --resume continues exactly."})
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
        RunDirectory run;
        Path checkpoint = null;
        if (resume != null) {
            if (config != null || name != null) throw new JgptException("--resume takes the run's own config; drop --config and --name");
            if (!Files.isDirectory(resume)) throw new JgptException("--resume " + resume + ": no such run directory");
            var checkpoints = TrainingCheckpoint.list(resume.resolve(RunDirectory.CHECKPOINTS_DIR));
            if (checkpoints.isEmpty()) throw new JgptException("--resume " + resume + ": the run has no checkpoint to resume from");
            checkpoint = checkpoints.getLast();
            run = RunDirectory.open(resume);
            if (!overrides.isEmpty()) {
                // e.g. a longer schedule: the run's config.yaml is rewritten so it stays the truth
                run.close();
                RunConfig changed = run.config().withOverrides(overrides);
                dev.jgpt.io.AtomicFiles.writeString(resume.resolve(RunDirectory.CONFIG_FILE), changed.toYaml());
                run = RunDirectory.open(resume);
            }
        } else {
            String file = config == null ? "quickstart" : config;
            RunConfig cfg = loadConfig(file, overrides);
            if (name != null) cfg = cfg.withRunName(name, "--name");
            cfg.memoryEstimate().requireFits(MemoryEstimate.heap()); // before the run directory exists
            run = RunDirectory.create(cfg, configFile(file, overrides));
            System.out.println("run directory: " + run.path());
        }
        try (RunDirectory r = run) {
            Trainer trainer = new Trainer(r.config(), r, checkpoint);
            installInterruptHandler(trainer);
            trainer.run();
            System.out.println("run directory: " + r.path() + " (sample from it: jgpt generate --model " + r.path() + ")");
        }
        return 0;
    }

    /** A config file, or the name of a preset shipped in the jar (configs/NAME.yaml). */
    static RunConfig loadConfig(String config, List<String> overrides) throws IOException {
        Path file = Path.of(config);
        if (Files.isRegularFile(file)) return RunConfig.load(file, overrides);
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

    /** First Ctrl-C: stop after this step with a checkpoint. Second: quit now. */
    private static void installInterruptHandler(Trainer trainer) {
        try {
            Signal.handle(new Signal("INT"), new sun.misc.SignalHandler() {
                private volatile boolean once;

                @Override
                public void handle(Signal sig) {
                    if (once) Runtime.getRuntime().halt(130);
                    once = true;
                    System.out.println("\ninterrupted: finishing this step and writing a checkpoint (Ctrl-C again to quit at once)");
                    trainer.requestStop();
                }
            });
        } catch (IllegalArgumentException e) {
            // SIGINT is not ours to handle here (a platform without it, or a shell that ignores it for
            // background jobs): the run then stops only by being killed, and resumes from its last checkpoint
        }
    }
}
