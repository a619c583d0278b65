package dev.jgpt.model;

import dev.jgpt.tensor.Layout;
import dev.jgpt.tensor.View;

/**
 * Where each GPT-2 tensor lives in the one parameter buffer. Tensors carry HuggingFace's names, but
 * the storage order is llm.c's (all layers' ln_1 weights, then all ln_1 biases, ...) and matrices are
 * stored [out, in] like nn.Linear, so an llm.c checkpoint is this buffer verbatim. {@code wte} has the
 * padded vocabulary's rows.
 */
public final class GptLayout {
    public final Layout layout = new Layout();
    public final View wte, wpe, lnfWeight, lnfBias;
    public final View[] ln1Weight, ln1Bias, qkvWeight, qkvBias, attnProjWeight, attnProjBias;
    public final View[] ln2Weight, ln2Bias, fcWeight, fcBias, fcProjWeight, fcProjBias;

    public GptLayout(GptConfig cfg) {
        int L = cfg.nLayer(), C = cfg.nEmbd();
        wte = layout.add("wte.weight", cfg.paddedVocabSize(), C);
        wpe = layout.add("wpe.weight", cfg.blockSize(), C);
        ln1Weight = perLayer(L, "ln_1.weight", C);
        ln1Bias = perLayer(L, "ln_1.bias", C);
        qkvWeight = perLayer(L, "attn.c_attn.weight", 3 * C, C);
        qkvBias = perLayer(L, "attn.c_attn.bias", 3 * C);
        attnProjWeight = perLayer(L, "attn.c_proj.weight", C, C);
        attnProjBias = perLayer(L, "attn.c_proj.bias", C);
        ln2Weight = perLayer(L, "ln_2.weight", C);
        ln2Bias = perLayer(L, "ln_2.bias", C);
        fcWeight = perLayer(L, "mlp.c_fc.weight", 4 * C, C);
        fcBias = perLayer(L, "mlp.c_fc.bias", 4 * C);
        fcProjWeight = perLayer(L, "mlp.c_proj.weight", C, 4 * C);
        fcProjBias = perLayer(L, "mlp.c_proj.bias", C);
        lnfWeight = layout.add("ln_f.weight", C);
        lnfBias = layout.add("ln_f.bias", C);
    }

    private View[] perLayer(int L, String suffix, int... shape) {
        View[] views = new View[L];
        for (int l = 0; l < L; l++) views[l] = layout.add("h." + l + "." + suffix, shape);
        return views;
    }

    /** Matrices stored [out, in] that HuggingFace's Conv1D stores transposed ([in, out]). */
    public static boolean isConv1dWeight(String name) {
        return name.endsWith(".c_attn.weight") || name.endsWith(".c_proj.weight") || name.endsWith(".c_fc.weight");
    }

    /** Residual-stream output projections, initialized with std 0.02/√(2·n_layer) (GPT-2 paper). */
    public static boolean isResidualProjection(String name) {
        return name.endsWith(".c_proj.weight");
    }
}
