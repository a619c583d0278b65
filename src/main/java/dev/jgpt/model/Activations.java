package dev.jgpt.model;

/**
 * Everything the forward pass saves for the backward pass, for batches of up to B×T tokens, plus the
 * scratch gradients of one layer (the backward walks the layers one at a time, so one layer's worth
 * of activation gradients is enough). Allocated once and reused every step.
 */
final class Activations {
    final int capacity;                    // tokens (B·T) the buffers hold
    int B, T;                              // the current batch's shape
    final float[] encoded;                 // (B·T, C) token + position embeddings
    final float[][] ln1, ln1Mean, ln1Rstd; // per layer: (B·T, C), (B·T), (B·T)
    final float[][] qkv;                   // (B·T, 3C)
    final float[][] atty;                  // (B·T, C) attention output before the projection
    final float[][] attLse;                // (B, NH, T) log-sum-exp of each score row
    final float[][] residual2;             // (B·T, C) after the attention residual
    final float[][] ln2, ln2Mean, ln2Rstd;
    final float[][] fch;                   // (B·T, 4C) the MLP's hidden layer before GELU
    final float[] fchGelu;                 // (B·T, 4C) after GELU: one layer's worth, recomputed in backward
    final float[][] residual3;             // (B·T, C) the block's output
    final float[] lnf, lnfMean, lnfRstd;
    final float[] logits;                  // (B·T, Vp); overwritten with dlogits by the backward
    final float[] losses;                  // (B·T)
    final float[] logitMax;                // (B·T) each row's largest logit, for the cross-entropy backward
    final double[] logitSumExp;            // (B·T) each row's Σ exp(logit − max)
    int[] inputs, targets;                 // the current batch (B·T each)

    // one layer's activation gradients, reused across layers
    final float[] dResidual, dLn, dAtty, dQkv, dFch, dFchGelu;

    Activations(GptConfig cfg, int B, int T) {
        this.capacity = B * T;
        this.B = B;
        this.T = T;
        int L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead();
        int BT = B * T;
        long logitsSize = (long) BT * cfg.paddedVocabSize();
        if (logitsSize > Integer.MAX_VALUE - 16) {
            throw new dev.jgpt.JgptException("a micro-batch of " + B + "x" + T + " tokens needs " + logitsSize
                    + " logits, more than one Java array holds; use a smaller batch (accumulate gradients instead)");
        }
        encoded = new float[BT * C];
        ln1 = layers(L, BT * C);
        ln1Mean = layers(L, BT);
        ln1Rstd = layers(L, BT);
        qkv = layers(L, BT * 3 * C);
        atty = layers(L, BT * C);
        attLse = layers(L, B * NH * T);
        residual2 = layers(L, BT * C);
        ln2 = layers(L, BT * C);
        ln2Mean = layers(L, BT);
        ln2Rstd = layers(L, BT);
        fch = layers(L, BT * 4 * C);
        fchGelu = new float[BT * 4 * C];
        residual3 = layers(L, BT * C);
        lnf = new float[BT * C];
        lnfMean = new float[BT];
        lnfRstd = new float[BT];
        logits = new float[(int) logitsSize];
        losses = new float[BT];
        logitMax = new float[BT];
        logitSumExp = new double[BT];
        dResidual = new float[BT * C];
        dLn = new float[BT * C];
        dAtty = new float[BT * C];
        dQkv = new float[BT * 3 * C];
        dFch = new float[BT * 4 * C];
        dFchGelu = new float[BT * 4 * C];
    }

    /**
     * The floats the constructor allocates for B×T tokens, counted from the same shapes (a double
     * counts as two): what {@link MemoryEstimate} charges a training run for its activations.
     */
    static long floats(GptConfig cfg, int B, int T) {
        long L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead(), BT = (long) B * T;
        long perLayer = BT * C * (1 + 3 + 1 + 1 + 1 + 4 + 1)    // ln1, qkv, atty, residual2, ln2, fch, residual3
                + BT * 4                                        // ln1Mean, ln1Rstd, ln2Mean, ln2Rstd
                + (long) B * NH * T;                            // attLse
        long once = BT * C * (1 + 4 + 1)                        // encoded, fchGelu, lnf
                + BT * 2                                        // lnfMean, lnfRstd
                + BT * 2 + BT * 2                               // losses, logitMax; logitSumExp (doubles)
                + BT * C * (1 + 1 + 1 + 3 + 4 + 4);             // dResidual, dLn, dAtty, dQkv, dFch, dFchGelu
        return L * perLayer + once + logitFloats(cfg, B, T);
    }

    /** The logits' share of {@link #floats}: one row of the padded vocabulary per token. */
    static long logitFloats(GptConfig cfg, int B, int T) {
        return (long) B * T * cfg.paddedVocabSize();
    }

    private static float[][] layers(int L, int size) {
        float[][] a = new float[L][];
        for (int l = 0; l < L; l++) a[l] = new float[size];
        return a;
    }
}
