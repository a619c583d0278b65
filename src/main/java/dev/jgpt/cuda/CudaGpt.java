package dev.jgpt.cuda;

import dev.jgpt.JgptException;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.GptLayout;
import dev.jgpt.tensor.View;
import dev.jgpt.train.Optimizer;

/**
 * GPT-2 on the GPU: model.Gpt's forward and backward, op for op in the same order, on device buffers
 * in the same layout (one parameter buffer, one gradient buffer, AdamW's m and v), with
 * {@link CudaKernels} in place of dev.jgpt.kernels. Parameters are uploaded from a host {@link Gpt}
 * and downloaded back into it for what reads them there (checkpoints, samples).
 */
public final class CudaGpt implements AutoCloseable {
    public final GptConfig config;
    public final GptLayout layout;
    private final Cuda cuda;
    private final Gpt host;
    private final CudaKernels k;
    private final DeviceBuffer params, grads;
    private DeviceBuffer m, v;
    private long step;
    private Activations acts;
    private int validTargets;

    /**
     * Device bytes a training step of B×T tokens allocates: the parameters, gradients and AdamW's two
     * moments, and the activations (the counts are {@link Activations}' allocations).
     */
    public static long trainingBytes(GptConfig cfg, int B, int T) {
        return 4 * 4 * cfg.parameterCount() + 4 * Activations.floats(cfg, B, T);
    }

    /** Device activations for up to B·T tokens, laid out as model/Activations. */
    private static final class Activations {
        final int capacity;
        int B, T;
        int[] inputs;
        boolean hasTargets;
        final DeviceBuffer tokens, targets, encoded, fchGelu, lnf, lnfMean, lnfRstd, logits, losses;
        final DeviceBuffer[] ln1, ln1Mean, ln1Rstd, qkv, atty, attLse, residual2, ln2, ln2Mean, ln2Rstd, fch, residual3;
        final DeviceBuffer dResidual, dLn, dAtty, dQkv, dFch, dFchGelu;
        final float[] hostLosses;

        Activations(Cuda cuda, GptConfig cfg, int B, int T) {
            capacity = B * T;
            long allocatedBefore = cuda.allocatedBytes();
            int L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead();
            long BT = (long) B * T;
            tokens = cuda.ints(BT);
            targets = cuda.ints(BT);
            encoded = cuda.floats(BT * C);
            ln1 = layers(cuda, L, BT * C);
            ln1Mean = layers(cuda, L, BT);
            ln1Rstd = layers(cuda, L, BT);
            qkv = layers(cuda, L, BT * 3 * C);
            atty = layers(cuda, L, BT * C);
            attLse = layers(cuda, L, (long) B * NH * T);
            residual2 = layers(cuda, L, BT * C);
            ln2 = layers(cuda, L, BT * C);
            ln2Mean = layers(cuda, L, BT);
            ln2Rstd = layers(cuda, L, BT);
            fch = layers(cuda, L, BT * 4 * C);
            fchGelu = cuda.floats(BT * 4 * C);
            residual3 = layers(cuda, L, BT * C);
            lnf = cuda.floats(BT * C);
            lnfMean = cuda.floats(BT);
            lnfRstd = cuda.floats(BT);
            logits = cuda.floats(BT * cfg.paddedVocabSize());
            losses = cuda.floats(BT);
            dResidual = cuda.floats(BT * C);
            dLn = cuda.floats(BT * C);
            dAtty = cuda.floats(BT * C);
            dQkv = cuda.floats(BT * 3 * C);
            dFch = cuda.floats(BT * 4 * C);
            dFchGelu = cuda.floats(BT * 4 * C);
            hostLosses = new float[(int) BT];
            long allocated = cuda.allocatedBytes() - allocatedBefore;
            if (allocated != 4 * floats(cfg, B, T)) { // the memory check before a run trusts the count
                throw new IllegalStateException("device activations: allocated " + allocated + " bytes, counted " + 4 * floats(cfg, B, T));
            }
        }

