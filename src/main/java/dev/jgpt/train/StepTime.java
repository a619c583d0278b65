package dev.jgpt.train;

import dev.jgpt.model.Engine;
import dev.jgpt.track.ProgressBar;

import java.util.Locale;
import java.util.function.Consumer;

/**
 * How long a training step will take, measured before the first one: a forward and backward pass
 * of as many rows of T tokens as take about a second (up to the micro-batch's B; one row of a large
 * model), timed, scaled to the step's B x accumulation rows. Every row of a step costs about the same
 * (the products are per row, attention is within a row), so the step is that many times a row; the
 * optimizer's update and the evaluations come on top. A pass of several rows runs the kernels as
 * training does (one short row leaves cores idle and its fixed costs unshared, which overstates a
 * small model's step several times). The passes are the real model's on token 0, after warm-up
 * passes on a few tokens; the gradient is cleared, so training is the same as without them.
 *
 * @param secondsPerPass the fastest of the timed passes
 * @param rowsPerPass    the rows of T tokens a timed pass had
 * @param rowsPerStep    B x accumulation micro-batches
 * @param settled        whether the passes had stopped getting faster (false: the JIT was still compiling
 *                       when the time for timing ran out, as for a small model; the estimate is then high)
 */
record StepTime(double secondsPerPass, int rowsPerPass, long rowsPerStep, boolean settled) {

    /**
     * Warm-up passes on a few tokens first, this long and at least {@link #WARMUP_PASSES} of them: the
     * first passes load and compile the code they run (the Vector API's loops are many times slower
     * until the JIT has compiled them).
     */
    private static final double WARMUP_SECONDS = 1;
    private static final int WARMUP_PASSES = 3;
    /** A timed pass has as many rows as take about this long, up to B. */
    private static final double PASS_SECONDS = 1;
    /** Timed passes stop when one takes this long (a large model: compiling is a small part of it)... */
    private static final double LONG_PASS_SECONDS = 2;
    /** ...or when the time stops falling (the code is compiled), or after this much time in all. */
    private static final double TIMED_SECONDS = 3;
    /** A pass expected to take longer is announced, so the start of a large run is not silent. */
    private static final double ANNOUNCED_SECONDS = 10;

    static StepTime measure(Engine model, int B, int T, int accum) {
        return measure(model, B, T, accum, line -> { });
    }

    /** As above; a pass that will be long (a large model on a CPU) is announced through {@code say} first. */
    static StepTime measure(Engine model, int B, int T, int accum, Consumer<String> say) {
        int[] tokens = new int[B * T];
        int few = Math.min(T, 8);
        double warm = Double.POSITIVE_INFINITY;
        double spent = 0;
        for (int passes = 0; spent < WARMUP_SECONDS || passes < WARMUP_PASSES; passes++) {
            double s = pass(model, tokens, 1, few);
            warm = Math.min(warm, s);
            spent += s;
        }
        // the warm-up's passes, scaled to T tokens, say roughly how long a row will take (the code may
        // still be compiling, so this errs long: it only decides whether to announce the pass)
        if (warm * T / few > ANNOUNCED_SECONDS) {
            say.accept(String.format(Locale.ROOT, "time: timing a forward+backward pass of 1x%d tokens...", T));
        }
        // one row first; each pass then has as many rows as the fastest row so far says fit in
        // PASS_SECONDS (more as the code gets compiled), and the step is scaled from the fastest per row
        double perRow = Double.POSITIVE_INFINITY, best = Double.POSITIVE_INFINITY;
        int rows = 1, bestRows = 1;
        int slower = 0; // passes in a row no faster per row than the fastest: a busy machine's noise, or compiled
        spent = 0;
        while (spent < TIMED_SECONDS && slower < 3) {
            double s = pass(model, tokens, rows, T);
            spent += s;
            slower = s / rows > 0.9 * perRow ? slower + 1 : 0;
            if (s / rows < perRow) {
                perRow = s / rows;
                best = s;
                bestRows = rows;
            }
            if (s > LONG_PASS_SECONDS) {
                slower = 3; // one long pass: compiling is a small part of it
                break;
            }
            rows = (int) Math.max(1, Math.min(B, PASS_SECONDS / perRow));
        }
        model.zeroGrad();
        return new StepTime(best, bestRows, (long) B * accum, slower >= 3);
    }

    /** Seconds of one forward+backward pass on {@code rows} rows of {@code T} tokens. */
    private static double pass(Engine model, int[] tokens, int rows, int T) {
        long t0 = System.nanoTime();
        model.forward(tokens, tokens, rows, T);
        model.backward(1f);
        model.sync();
        return (System.nanoTime() - t0) / 1e9;
    }

    double secondsPerRow() {
        return secondsPerPass / rowsPerPass;
    }

    double secondsPerStep() {
        return secondsPerRow() * rowsPerStep;
    }

    /**
     * "time: ~40 min/step, ~1.5 years for 19,073 steps (a 1x1024 forward+backward took 4.7 s; 512 rows of
     * 1024 a step; ...)"; "at most" when the passes were still getting faster.
     */
    String describe(int steps, int T) {
        String bound = settled ? "~" : "at most ~";
        return String.format(Locale.ROOT, "time: %s%s/step, %s%s for %,d step%s (a %dx%d forward+backward took %s; %,d rows of %d a step; %s)",
                bound, ProgressBar.roughly(secondsPerStep()), bound, ProgressBar.roughly(secondsPerStep() * steps), steps,
                steps == 1 ? "" : "s", rowsPerPass, T, ProgressBar.roughly(secondsPerPass), rowsPerStep, T,
                settled ? "evaluations come on top" : "the code was still being compiled: the steps' ETA will be closer");
    }
}
