package dev.jgpt.train;

import dev.jgpt.JgptException;
import dev.jgpt.config.RunConfig;
import dev.jgpt.config.TrainConfig;
import dev.jgpt.data.TokenDataset;
import dev.jgpt.dist.DataParallel;
import dev.jgpt.eval.Evaluator;
import dev.jgpt.eval.HellaSwag;
import dev.jgpt.io.ModelCard;
import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.Inference;
import dev.jgpt.track.ProgressBar;
import dev.jgpt.track.RunDirectory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * build-nanogpt's training loop: at every step, evaluate when due (validation loss, HellaSwag,
 * samples, checkpoint), then accumulate gradients over micro-batches up to the token budget, clip,
 * set the learning rate from the schedule and take one AdamW step. Evaluations at step s see the
 * model after s updates, so the last round (s = max_steps) sees the finished model.
 *
 * <p>The passes, the evaluations' forwards and the update run on the {@link Engine} (the CPU's or
 * the GPU's); samples and checkpoints read the host model and optimizer, which the engine's state is
 * copied into first ({@link Engine#toHost}: nothing to copy on the CPU).
 */
public final class Trainer {
    private final RunConfig cfg;
    private final RunDirectory run;
    private final DataParallel group;
    private final Gpt model;
    private final Optimizer optimizer;
    private final Engine engine;
    private final String device, memory;
    private boolean hostCurrent; // the host model and optimizer hold the engine's state as of now
    private final TokenDataset train, val;
    private final List<HellaSwag.Example> hellaswag;
    private final LrSchedule schedule;
    private final Resume resumed;
    private Inference inference;
    private int step;
    private int stepsTrained;
    private boolean savedThisStep, stoppedEarly;
    private double lastValLoss = Double.NaN;
    private double lastTrainLoss = Double.NaN;
    /** The number of the signal that asked this rank to stop (0: none yet), set from the signal's thread. */
    private volatile int stopRequested;
    /** The stop the ranks agreed on: the largest signal any of them was sent, so that all exit with its code. */
    private int stopAgreed;

    /**
     * The loop over a run's parts, which the command has built and checked (see TrainCommand): the
     * host model and its optimizer, the engine that trains them, where it runs ({@code device}: "cpu
     * (why)", "cuda, its GPU (why)") and the run's memory estimate line, the training data at its position and the validation data, the HellaSwag
     * items (none when off), and {@code resumed}, where a resumed run goes on from (null for a new
     * run). In a data-parallel {@code group} every rank passes its own; they take rank 0's when
     * {@link #run} starts.
     */
    public Trainer(RunConfig cfg, RunDirectory run, DataParallel group, Gpt model, Optimizer optimizer, Engine engine,
                   String device, String memory, TokenDataset train, TokenDataset val, List<HellaSwag.Example> hellaswag, Resume resumed) {
        this.cfg = cfg;
        this.run = run;
        this.group = group;
        this.model = model;
        this.optimizer = optimizer;
        this.engine = engine;
        this.device = device;
        this.memory = memory;
        this.train = train;
        this.val = val;
        this.hellaswag = hellaswag;
        this.resumed = resumed;
        schedule = LrSchedule.of(cfg.train());
        if (resumed != null) {
            step = resumed.state().step();
            lastValLoss = resumed.state().valLoss();
        }
    }

    /** The next step to run: the checkpoint's step for a resumed run, max_steps for a finished one. */
    public int step() {
        return step;
    }

    /** Whether the run has reached max_steps (and had its final evaluation and checkpoint). */
    public boolean finished() {
        return step >= cfg.train().maxSteps() && !stoppedEarly;
    }

    /** Whether this process has completed a training step: before that, a new run has nothing worth keeping. */
    public boolean trainedAStep() {
        return stepsTrained > 0;
    }

    /**
     * Asks the loop to stop at the next micro-batch boundary for {@code signal} (Ctrl-C, SIGTERM: its
     * number, > 0): the partial step is dropped and the checkpoint of the last completed step is
     * written. Safe from any thread.
     */
    public void requestStop(int signal) {
        stopRequested = signal;
    }

    /**
     * What this rank reads, for the ranks of a group to compare before they train ({@link DataParallel#agree}):
     * its training and validation shards and its HellaSwag examples, which come from its own disk.
     */
    public String setup() {
        return "training data: " + train.shards().size() + " shards, " + train.tokensInSplit() + " tokens; validation data: "
                + val.shards().size() + " shards, " + val.tokensInSplit() + " tokens; HellaSwag: " + hellaswag.size() + " examples";
    }

    /** The signal the run stopped for (the largest any rank was sent), or 0. */
    public int stopSignal() {
        return stopAgreed;
    }

    /** Runs to max_steps (or until stopped); returns the last training loss. */
    public double run() throws IOException {
        TrainConfig t = cfg.train();
        int B = t.microBatchSize(), T = t.seqLen(), ranks = group.size(), accum = cfg.gradAccumSteps(ranks), maxSteps = t.maxSteps();
        int[] inputs = new int[B * T], targets = new int[B * T];
        TrainingCheckpoint.State start = Resume.joinGroup(group, model, optimizer, train, position());
        engine.fromHost();
        hostCurrent = true;
        step = start.step();
        lastValLoss = start.valLoss();
        if (resumed != null) {
            run.dropMetricsFrom(step);
            run.println("resuming " + run.name() + " at step " + step + " from " + resumed.checkpoint());
        }
        run.println("device: " + device);
        run.println(memory);
        run.recordDevice(device, model.pool().threads(), group.size());
        String hellaswagOff = HellaSwag.offInTraining(cfg.eval().hellaswagEvery(), cfg.eval().hellaswagFile());
        if (hellaswagOff != null) run.println(hellaswagOff);
        // weights that did not start from the seed say where they came from
        String weights = resumed == null && cfg.model().initFrom() != null ? ", weights from " + cfg.model().initFrom() : "";
        run.println(String.format("model %,d parameters (%d layers, %d heads, %d channels%s); %d tokens/step = %d x %d x %d accumulation%s; %d steps",
                model.config.realParameterCount(), model.config.nLayer(), model.config.nHead(), model.config.nEmbd(), weights,
                t.totalBatchSize(), B, T, accum, ranks > 1 ? " x " + ranks + " processes" : "", maxSteps));
        if (group.isMain() && step < maxSteps) run.println(StepTime.measure(engine, B, T, accum, run::println).describe(maxSteps - step, T));
        double loss = Double.NaN;
        int firstStep = step;
        long started = System.nanoTime();
        for (; ; step++) {
            boolean last = step >= maxSteps;
            evaluate();
            if (last || stopAgreed()) {
                stop(last, 0, accum);
                break;
            }
            long t0 = System.nanoTime();
            // where this step's batches start: a step cut short gives them back, so a resume trains on them
            TokenDataset.State stepStart = train.state();
            double lossAccum = 0; // the gradient is zero here: the optimizer clears it after each step
            int micro = 0;
            ProgressBar bar = accum > 1 ? progress(String.format("step %5d/%d", step, maxSteps), accum, "micro-batches", "tokens") : null;
            try {
                for (; micro < accum && !stopAgreed(); micro++) {
                    train.nextBatch(inputs, targets);
                    lossAccum += engine.forward(inputs, targets, B, T) / accum;
                    engine.backward(1f / (accum * ranks)); // the ranks' gradients are summed below
                    if (bar != null) {
                        bar.add("tokens", (long) B * T * ranks);
                        bar.add(1);
                    }
                }
            } finally {
                if (bar != null) bar.clear(); // the step's own line follows
            }
            if (micro < accum) {
                engine.zeroGrad();
                train.restore(stepStart);
                stop(false, micro, accum);
                break;
            }
            // once per step, as DDP with no_sync on all but the last micro-batch
            if (ranks > 1) engine.reduceGradients(group::sumGradients);
            lossAccum = group.mean(lossAccum);
            double lr = schedule.lr(step);
            double norm = engine.gradNorm();
            requireFinite(lossAccum, lr, norm);
            engine.step((float) lr, t.gradClip(), norm);
            hostCurrent = false;
            stepsTrained++;
            double ms = (System.nanoTime() - t0) / 1e6;
            double tokensPerSec = t.totalBatchSize() / (ms / 1000);
            loss = lastTrainLoss = lossAccum;
            run.logTrain(step, loss, lr, norm, ms, tokensPerSec);
            if (logDue(cfg, step) || step == maxSteps - 1) {
                double perStep = (System.nanoTime() - started) / 1e9 / (step + 1 - firstStep);
                run.println(String.format("step %5d/%d %s | loss %.6f | lr %.4e | norm %.4f | %.0f ms | %.0f tok/s | eta %s",
                        step, maxSteps, ProgressBar.cells((step + 1.0) / maxSteps, 20), loss, lr, norm, ms, tokensPerSec,
                        ProgressBar.clock(perStep * (maxSteps - step - 1))));
            }
        }
        return loss;
    }

    /**
     * Ends the loop at step {@code step}: a run stopped early gets the checkpoint of this step (unless
     * the evaluation just wrote it) and says how to go on; {@code microBatchesDropped} of the step
     * that was under way are given back.
     */
    private void stop(boolean last, int microBatchesDropped, int accum) throws IOException {
        if (last) return;
        stoppedEarly = true;
        if (!savedThisStep) saveCheckpoint();
        String dropped = microBatchesDropped > 0
                ? " (dropped the " + microBatchesDropped + " of its " + accum + " micro-batches it had done)" : "";
        run.println("stopped at step " + step + dropped + "; checkpoint " + TrainingCheckpoint.dirFor(run.checkpointsDir(), step)
                + "; resume with: jgpt train --resume " + JgptException.shellWord(run.path()));
    }

    // ---- the cadence: every so many steps, and at the last step (max_steps, after the last update) ----

    /** Validation loss before this step's update: every val_every steps from 0, and at the last step. */
    static boolean valDue(RunConfig cfg, int step) {
        return cfg.eval().valEvery() > 0 && (step % cfg.eval().valEvery() == 0 || step == cfg.train().maxSteps());
    }

    /** HellaSwag: every hellaswag_every steps from 0, and at the last step. */
    static boolean hellaswagDue(RunConfig cfg, int step) {
        return cfg.eval().hellaswagEvery() > 0 && (step % cfg.eval().hellaswagEvery() == 0 || step == cfg.train().maxSteps());
    }

    /** Samples: every sample_every steps except step 0 (an untrained model's noise), and at the last step. */
    static boolean sampleDue(RunConfig cfg, int step) {
        int every = cfg.eval().sampleEvery();
        return every > 0 && ((step > 0 && step % every == 0) || step == cfg.train().maxSteps());
    }

    /** A checkpoint: every checkpoint_every steps except step 0, and at the last step (build-nanogpt's rule). */
    static boolean checkpointDue(RunConfig cfg, int step) {
        int every = cfg.eval().checkpointEvery();
        return step > 0 && ((every > 0 && step % every == 0) || step == cfg.train().maxSteps());
    }

    /** The training loss's line: every log_every steps from 0, and at the last step. */
    static boolean logDue(RunConfig cfg, int step) {
        return step % cfg.log().logEvery() == 0 || step == cfg.train().maxSteps();
    }

    /**
     * The evaluations of step {@code step}, before its update; a stop request skips the ones not yet
     * begun and ends the one under way at its next batch, item or token (a resumed run does them again
     * at this step: HellaSwag is 10,042 forward passes), except at max_steps: there no step
     * is left to stop before, and a finished run is not resumed, so its final evaluations happen now or never.
     */
    private void evaluate() throws IOException {
        savedThisStep = false;
        // the evaluations are collective: every rank skips the same ones
        boolean stopping = stopAgreed() && step < cfg.train().maxSteps();
        if (!stopping) {
            try {
                evaluations();
            } catch (EvaluationStopped stopped) {
                run.println(String.format("step %5d: evaluation stopped (a resumed run makes it again)", step));
            }
        }
        if (checkpointDue(cfg, step)) saveCheckpoint();
    }

    /** Thrown between the batches, items or tokens of an evaluation when the run is to stop. */
    private static final class EvaluationStopped extends RuntimeException {
        EvaluationStopped() {
            super(null, null, false, false);
        }
    }

    /**
     * Ends the evaluation under way when the ranks agree to stop; collective: every rank calls it at
     * the same points (after each validation batch, after each of the HellaSwag items every rank has).
     */
    private void stopEvaluationIfAgreed() {
        if (step < cfg.train().maxSteps() && stopAgreed()) throw new EvaluationStopped();
    }

    private void evaluations() {
        var e = cfg.eval();
        TrainConfig t = cfg.train();
        if (valDue(cfg, step)) {
            if (group.size() > 1) {
                toHost();
                group.checkSameWeights(model.params());
            }
            ProgressBar bar = progress(String.format("step %5d validation", step), e.valSteps(), "batches");
            try {
                lastValLoss = group.mean(Evaluator.validationLoss(engine, val, e.valSteps(), t.microBatchSize(), t.seqLen(), () -> {
                    bar.add(1);
                    stopEvaluationIfAgreed();
                }));
            } finally {
                bar.clear();
            }
            run.logVal(step, lastValLoss);
            run.println(String.format("step %5d | validation loss %.4f", step, lastValLoss));
        }
        if (!hellaswag.isEmpty() && hellaswagDue(cfg, step)) {
            HellaSwag.Score s = hellaswagOnAllRanks();
            run.logHellaSwag(step, s.total(), s.correct(), s.correctNorm());
            int unscored = hellaswag.size() - s.total(); // items longer than the model's context, skipped as eval skips them
            run.println(String.format("step %5d | HellaSwag acc_norm %d/%d = %.4f%s", step, s.correctNorm(), s.total(), s.accNorm(),
                    unscored == 0 ? "" : " (" + unscored + " of " + hellaswag.size() + " items longer than model.block_size "
                            + cfg.model().shape().blockSize() + " not scored)"));
        }
        if (sampleDue(cfg, step) && group.isMain()) {
            toHost(); // the samples are decoded on the CPU, from the host model
            if (inference == null) inference = new Inference(model);
            ProgressBar bar = progress(String.format("step %5d samples", step), (long) e.numSamples() * e.sampleMaxTokens(), "tokens");
            List<String> samples;
            try {
                samples = Evaluator.samples(inference, e.samplePrompt(), e.numSamples(), e.sampleMaxTokens(), e.topK(), e.sampleSeed(), tokens -> {
                    bar.set(tokens);
                    // rank 0 alone samples: its own request ends them, and the ranks agree on it at the next step's start
                    if (stopRequested != 0 && step < t.maxSteps()) throw new EvaluationStopped();
                });
            } finally {
                bar.clear();
            }
            for (int i = 0; i < samples.size(); i++) {
                run.logSample(step, i, samples.get(i));
                run.println("sample " + i + ": " + samples.get(i));
            }
        }
    }

    /**
     * Stops the run before a NaN or infinite loss or gradient reaches the weights: one such update
     * ruins every weight, and its checkpoints would then push the good ones out (eval.keep_last).
     */
    private void requireFinite(double loss, double lr, double norm) {
        if (Double.isFinite(loss) && Double.isFinite(norm)) return;
        run.log("train", step, Map.of("loss", loss, "lr", lr, "norm", norm)); // on record: plots mark the divergence
        throw new JgptException("training diverged at step " + step + " (" + (Double.isFinite(loss) ? "gradient norm " + norm
                : "loss " + loss) + "), so its update was not applied and the checkpoints are kept: lower train.max_lr ("
                + cfg.train().maxLr() + ") or enable train.grad_clip");
    }

    /** The engine's state into the host model and optimizer, once per step at most. */
    private void toHost() {
        if (hostCurrent) return;
        engine.toHost();
        hostCurrent = true;
    }

    private void saveCheckpoint() throws IOException {
        toHost();
        if (!Double.isFinite(dev.jgpt.kernels.AdamW.sumOfSquares(model.params(), 0, model.params().length))) {
            // an update with finite gradients can still overflow the weights (a huge learning rate)
            throw new JgptException("training diverged before step " + step + " (the weights overflowed), so they are not"
                    + " saved and the checkpoints are kept: lower train.max_lr (" + cfg.train().maxLr() + ") or enable train.grad_clip");
        }
        savedThisStep = true;
        if (!group.isMain()) return; // rank 0 writes the run's files
        Path dir = run.checkpointsDir();
        ProgressBar bar = progress(String.format("step %5d checkpoint", step), TrainingCheckpoint.bytes(model), "B");
        try {
            Files.createDirectories(dir);
            TrainingCheckpoint.save(dir, model, optimizer.m(), optimizer.v(),
                    position(),
                    new ModelCard("Trained with jgpt (run " + run.name() + ").",
                            ModelCard.trainingData(cfg.data().dir()), step,
                            (long) step * cfg.train().totalBatchSize(), lastTrainLoss, lastValLoss), bar::add);
        } catch (IOException e) {
            throw JgptException.io(TrainingCheckpoint.dirFor(dir, step), "write checkpoint", e);
        } finally {
            bar.clear();
        }
        TrainingCheckpoint.prune(dir, cfg.eval().keepLast());
        run.log("checkpoint", step, Map.of("path", TrainingCheckpoint.dirFor(dir, step).toString()));
    }

    /**
     * Where a long piece of work stands (the micro-batches of an accumulating step, validation,
     * HellaSwag, samples, a checkpoint's bytes), from 2 s in: drawn live on a terminal, and as a plain line in console.log (and on
     * the console, off a terminal) at most every 10 s, and at least that often while the work goes on
     * (a micro-batch may take minutes). Rank 0's alone.
     */
    private ProgressBar progress(String label, long total, String unit, String... counters) {
        boolean tty = group.isMain() && "1".equals(System.getenv("JGPT_TTY"));
        java.util.function.Consumer<String> record = tty ? run::logOnly : run::println;
        return ProgressBar.start(label, total, unit, tty ? System.err : null, tty, counters).quietFor(2).recording(record, 10).ticking();
    }

    /** Whether to stop: a stop asked of any rank (a signal reaches each at its own moment) stops all at the same point. */
    private boolean stopAgreed() {
        stopAgreed = Math.max(stopAgreed, group.max(stopRequested));
        return stopAgreed != 0;
    }

    /** Where the run stands: what a checkpoint records, and what the ranks of a group share. */
    private TrainingCheckpoint.State position() {
        return new TrainingCheckpoint.State(step, optimizer.steps(), train.state().toJson(), lastValLoss, group.size());
    }

    /** build-nanogpt's split of HellaSwag: rank r scores the items i with i mod ranks = r; the counts are summed. */
    private HellaSwag.Score hellaswagOnAllRanks() {
        List<HellaSwag.Example> mine = new java.util.ArrayList<>();
        for (int i = group.rank(); i < hellaswag.size(); i += group.size()) mine.add(hellaswag.get(i));
        ProgressBar bar = progress(String.format("step %5d HellaSwag", step), mine.size(), "items");
        int everyRankHas = hellaswag.size() / group.size(); // a stop is agreed after each of these; the rest are one item each at most
        int[] scored = {0};
        HellaSwag.Score s;
        try {
            s = mine.isEmpty() ? HellaSwag.Score.ZERO : Evaluator.hellaswag(engine, mine, () -> {
                bar.add(1);
                if (++scored[0] <= everyRankHas) stopEvaluationIfAgreed();
            });
        } finally {
            bar.clear();
        }
        if (group.size() == 1) return s;
        double[] counts = {s.total(), s.correct(), s.correctNorm()};
        group.sum(counts);
        return new HellaSwag.Score((int) counts[0], (int) counts[1], (int) counts[2]);
    }
}
