package dev.jgpt.model;

import dev.jgpt.JgptException;

import java.util.Locale;

/**
 * The heap a training run needs, counted before anything is allocated, so a run that cannot fit is
 * refused in a second instead of running into an OutOfMemoryError after minutes. Every term comes
 * from the shapes the code allocates (the counts sit next to the allocations, in {@link Activations}
 * and {@link Inference}):
 * <ul>
 *   <li>parameters, gradients and AdamW's m and v: four float buffers of the parameter count;</li>
 *   <li>activations: what the forward keeps for the backward for one micro-batch of B×T tokens, plus
 *       one layer of activation gradients;</li>
 *   <li>logits: B×T rows of the padded vocabulary (part of the activations, shown apart: at GPT-2's
 *       vocabulary they are often the largest activation);</li>
 *   <li>sampling: the KV-cache inference the run samples with, when it samples.</li>
 * </ul>
 * Not counted: the JVM's own overhead, the tokenizer's tables, the data loader's window orders and
 * the kernels' per-thread scratch, together a few hundred MB at most; token shards are memory-mapped,
 * outside the heap.
 *
 * @param parameters  bytes of the parameter buffer
 * @param gradients   bytes of the gradient buffer
 * @param optimizer   bytes of AdamW's two moment buffers
 * @param activations bytes of the activations besides the logits
 * @param logits      bytes of the logits
 * @param sampling    bytes of the sampler's cache and buffers; 0 when the run does not sample
 */
public record MemoryEstimate(long parameters, long gradients, long optimizer, long activations, long logits, long sampling) {

    /** What training {@code cfg} on micro-batches of B×T tokens needs; {@code samples}: the samples decoded together (0: none). */
    public static MemoryEstimate training(GptConfig cfg, int B, int T, int samples) {
        long params = 4 * cfg.parameterCount();
        long logits = 4 * Activations.logitFloats(cfg, B, T);
        long activations = 4 * Activations.floats(cfg, B, T) - logits;
        long sampling = samples > 0 ? Inference.bytes(cfg, Inference.Precision.FP32, samples) : 0;
        return new MemoryEstimate(params, params, 2 * params, activations, logits, sampling);
    }

    /**
     * The heap of training {@code cfg} on a GPU: the host copies of the parameters and of AdamW's
     * moments that checkpoints are written from, and the sampler's; gradients and activations live on
     * the GPU (its own check counts them).
     */
    public static MemoryEstimate trainingOnGpu(GptConfig cfg, int samples) {
        long params = 4 * cfg.parameterCount();
        long sampling = samples > 0 ? Inference.bytes(cfg, Inference.Precision.FP32, samples) : 0;
        return new MemoryEstimate(params, 0, 2 * params, 0, 0, sampling);
    }

    /** What evaluating {@code cfg} on batches of B×T tokens needs: the weights and one batch's forward, no gradients or AdamW. */
    public static MemoryEstimate evaluation(GptConfig cfg, int B, int T) {
        long logits = 4 * Activations.logitFloats(cfg, B, T);
        return new MemoryEstimate(4 * cfg.parameterCount(), 0, 0, 4 * Activations.floats(cfg, B, T) - logits, logits, 0);
    }

    public long total() {
        return parameters + gradients + optimizer + activations + logits + sampling;
    }

    /** The most this JVM's heap can hold (-Xmx, or the launcher's share of the machine's memory). */
    public static long heap() {
        return Runtime.getRuntime().maxMemory();
    }

    /** One line for the start of training: {@code memory: ~2.2 GB estimated (heap 17.9 GB): parameters 0.5 GB, ...}. */
    public String describe(long heap) {
        return "memory: ~" + gb(total()) + " estimated (heap " + gb(heap) + "): " + parts();
    }

    /**
     * Refuses a run whose estimate does not fit in {@code heap}, naming both, before anything is
     * allocated; {@code batchSetting} names the micro-batch setting to shrink.
     */
    public void requireFits(long heap, String batchSetting) {
        if (total() <= heap) return;
        throw new JgptException("the run needs about " + gb(total()) + " of memory but the heap is " + gb(heap) + " (" + parts()
                + "): shrink the model or " + batchSetting + ", or give the JVM more heap (JGPT_JAVA_OPTS=-Xmx...)");
    }

    /** As above, for a training run: its micro-batch is train.micro_batch_size. */
    public void requireFits(long heap) {
        requireFits(heap, "train.micro_batch_size (gradient accumulation keeps train.total_batch_size)");
    }

    private String parts() {
        return "parameters " + gb(parameters) + (gradients > 0 ? ", gradients " + gb(gradients) : "")
                + (optimizer > 0 ? ", AdamW " + gb(optimizer) : "")
                + (activations > 0 ? ", activations " + gb(activations) + ", logits " + gb(logits) : "")
                + (sampling > 0 ? ", sampling " + gb(sampling) : "");
    }

    /** "1.2 GB", "35 MB", "4.1 MB". */
    public static String gb(long bytes) {
        if (bytes >= 100_000_000L || bytes == 0) return String.format(Locale.ROOT, "%.1f GB", bytes / 1e9);
        return String.format(Locale.ROOT, bytes >= 10_000_000L ? "%.0f MB" : "%.1f MB", bytes / 1e6);
    }
}
