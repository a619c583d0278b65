package dev.jgpt.config;

import dev.jgpt.JgptException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The optimization: batch geometry, the learning-rate schedule, AdamW and clipping. Defaults are
 * build-nanogpt's GPT-2 124M run.
 *
 * <p>The minimum learning rate is kept as a fraction of the maximum, so {@code --set
 * train.max_lr=...} moves both, as build-nanogpt's {@code min_lr = max_lr * 0.1} does. A config that
 * gives an absolute {@code min_lr} is converted to that fraction when it is read.
 *
 * @param totalBatchSize tokens per optimizer step, over all processes and accumulation micro-steps
 * @param microBatchSize sequences per forward/backward pass (B)
 * @param seqLen         tokens per sequence (T)
 * @param maxLr          peak learning rate, reached at the end of warmup
 * @param minLrRatio     final learning rate as a fraction of maxLr
 * @param warmupSteps    steps of linear warmup
 * @param maxSteps       optimizer steps of the whole run; the cosine decay ends here
 * @param weightDecay    AdamW weight decay, applied to 2-D tensors (matmul weights, embeddings) only
 * @param beta1          AdamW first-moment decay
 * @param beta2          AdamW second-moment decay
 * @param eps            AdamW epsilon
 * @param gradClip       clip the global gradient norm to this; 0 turns clipping off
 * @param seed           seed of weight init and everything else random in training
 * @param threads        worker threads for the math; 0 uses all cores
 */
public record TrainConfig(int totalBatchSize, int microBatchSize, int seqLen,
                          double maxLr, double minLrRatio, int warmupSteps, int maxSteps,
                          double weightDecay, double beta1, double beta2, double eps, double gradClip,
                          long seed, int threads) {

    static final List<String> KEYS = List.of("total_batch_size", "micro_batch_size", "seq_len",
            "max_lr", "min_lr", "min_lr_ratio", "warmup_steps", "max_steps", "weight_decay",
            "beta1", "beta2", "eps", "grad_clip", "seed", "threads");

    /**
     * build-nanogpt's train_gpt2.py: 2**19 tokens a step, 19073 steps; as 32 x 1024 micro-batches (build-nanogpt
     * uses 64) because a micro-batch's logits live in one Java array. The step's gradient is the same.
     */
    public static TrainConfig defaults() {
        return new TrainConfig(524288, 32, 1024, 6e-4, 0.1, 715, 19073,
                0.1, 0.9, 0.95, 1e-8, 1.0, 1337, 0);
    }

    /** The learning rate the schedule decays to. */
    public double minLr() {
        return maxLr * minLrRatio;
    }

    /**
     * Forward/backward passes per optimizer step in each of {@code worldSize} processes, as
     * build-nanogpt computes it: total_batch_size / (B * T * world_size), which must be whole.
     */
    public int gradAccumSteps(int worldSize) {
        if (worldSize < 1) throw new IllegalArgumentException("worldSize " + worldSize);
        long perPass = (long) microBatchSize * seqLen * worldSize;
        if (totalBatchSize % perPass != 0) {
            throw new JgptException("train.total_batch_size = " + totalBatchSize + " must be divisible by"
                    + " train.micro_batch_size * train.seq_len * processes = " + microBatchSize + " * " + seqLen
                    + " * " + worldSize + " = " + perPass + ", so that each step accumulates a whole number"
                    + " of micro-batches");
        }
        return (int) (totalBatchSize / perPass);
    }

    /** Tokens the whole run trains on. */
    public long totalTokens() {
        return (long) totalBatchSize * maxSteps;
    }

    /** The thread count to use: the configured one, or every core when it is 0. */
    public int threadCount() {
        return threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
    }

    static TrainConfig from(Map<String, Object> tree, ConfigSource source) {
        ConfigSection s = ConfigSection.of(tree, "train", KEYS, source);
        TrainConfig d = defaults();
        int total = s.integer("total_batch_size", d.totalBatchSize);
        s.check(total >= 1, "total_batch_size", total, ">= 1");
        int b = s.integer("micro_batch_size", d.microBatchSize);
        s.check(b >= 1, "micro_batch_size", b, ">= 1");
        int t = s.integer("seq_len", d.seqLen);
        s.check(t >= 1, "seq_len", t, ">= 1");
        if (total % ((long) b * t) != 0) {
            throw new JgptException(source.where("train.total_batch_size", "train.micro_batch_size", "train.seq_len")
                    + "train.total_batch_size = " + total + " must be divisible by train.micro_batch_size * train.seq_len = "
                    + b + " * " + t + " = " + ((long) b * t) + ", so that each step accumulates a whole number of"
                    + " micro-batches");
        }

        double maxLr = s.number("max_lr", d.maxLr);
        s.check(maxLr > 0, "max_lr", maxLr, "> 0");
        double ratio;
        if (s.has("min_lr") && s.has("min_lr_ratio")) {
            throw new JgptException(source.where("train.min_lr", "train.min_lr_ratio")
                    + "train.min_lr and train.min_lr_ratio are both set; give one of them");
        } else if (s.has("min_lr")) {
            double minLr = s.number("min_lr", 0);
            s.check(minLr >= 0 && minLr <= maxLr, "min_lr", minLr, "between 0 and train.max_lr (" + maxLr + ")");
            ratio = minLr / maxLr;
        } else {
            ratio = s.number("min_lr_ratio", d.minLrRatio);
            s.check(ratio >= 0 && ratio <= 1, "min_lr_ratio", ratio, "between 0 and 1");
        }

        int maxSteps = s.integer("max_steps", d.maxSteps);
        s.check(maxSteps >= 1, "max_steps", maxSteps, ">= 1");
        int warmup = s.integer("warmup_steps", d.warmupSteps);
        s.check(warmup >= 0 && warmup <= maxSteps, "warmup_steps", warmup,
                "between 0 and train.max_steps (" + maxSteps + ")");

        double wd = s.number("weight_decay", d.weightDecay);
        s.check(wd >= 0, "weight_decay", wd, ">= 0");
        double beta1 = s.number("beta1", d.beta1);
        s.check(beta1 >= 0 && beta1 < 1, "beta1", beta1, "in [0, 1)");
        double beta2 = s.number("beta2", d.beta2);
        s.check(beta2 >= 0 && beta2 < 1, "beta2", beta2, "in [0, 1)");
        double eps = s.number("eps", d.eps);
        s.check(eps > 0, "eps", eps, "> 0");
        double clip = s.number("grad_clip", d.gradClip);
        s.check(clip >= 0, "grad_clip", clip, ">= 0 (0 turns clipping off)");
        long seed = s.longInteger("seed", d.seed);
        int threads = s.integer("threads", d.threads);
        s.check(threads >= 0, "threads", threads, ">= 0 (0 uses all cores)");
        return new TrainConfig(total, b, t, maxLr, ratio, warmup, maxSteps, wd, beta1, beta2, eps, clip, seed, threads);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("total_batch_size", totalBatchSize);
        m.put("micro_batch_size", microBatchSize);
        m.put("seq_len", seqLen);
        m.put("max_lr", maxLr);
        m.put("min_lr_ratio", minLrRatio);
        m.put("warmup_steps", warmupSteps);
        m.put("max_steps", maxSteps);
        m.put("weight_decay", weightDecay);
        m.put("beta1", beta1);
        m.put("beta2", beta2);
        m.put("eps", eps);
        m.put("grad_clip", gradClip);
        m.put("seed", seed);
        m.put("threads", threads);
        return m;
    }
}
