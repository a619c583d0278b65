package dev.jgpt.model;

import dev.jgpt.tensor.Slice;

import java.util.ArrayList;
import java.util.List;

/**
 * Everything the forward pass saves for the backward pass, for batches of up to B×T tokens, plus the
 * scratch gradients of one layer (the backward walks the layers one at a time, so one layer's worth
 * of activation gradients is enough). Allocated once and reused every step.
 */
final class Activations {
    final int capacity;                    // tokens (B·T) the buffers hold
    int B, T;                              // the current batch's shape
    final Slice encoded;                   // (B·T, C) token + position embeddings
    final Slice[] ln1, ln1Mean, ln1Rstd;   // per layer: (B·T, C), (B·T), (B·T)
    final Slice[] qkv;                     // (B·T, 3C)
    final Slice[] atty;                    // (B·T, C) attention output before the projection
    final Slice[] attLse;                  // (B, NH, T) log-sum-exp of each score row
    final Slice[] residual2;               // (B·T, C) after the attention residual
    final Slice[] ln2, ln2Mean, ln2Rstd;
    final Slice[] fch;                     // (B·T, 4C) the MLP's hidden layer before GELU
    final Slice fchGelu;                   // (B·T, 4C) after GELU: one layer's worth, recomputed in backward
    final Slice[] residual3;               // (B·T, C) the block's output
    final Slice lnf, lnfMean, lnfRstd;
    final float[] logits;                  // (B·T, Vp); overwritten with dlogits by the backward
    final float[] losses;                  // (B·T)
    final float[] logitMax;                // (B·T) each row's largest logit, for the cross-entropy backward
    final double[] logitSumExp;            // (B·T) each row's Σ exp(logit − max)
    int[] inputs, targets;                 // the current batch (B·T each)

    // one layer's activation gradients, reused across layers
    final Slice dResidual, dLn, dAtty, dQkv, dFch, dFchGelu;

    final Network.Buffers<Slice> network;  // the buffers above as the network reads and writes them

    Activations(GptConfig cfg, int B, int T) {
        this.capacity = B * T;
        this.B = B;
        this.T = T;
        int L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead();
        int BT = B * T;
        long logitsSize = (long) BT * cfg.paddedVocabSize();
        if (logitsSize > Integer.MAX_VALUE - 16) {
            // training refuses such a micro-batch with its config; eval and bench reach this with their --batch
            long fits = (Integer.MAX_VALUE - 16) / ((long) T * cfg.paddedVocabSize());
            throw new dev.jgpt.JgptException("a batch of " + B + "x" + T + " tokens needs " + logitsSize
                    + " logits, more than one Java array holds; a batch of at most " + fits + "x" + T + " fits");
        }
        encoded = floats(BT * C);
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
        fchGelu = floats(BT * 4 * C);
        residual3 = layers(L, BT * C);
        lnf = floats(BT * C);
        lnfMean = floats(BT);
        lnfRstd = floats(BT);
        logits = new float[(int) logitsSize];
        losses = new float[BT];
        logitMax = new float[BT];
        logitSumExp = new double[BT];
        dResidual = floats(BT * C);
        dLn = floats(BT * C);
        dAtty = floats(BT * C);
        dQkv = floats(BT * 3 * C);
        dFch = floats(BT * 4 * C);
        dFchGelu = floats(BT * 4 * C);
        List<Block.Buffers<Slice>> blocks = new ArrayList<>();
        for (int l = 0; l < L; l++) {
            // each residual is added into the projection's output, which the backward does not need
            blocks.add(new Block.Buffers<>(l == 0 ? encoded : residual3[l - 1], ln1[l], ln1Mean[l], ln1Rstd[l], qkv[l], atty[l],
                    attLse[l], residual2[l], residual2[l], ln2[l], ln2Mean[l], ln2Rstd[l], fch[l], fchGelu, residual3[l], residual3[l]));
        }
        network = new Network.Buffers<>(encoded, blocks, lnf, lnfMean, lnfRstd, Slice.of(logits),
                new Block.Gradients<>(dResidual, dLn, dAtty, dQkv, dFch, dFchGelu));
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

    private static Slice floats(int size) {
        return Slice.of(new float[size]);
    }

    private static Slice[] layers(int L, int size) {
        Slice[] a = new Slice[L];
        for (int l = 0; l < L; l++) a[l] = floats(size);
        return a;
    }
}