        /** The floats (and 4-byte ints) the constructor allocates, in the same order. */
        static long floats(GptConfig cfg, int B, int T) {
            long L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead(), BT = (long) B * T;
            long perLayer = BT * C + 2 * BT + BT * 3 * C + BT * C + B * NH * T + BT * C + BT * C + 2 * BT + BT * 4 * C + BT * C;
            return 2 * BT + BT * C + L * perLayer + BT * 4 * C + BT * C + 2 * BT + BT * cfg.paddedVocabSize() + BT
                    + 3 * BT * C + BT * 3 * C + 2 * BT * 4 * C;
        }

        private static DeviceBuffer[] layers(Cuda cuda, int L, long size) {
            DeviceBuffer[] a = new DeviceBuffer[L];
            for (int l = 0; l < L; l++) a[l] = cuda.floats(size);
            return a;
        }

        void free(Cuda cuda) {
            for (DeviceBuffer b : new DeviceBuffer[]{tokens, targets, encoded, fchGelu, lnf, lnfMean, lnfRstd, logits, losses,
                    dResidual, dLn, dAtty, dQkv, dFch, dFchGelu}) cuda.free(b);
            for (DeviceBuffer[] per : new DeviceBuffer[][]{ln1, ln1Mean, ln1Rstd, qkv, atty, attLse, residual2, ln2, ln2Mean,
                    ln2Rstd, fch, residual3}) {
                for (DeviceBuffer b : per) cuda.free(b);
            }
        }
    }

    /** The host model's parameters on the GPU. */
    public CudaGpt(Cuda cuda, Gpt host) {
        this.cuda = cuda;
        this.host = host;
        this.k = new CudaKernels(cuda);
        this.config = host.config;
        this.layout = host.layout;
        int C = config.nEmbd(), NH = config.nHead();
        if (C / NH > CudaKernels.MAX_HEAD_SIZE) {
            throw new JgptException("head size " + C / NH + " exceeds the CUDA attention kernel's " + CudaKernels.MAX_HEAD_SIZE);
        }
        params = cuda.floats(host.params().length);
        grads = cuda.floats(host.params().length);
        cuda.upload(params, host.params());
        cuda.zero(grads);
    }

    public CudaKernels kernels() {
        return k;
    }

    private long p(View view) {
        return params.at(view.start());
    }

    private long g(View view) {
        return grads.at(view.start());
    }

