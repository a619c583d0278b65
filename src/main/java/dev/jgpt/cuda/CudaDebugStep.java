package dev.jgpt.cuda;

import dev.jgpt.bench.DebugStep;
import dev.jgpt.tensor.View;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** bench/DebugStep on the GPU: the same loss, logits, gradient norms and AdamW steps, from {@link CudaGpt}. */
public final class CudaDebugStep {
    private CudaDebugStep() {
    }

    public static DebugStep.Result run(CudaGpt model, DebugStep.Batch batch, DebugStep.Settings s) {
        int K = s.microBatches();
        if (K < 1 || batch.B() % K != 0) {
            throw new dev.jgpt.JgptException("micro-batches: " + K + " does not divide the batch's " + batch.B() + " rows");
        }
        float[][] row0 = new float[batch.T()][model.config.vocabSize()];
        model.zeroGrad();
        float loss = forwardBackward(model, batch, K, row0);
        Map<String, Double> norms = new LinkedHashMap<>();
        for (View v : model.layout.layout.views()) norms.put(v.name(), model.gradNorm(v));
        double gradNorm = model.gradNorm();

        float[] losses = new float[s.steps()];
        for (int i = 0; i < s.steps(); i++) {
            model.zeroGrad(); // the norms above left a gradient behind; each step zeroes its own first
            losses[i] = forwardBackward(model, batch, K, null);
            model.step(s.lr(), s.clip(), s.weightDecay(), s.beta1(), s.beta2(), s.eps());
        }
        return new DebugStep.Result(loss, row0, norms, gradNorm, losses);
    }

    /** As train/DebugStep's: K micro-batches of B/K rows, gradients accumulated with scale 1/K, the mean loss. */
    private static float forwardBackward(CudaGpt model, DebugStep.Batch batch, int K, float[][] logitsRow0) {
        int rows = batch.B() / K, T = batch.T(), n = rows * T;
        double loss = 0;
        for (int k = 0; k < K; k++) {
            int[] inputs = Arrays.copyOfRange(batch.inputs(), k * n, (k + 1) * n);
            int[] targets = Arrays.copyOfRange(batch.targets(), k * n, (k + 1) * n);
            loss += model.forward(inputs, targets, rows, T) / K;
            if (k == 0 && logitsRow0 != null) {
                float[] logits = model.logits(0, T);
                int V = model.config.vocabSize(), Vp = model.config.paddedVocabSize();
                for (int t = 0; t < T; t++) System.arraycopy(logits, t * Vp, logitsRow0[t], 0, V);
            }
            model.backward(1f / K);
        }
        return (float) loss;
    }
}
