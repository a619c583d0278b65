package dev.jgpt.config;

import dev.jgpt.JgptException;

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
 * @param device         where the model trains: cpu, cuda (an NVIDIA GPU), or auto (a usable GPU, else the CPU)
 */
public record TrainConfig(int totalBatchSize, int microBatchSize, int seqLen,
                          double maxLr, double minLrRatio, int warmupSteps, int maxSteps,
                          double weightDecay, double beta1, double beta2, double eps, double gradClip,
                          long seed, int threads, Device device) {

    /** The engine a run trains on (see TrainCommand for how auto decides). */
    public enum Device {
        AUTO, CPU, CUDA;

        /** The YAML spelling. */
        public String yamlName() {
            return Key.yamlName(this);
        }
    }

    /**
     * The defaults are build-nanogpt's train_gpt2.py: 2**19 tokens a step, 19073 steps; as 32 x 1024
     * micro-batches (build-nanogpt uses 64) because a micro-batch's logits live in one Java array. The
     * step's gradient is the same.
     */
    static final Section<TrainConfig> SECTION = new Section<>("train", TrainConfig.class, List.of(
            Key.integer("total_batch_size", 524288).check(v -> v >= 1, ">= 1"),
            Key.integer("micro_batch_size", 32).check(v -> v >= 1, ">= 1"),
            Key.integer("seq_len", 1024).check(v -> v >= 1, ">= 1"),
            Key.number("max_lr", 6e-4).check(v -> v > 0, "> 0"),
            Key.number("min_lr_ratio", 0.1).check(v -> v >= 0 && v <= 1, "between 0 and 1"),
            Key.integer("warmup_steps", 715), // checked against max_steps below
            Key.integer("max_steps", 19073).check(v -> v >= 1, ">= 1"),
            Key.number("weight_decay", 0.1).check(v -> v >= 0, ">= 0"),
            Key.number("beta1", 0.9).check(v -> v >= 0 && v < 1, "in [0, 1)"),
            Key.number("beta2", 0.95).check(v -> v >= 0 && v < 1, "in [0, 1)"),
            Key.number("eps", 1e-8).check(v -> v > 0, "> 0"),
            Key.number("grad_clip", 1.0).check(v -> v >= 0, ">= 0 (0 turns clipping off)"),
            Key.longInteger("seed", 1337),
            Key.integer("threads", 0).check(v -> v >= 0, ">= 0 (0 uses all cores)"),
            Key.choice("device", Device.AUTO)))
            .alsoReading("min_lr", "min_lr_ratio");

    public static TrainConfig defaults() {
        return SECTION.defaults();
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
        String notWhole = notWholeMicroBatches(totalBatchSize, microBatchSize, seqLen, worldSize);
        if (notWhole != null) throw new JgptException(notWhole);
        return (int) (totalBatchSize / ((long) microBatchSize * seqLen * worldSize));
    }

    /** Why {@code total} tokens do not split into whole micro-batches on {@code processes}, with the sizes that would; null when they do. */
    private static String notWholeMicroBatches(long total, int b, int seq, int processes) {
        long perPass = (long) b * seq * processes;
        if (total % perPass == 0) return null;
        long below = total / perPass * perPass, above = below + perPass;
        return "train.total_batch_size = " + total + " must be divisible by train.micro_batch_size * train.seq_len"
                + (processes > 1 ? " * processes = " : " = ") + b + " * " + seq + (processes > 1 ? " * " + processes : "") + " = "
                + perPass + ", so that each step accumulates a whole number of micro-batches: the nearest that fit are "
                + (below > 0 ? below + " and " : "") + above;
    }

    /** Tokens the whole run trains on. */
    public long totalTokens() {
        return (long) totalBatchSize * maxSteps;
    }

    /**
     * The thread count to use: the configured one, or every core when it is 0 or more than the cores
     * (training cuts it to the cores with a warning: more threads only take turns on them).
     */
    public int threadCount() {
        int cores = Runtime.getRuntime().availableProcessors();
        return threads == 0 || threads > cores ? cores : threads;
    }

    static TrainConfig from(Map<String, Object> tree, ConfigSource source) {
        ConfigSection s = SECTION.open(tree, source);
        s.requireValue("min_lr", null); // read below, outside the table
        TrainConfig t = SECTION.read(s);
        String notWhole = notWholeMicroBatches(t.totalBatchSize, t.microBatchSize, t.seqLen, 1);
        if (notWhole != null) {
            throw new JgptException(source.where("train.total_batch_size", "train.micro_batch_size", "train.seq_len") + notWhole);
        }
        if (s.has("min_lr") && s.has("min_lr_ratio")) {
            throw new JgptException(source.where("train.min_lr", "train.min_lr_ratio")
                    + "train.min_lr and train.min_lr_ratio are both set; give one of them");
        } else if (s.has("min_lr")) {
            double minLr = s.number("min_lr", 0);
            s.check(minLr >= 0 && minLr <= t.maxLr, "min_lr", minLr, "between 0 and train.max_lr (" + t.maxLr + ")");
            t = SECTION.with(t, "min_lr_ratio", minLr / t.maxLr);
        }
        s.check(t.warmupSteps >= 0 && t.warmupSteps <= t.maxSteps, "warmup_steps", t.warmupSteps, "between 0 and train.max_steps (" + t.maxSteps + ")");
        return t;
    }
}