    /** Same contract as {@link Gpt#forward}: the mean loss over counted targets, NaN without targets. */
    public float forward(int[] inputs, int[] targets, int B, int T) {
        GptConfig cfg = config;
        if (T > cfg.blockSize()) {
            throw new JgptException("sequence length " + T + " exceeds the model's block_size " + cfg.blockSize());
        }
        int L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead(), V = cfg.vocabSize(), Vp = cfg.paddedVocabSize();
        int BT = B * T;
        checkTokens("input", inputs, BT, V, false);
        if (targets != null) checkTokens("target", targets, BT, V, true);
        if (acts == null || acts.capacity < BT) {
            if (acts != null) acts.free(cuda);
            acts = new Activations(cuda, cfg, B, T);
        }
        Activations a = acts;
        a.B = B;
        a.T = T;
        a.inputs = inputs.clone();
        a.hasTargets = targets != null;
        cuda.upload(a.tokens, java.util.Arrays.copyOf(inputs, BT));
        GptLayout w = layout;

        k.encoderForward(a.encoded.address, a.tokens.address, p(w.wte), p(w.wpe), B, T, C);
        for (int l = 0; l < L; l++) {
            DeviceBuffer residual = l == 0 ? a.encoded : a.residual3[l - 1];
            // x = x + attn(ln_1(x))
            k.layernormForward(a.ln1[l].address, a.ln1Mean[l].address, a.ln1Rstd[l].address, residual.address,
                    p(w.ln1Weight[l]), p(w.ln1Bias[l]), BT, C);
            k.matmulForward(a.qkv[l].address, a.ln1[l].address, p(w.qkvWeight[l]), p(w.qkvBias[l]), BT, C, 3 * C);
            k.attentionForward(a.atty[l].address, a.attLse[l].address, a.qkv[l].address, B, T, C, NH);
            k.matmulForward(a.residual2[l].address, a.atty[l].address, p(w.attnProjWeight[l]), p(w.attnProjBias[l]), BT, C, C);
            k.accumulate(a.residual2[l].address, residual.address, (long) BT * C);
            // x = x + mlp(ln_2(x))
            k.layernormForward(a.ln2[l].address, a.ln2Mean[l].address, a.ln2Rstd[l].address, a.residual2[l].address,
                    p(w.ln2Weight[l]), p(w.ln2Bias[l]), BT, C);
            k.matmulForward(a.fch[l].address, a.ln2[l].address, p(w.fcWeight[l]), p(w.fcBias[l]), BT, C, 4 * C);
            k.geluForward(a.fchGelu.address, a.fch[l].address, (long) BT * 4 * C);
            k.matmulForward(a.residual3[l].address, a.fchGelu.address, p(w.fcProjWeight[l]), p(w.fcProjBias[l]), BT, 4 * C, C);
            k.accumulate(a.residual3[l].address, a.residual2[l].address, (long) BT * C);
        }
        k.layernormForward(a.lnf.address, a.lnfMean.address, a.lnfRstd.address, a.residual3[L - 1].address,
                p(w.lnfWeight), p(w.lnfBias), BT, C);
        k.matmulForward(a.logits.address, a.lnf.address, p(w.wte), 0L, BT, C, Vp);

        if (targets == null) {
            validTargets = 0;
            return Float.NaN;
        }
        cuda.upload(a.targets, java.util.Arrays.copyOf(targets, BT));
        k.crossEntropyForward(a.losses.address, a.logits.address, a.targets.address, BT, V, Vp);
        cuda.download(a.hostLosses, 0, a.losses.address, BT);
        double sum = 0;
        int count = 0;
        for (int i = 0; i < BT; i++) {
            if (targets[i] >= 0) {
                sum += a.hostLosses[i];
                count++;
            }
        }
        validTargets = count;
        return count == 0 ? 0f : (float) (sum / count);
    }

    /** Logits of rows [row, row + rows) of the last forward (paddedVocabSize each), into a host array. */
    public float[] logits(int row, int rows) {
        if (acts == null) throw new IllegalStateException("no forward pass yet");
        int Vp = config.paddedVocabSize();
        float[] out = new float[rows * Vp];
        cuda.download(out, 0, acts.logits.at((long) row * Vp), rows * Vp);
        return out;
    }

