package dev.jgpt.train;

import dev.jgpt.config.TrainConfig;

/**
 * build-nanogpt's learning-rate schedule ({@code get_lr} in train_gpt2.py): linear warmup from
 * max_lr/warmup to max_lr over the first warmupSteps steps, then cosine decay to minLr at maxSteps,
 * then minLr. Step numbers start at 0.
 */
public record LrSchedule(double maxLr, double minLr, int warmupSteps, int maxSteps) {

    public LrSchedule {
        if (!(maxLr > 0) || !(minLr >= 0) || minLr > maxLr) {
            throw new IllegalArgumentException("need 0 <= minLr <= maxLr and maxLr > 0: " + minLr + ", " + maxLr);
        }
        if (warmupSteps < 0 || maxSteps < 1 || warmupSteps > maxSteps) {
            throw new IllegalArgumentException("need 0 <= warmupSteps <= maxSteps: " + warmupSteps + ", " + maxSteps);
        }
    }

    public static LrSchedule of(TrainConfig train) {
        return new LrSchedule(train.maxLr(), train.minLr(), train.warmupSteps(), train.maxSteps());
    }

    public double lr(int step) {
        if (step < warmupSteps) {
            // (step+1) so that step 0 already trains: the rate never is 0.
            return maxLr * (step + 1) / warmupSteps;
        }
        // build-nanogpt tests step > max_steps; at step == max_steps its cosine gives exactly minLr
        // too, and testing >= first also covers warmupSteps == maxSteps without dividing by zero.
        if (step >= maxSteps) {
            return minLr;
        }
        double decayRatio = (double) (step - warmupSteps) / (maxSteps - warmupSteps);
        // StrictMath: the same bits on every machine, so a resumed run sees the same rates.
        double coeff = 0.5 * (1.0 + StrictMath.cos(Math.PI * decayRatio)); // 1 at the end of warmup, 0 at maxSteps
        return minLr + coeff * (maxLr - minLr);
    }
}
