package dev.jgpt.model;

import java.util.List;

/**
 * GPT-2's training forward and backward, written once: token and position embeddings, n_layer
 * pre-LayerNorm transformer blocks ({@link Block}), a final LayerNorm and an LM head tied to the token
 * embedding, then the mean cross-entropy over the counted targets. Each engine runs these with its own
 * {@link TrainingOps} on its own {@link Buffers}: the CPU's {@link Gpt}, the GPU's CudaGpt.
 */
public final class Network {
    private Network() {
    }

    /** Everything the forward keeps for the backward, and the backward's scratch, as one engine allocates them. */
    public record Buffers<A>(A encoded, List<Block.Buffers<A>> blocks, A lnf, A lnfMean, A lnfRstd, A logits,
                             Block.Gradients<A> gradients) {
    }

    /**
     * Runs the network on B rows of T tokens. With {@code targets} (-1 = ignore) it returns the mean
     * cross-entropy over the counted positions; without, NaN (the logits are then the result).
     */
    public static <A> float forward(TrainingOps<A> ops, GptConfig cfg, GptLayout w, Buffers<A> a, int[] inputs, int[] targets,
                                    int B, int T) {
        int L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead(), V = cfg.vocabSize(), Vp = cfg.paddedVocabSize();
        int BT = B * T;
        ops.encoder(a.encoded(), inputs, w.wte, w.wpe, B, T, C);
        for (int l = 0; l < L; l++) {
            Block.Buffers<A> block = a.blocks().get(l);
            Block.forward(ops, w, l, block, (out, qkv) -> ops.attention(out, block.lse(), qkv, B, T, C, NH), BT, C);
        }
        ops.layernorm(a.lnf(), a.lnfMean(), a.lnfRstd(), a.blocks().get(L - 1).output(), w.lnfWeight, w.lnfBias, BT, C);
        ops.matmul(a.logits(), a.lnf(), w.wte, null, BT, C, Vp);
        if (targets == null) return Float.NaN;

        float[] losses = ops.crossEntropy(a.logits(), targets, BT, V, Vp);
        double sum = 0;
        for (int i = 0; i < BT; i++) if (targets[i] >= 0) sum += losses[i];
        int counted = counted(targets, BT);
        return counted == 0 ? 0f : (float) (sum / counted);
    }

    /**
     * Adds the gradient of {@code lossScale} × the forward's mean loss to the parameters' gradients
     * (lossScale is 1/accumulation steps when accumulating). Overwrites the logits.
     */
    public static <A> void backward(TrainingOps<A> ops, GptConfig cfg, GptLayout w, Buffers<A> a, int[] inputs, int[] targets,
                                    float lossScale, int B, int T) {
        int L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead(), V = cfg.vocabSize(), Vp = cfg.paddedVocabSize();
        int BT = B * T;
        long BTC = (long) BT * C;
        int counted = counted(targets, BT);
        float dloss = counted == 0 ? 0f : lossScale / counted;
        Block.Gradients<A> d = a.gradients();

        ops.crossEntropyBackward(a.logits(), targets, dloss, BT, V, Vp);
        ops.zero(d.dLn(), BTC);
        ops.matmulBackward(d.dLn(), w.wte, null, a.logits(), a.lnf(), BT, C, Vp);
        ops.zero(d.dResidual(), BTC);
        ops.layernormBackward(d.dResidual(), w.lnfWeight, w.lnfBias, d.dLn(), a.blocks().get(L - 1).output(),
                a.lnfMean(), a.lnfRstd(), BT, C);
        for (int l = L - 1; l >= 0; l--) Block.backward(ops, w, l, a.blocks().get(l), d, B, T, C, NH);
        ops.encoderBackward(w.wte, w.wpe, d.dResidual(), inputs, B, T, C);
    }

    /** Targets that count toward the loss (the others are -1). */
    private static int counted(int[] targets, int n) {
        int count = 0;
        for (int i = 0; i < n; i++) if (targets[i] >= 0) count++;
        return count;
    }
}