    /** Same contract as {@link Gpt#backward}: accumulates the gradient of lossScale × mean loss; overwrites the logits. */
    public void backward(float lossScale) {
        Activations a = acts;
        if (a == null || !a.hasTargets) throw new IllegalStateException("backward needs a forward with targets");
        GptConfig cfg = config;
        int B = a.B, T = a.T, L = cfg.nLayer(), C = cfg.nEmbd(), NH = cfg.nHead();
        int V = cfg.vocabSize(), Vp = cfg.paddedVocabSize();
        int BT = B * T;
        GptLayout w = layout;
        float dloss = validTargets == 0 ? 0f : lossScale / validTargets;
        long btc = (long) BT * C;

        k.classifierFused(a.logits.address, a.losses.address, a.targets.address, dloss, BT, V, Vp);
        long dlogits = a.logits.address;
        cuda.zero(a.dLn.address, btc);
        k.matmulBackward(a.dLn.address, g(w.wte), 0L, dlogits, a.lnf.address, p(w.wte), BT, C, Vp);
        cuda.zero(a.dResidual.address, btc);
        k.layernormBackward(a.dResidual.address, g(w.lnfWeight), g(w.lnfBias), a.dLn.address, a.residual3[L - 1].address,
                p(w.lnfWeight), a.lnfMean.address, a.lnfRstd.address, BT, C);

        for (int l = L - 1; l >= 0; l--) {
            DeviceBuffer residual = l == 0 ? a.encoded : a.residual3[l - 1];
            // MLP: dResidual is d(residual3) here; it becomes d(residual2) after ln_2's backward.
            k.geluForward(a.fchGelu.address, a.fch[l].address, 4 * btc);
            cuda.zero(a.dFchGelu.address, 4 * btc);
            k.matmulBackward(a.dFchGelu.address, g(w.fcProjWeight[l]), g(w.fcProjBias[l]), a.dResidual.address,
                    a.fchGelu.address, p(w.fcProjWeight[l]), BT, 4 * C, C);
            cuda.zero(a.dFch.address, 4 * btc);
            k.geluBackward(a.dFch.address, a.fch[l].address, a.dFchGelu.address, 4 * btc);
            cuda.zero(a.dLn.address, btc);
            k.matmulBackward(a.dLn.address, g(w.fcWeight[l]), g(w.fcBias[l]), a.dFch.address, a.ln2[l].address,
                    p(w.fcWeight[l]), BT, C, 4 * C);
            k.layernormBackward(a.dResidual.address, g(w.ln2Weight[l]), g(w.ln2Bias[l]), a.dLn.address,
                    a.residual2[l].address, p(w.ln2Weight[l]), a.ln2Mean[l].address, a.ln2Rstd[l].address, BT, C);
            // attention: dResidual becomes d(block input) after ln_1's backward.
            cuda.zero(a.dAtty.address, btc);
            k.matmulBackward(a.dAtty.address, g(w.attnProjWeight[l]), g(w.attnProjBias[l]), a.dResidual.address,
                    a.atty[l].address, p(w.attnProjWeight[l]), BT, C, C);
            cuda.zero(a.dQkv.address, 3 * btc);
            k.attentionBackward(a.dQkv.address, a.dAtty.address, a.qkv[l].address, a.atty[l].address, a.attLse[l].address,
                    B, T, C, NH);
            cuda.zero(a.dLn.address, btc);
            k.matmulBackward(a.dLn.address, g(w.qkvWeight[l]), g(w.qkvBias[l]), a.dQkv.address, a.ln1[l].address,
                    p(w.qkvWeight[l]), BT, C, 3 * C);
            k.layernormBackward(a.dResidual.address, g(w.ln1Weight[l]), g(w.ln1Bias[l]), a.dLn.address, residual.address,
                    p(w.ln1Weight[l]), a.ln1Mean[l].address, a.ln1Rstd[l].address, BT, C);
        }
        k.encoderBackward(g(w.wte), g(w.wpe), a.dResidual.address, a.inputs, B, T, C);
        a.hasTargets = false; // the logits are gone; a second backward would be wrong
    }

    public void zeroGrad() {
        cuda.zero(grads);
    }

    /** L2 norm of the whole gradient. */
    public double gradNorm() {
        return Math.sqrt(k.sumOfSquares(grads.address, grads.count));
    }

    /** L2 norm of one tensor's gradient. */
    public double gradNorm(View view) {
        return Math.sqrt(k.sumOfSquares(g(view), view.size()));
    }

    /**
     * One AdamW update exactly as train/Optimizer.step, with {@code opt}'s hyperparameters: the global
     * norm {@code norm} clipped to {@code maxNorm} (0 = off), weight decay on tensors of rank ≥ 2
     * only, the gradient zeroed after. Consecutive tensors with the same decay are updated in one launch.
     */
    public void step(float lr, double maxNorm, double norm, Optimizer opt) {
        allocateMoments();
        step++;
        float coef = (float) (maxNorm > 0 ? Math.min(1.0, maxNorm / (norm + 1e-6)) : 1.0);
        var views = layout.layout.views();
        int i = 0;
        while (i < views.size()) {
            float wd = views.get(i).rank() >= 2 ? opt.weightDecay : 0f;
            int j = i;
            while (j + 1 < views.size() && (views.get(j + 1).rank() >= 2 ? opt.weightDecay : 0f) == wd) j++;
            k.adamw(params, grads, m, v, views.get(i).start(), views.get(j).end(), coef, lr, opt.beta1, opt.beta2, opt.eps, wd, step);
            i = j + 1;
        }
        cuda.zero(grads);
    }

