package dev.jgpt.train;

import dev.jgpt.model.Gpt;
import dev.jgpt.track.ProgressBar;

import java.util.Locale;
import java.util.function.Consumer;

/**
 * How long a training step will take, measured before the first one: a forward and backward pass
 * of one row of T tokens, timed, scaled to the step's B x accumulation rows. Every row of a step
 * costs the same (the products are per row, attention is within a row), so the step is that many
 * times one row; the optimizer's update and the evaluations come on top. The pass is the real
 * model's on token 0, after a few warm-up passes on fewer tokens; its gradient is cleared, so
 * training is the same as without it.
 *
 * @param secondsPerRow the fastest of the timed passes
 * @param rowsPerStep   B x accumulation micro-batches
 */
record StepTime(double secondsPerRow, long rowsPerStep) {

    /** Warm-up passes on a few tokens first: the first passes load and compile the code they run. */
    private static final double WARMUP_SECONDS = 0.2;
    /** Timed passes on T tokens stop when one takes this long (a large model: compiling is a small part of it)... */
    private static final double LONG_PASS_SECONDS = 2;
    /** ...or when the time stops falling (the code is compiled), or after this much time in all. */
    private static final double TIMED_SECONDS = 0.5;
    /** A pass expected to take longer is announced, so the start of a large run is not silent. */
    private static final double ANNOUNCED_SECONDS = 10;

    static StepTime measure(Gpt model, int B, int T, int accum) {
        return measure(model, B, T, accum, line -> { });
    }

    /** As above; a pass that will be long (a large model on a CPU) is announced through {@code say} first. */
    static StepTime measure(Gpt model, int B, int T, int accum, Consumer<String> say) {
        int[] tokens = new int[T];
        int few = Math.min(T, 8);
        double warm = Double.POSITIVE_INFINITY;
        for (double spent = 0; spent < WARMUP_SECONDS; ) {
            double s = pass(model, tokens, few);
            warm = Math.min(warm, s);
            spent += s;
        }
        // the warm-up's passes, scaled to T tokens, say roughly how long a timed pass will take (a cold
        // start makes them slow, so this errs long: it only decides whether to announce the pass)
        if (warm * T / few > ANNOUNCED_SECONDS) {
            say.accept(String.format(Locale.ROOT, "time: timing a forward+backward pass of 1x%d tokens...", T));
        }
        double fastest = Double.POSITIVE_INFINITY;
        int slower = 0; // passes in a row no faster than the fastest: a busy machine's noise, or compiled
        for (double spent = 0; spent < TIMED_SECONDS && slower < 3; ) {
            double s = pass(model, tokens, T);
            spent += s;
            slower = s > 0.9 * fastest ? slower + 1 : 0;
            fastest = Math.min(fastest, s);
            if (s > LONG_PASS_SECONDS) break;
        }
        model.zeroGrad();
        return new StepTime(fastest, (long) B * accum);
    }

    /** Seconds of one forward+backward pass on a row of {@code T} tokens. */
    private static double pass(Gpt model, int[] tokens, int T) {
        long t0 = System.nanoTime();
        model.forward(tokens, tokens, 1, T);
        model.backward(1f);
        return (System.nanoTime() - t0) / 1e9;
    }

    double secondsPerStep() {
        return secondsPerRow * rowsPerStep;
    }

    /** "time: ~40 min/step, ~1.5 years for 19,073 steps (a 1x1024 forward+backward took 4.7 s, x 512 rows a step; ...)". */
    String describe(int steps, int T) {
        return String.format(Locale.ROOT, "time: ~%s/step, ~%s for %,d step%s (a %dx%d forward+backward took %s, x %,d rows a step; evaluations come on top)",
                ProgressBar.roughly(secondsPerStep()), ProgressBar.roughly(secondsPerStep() * steps), steps, steps == 1 ? "" : "s",
                1, T, ProgressBar.roughly(secondsPerRow), rowsPerStep);
    }
}
