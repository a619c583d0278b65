package dev.jgpt.model;

import dev.jgpt.tensor.View;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * A GPT-2 being trained, whichever engine holds it: the forward and backward over a micro-batch, the
 * gradient's norms and an AdamW step with clipping, on one parameter buffer in {@link GptLayout}'s
 * layout. The CPU's {@link Gpt} with its optimizer ({@link #cpu}) and the GPU's CudaGpt are the two
 * engines; training, the PyTorch parity step, the benchmark and evaluation run on either through
 * this seam.
 *
 * <p>An engine is made from a host model (and its optimizer): the weights, AdamW's moments and step
 * count that checkpoints write and samples read. The CPU engine works on them in place; the GPU's
 * works on its own copy, and {@link #toHost} and {@link #fromHost} move the state between the two.
 */
public interface Engine {
    GptConfig config();

    GptLayout layout();

    /** The mean loss over the counted targets (-1 = not counted; NaN when targets is null), as {@link Gpt#forward}. */
    float forward(int[] inputs, int[] targets, int B, int T);

    /** {@code rows} rows of the last forward's logits from row {@code first} (of B·T), each paddedVocabSize wide. */
    float[] logits(int first, int rows);

    /** The first {@code n} per-position losses of the last forward (0 where the target was -1). */
    float[] losses(int n);

    /** Adds the last forward's gradient, its loss scaled by {@code lossScale}, to the gradient buffer. */
    void backward(float lossScale);

    void zeroGrad();

    /** The global norm of the gradient. */
    double gradNorm();

    /** The norm of one tensor's gradient. */
    double gradNorm(View view);

    /**
     * One AdamW update at {@code lr}, the gradient clipped to {@code maxNorm} as torch's
     * clip_grad_norm_ does (0 = no clipping), {@code norm} being its {@link #gradNorm()} (measured
     * first, so a caller can refuse a non-finite one); leaves the gradient zeroed.
     */
    void step(float lr, double maxNorm, double norm);

    /** {@link #step(float, double, double)} with the norm measured here; returns it. */
    default double step(float lr, double maxNorm) {
        double norm = gradNorm();
        step(lr, maxNorm, norm);
        return norm;
    }

    /**
     * Copies the training state (the weights, AdamW's moments and step count) into the host model and
     * optimizer this engine was made with, where checkpoints and samples read it. The CPU engine's
     * state is the host's own: nothing moves.
     */
    void toHost();

    /** The reverse of {@link #toHost}: the host's state (a resumed checkpoint's, a group's) becomes the engine's. */
    void fromHost();

    /** Waits until the work asked of the engine is done (a GPU queues it), so it can be timed. */
    void sync();

    /**
     * Sums the gradient across a data-parallel group: hands it to {@code allReduce} as a host array in
     * the parameters' layout (the host model's gradient buffer: the CPU engine's own, a copy of the
     * GPU's) and takes the sum back.
     */
    void reduceGradients(Consumer<float[]> allReduce);

    /** An optimizer's update: {@link #step(float, double, double)}'s contract. */
    @FunctionalInterface
    interface Update {
        void step(float lr, double maxNorm, double norm);
    }

    /** The CPU engine for evaluation only: {@code model}, no optimizer ({@link #step} is refused). */
    static Engine cpu(Gpt model) {
        return cpu(model, null);
    }

    /** The CPU engine: {@code model}, updated by {@code update} (an AdamW's: {@code optimizer::step}). */
    static Engine cpu(Gpt model, Update update) {
        return new Engine() {
            public GptConfig config() {
                return model.config;
            }

            public GptLayout layout() {
                return model.layout;
            }

            public float forward(int[] inputs, int[] targets, int B, int T) {
                return model.forward(inputs, targets, B, T);
            }

            public float[] logits(int first, int rows) {
                int Vp = model.config.paddedVocabSize();
                return Arrays.copyOfRange(model.logits(), first * Vp, (first + rows) * Vp);
            }

            public float[] losses(int n) {
                return Arrays.copyOf(model.losses(), n);
            }

            public void backward(float lossScale) {
                model.backward(lossScale);
            }

            public void zeroGrad() {
                model.zeroGrad();
            }

            public double gradNorm() {
                return model.gradNorm();
            }

            public double gradNorm(View view) {
                return model.gradNorm(view);
            }

            public void step(float lr, double maxNorm, double norm) {
                if (update == null) throw new IllegalStateException("an engine for evaluation has no optimizer");
                update.step(lr, maxNorm, norm);
            }

            public void toHost() {
            }

            public void fromHost() {
            }

            public void sync() {
            }

            public void reduceGradients(Consumer<float[]> allReduce) {
                allReduce.accept(model.grads());
            }
        };
    }
}