    private void allocateMoments() {
        if (m != null) return;
        m = cuda.floats(params.count);
        v = cuda.floats(params.count);
        cuda.zero(m);
        cuda.zero(v);
    }

    /** The weights, and {@code opt}'s moments and step count, copied from the GPU into the host model and {@code opt}. */
    public void toHost(Optimizer opt) {
        cuda.download(host.params(), params);
        if (opt == null) return;
        if (m != null) {
            cuda.download(opt.m(), m);
            cuda.download(opt.v(), v);
        } else {
            java.util.Arrays.fill(opt.m(), 0f);
            java.util.Arrays.fill(opt.v(), 0f);
        }
        opt.setSteps(step);
    }

    /** The host model's weights, and {@code opt}'s moments and step count, copied to the GPU. */
    public void fromHost(Optimizer opt) {
        cuda.upload(params, host.params());
        if (opt == null) return;
        allocateMoments();
        cuda.upload(m, opt.m());
        cuda.upload(v, opt.v());
        step = opt.steps();
    }

    /** The gradient, copied into a host buffer of the same layout. */
    public void downloadGrads(float[] dst) {
        cuda.download(dst, grads);
    }

    /** Frees the model's device memory (the {@link Cuda} stays open). */
    @Override
    public void close() {
        if (acts != null) acts.free(cuda);
        acts = null;
        for (DeviceBuffer b : new DeviceBuffer[]{params, grads, m, v}) if (b != null) cuda.free(b);
        k.free();
    }

    private static void checkTokens(String what, int[] tokens, int n, int V, boolean allowIgnore) {
        if (tokens.length < n) throw new IllegalArgumentException(what + " ids: expected " + n + ", got " + tokens.length);
        for (int i = 0; i < n; i++) {
            int t = tokens[i];
            if (t >= V || t < (allowIgnore ? -1 : 0)) {
                throw new JgptException(what + " id " + t + " at position " + i + " is outside the vocabulary [0, " + V + ")");
            }
        }
    }

    /** This model as an {@link Engine} for evaluation only (its step is refused). */
    public Engine engine() {
        return engine(null);
    }

    /**
     * This model as a training {@link Engine} updated by AdamW as {@code optimizer} (the host's, for the
     * CPU) would: the same update with its hyperparameters, the moments on the GPU; {@link Engine#toHost}
     * copies the weights into the host model and the moments and step count into {@code optimizer}.
     */
    public Engine engine(Optimizer optimizer) {
        CudaGpt gpu = this;
        return new Engine() {
            public GptConfig config() {
                return config;
            }

            public GptLayout layout() {
                return layout;
            }

            public float forward(int[] inputs, int[] targets, int B, int T) {
                return gpu.forward(inputs, targets, B, T);
            }

            public float[] logits(int first, int rows) {
                return gpu.logits(first, rows);
            }

            public float[] losses(int n) {
                if (gpu.acts == null || !gpu.acts.hasTargets) throw new IllegalStateException("no forward pass with targets yet");
                return java.util.Arrays.copyOf(gpu.acts.hostLosses, n);
            }

            public void backward(float lossScale) {
                gpu.backward(lossScale);
            }

            public void zeroGrad() {
                gpu.zeroGrad();
            }

            public double gradNorm() {
                return gpu.gradNorm();
            }

            public double gradNorm(View view) {
                return gpu.gradNorm(view);
            }

            public void step(float lr, double maxNorm, double norm) {
                if (optimizer == null) throw new IllegalStateException("an engine for evaluation has no optimizer");
                gpu.step(lr, maxNorm, norm, optimizer);
            }

            public void toHost() {
                gpu.toHost(optimizer);
            }

            public void fromHost() {
                gpu.fromHost(optimizer);
            }

            public void sync() {
                cuda.sync();
            }

            public void reduceGradients(java.util.function.Consumer<float[]> allReduce) {
                float[] hostGrads = host.grads();
                cuda.download(hostGrads, grads);
                allReduce.accept(hostGrads);
                cuda.upload(grads, hostGrads);
            }
        };
    }
}
