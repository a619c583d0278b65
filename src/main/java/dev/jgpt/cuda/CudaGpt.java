package dev.jgpt.cuda;

import dev.jgpt.JgptException;
import dev.jgpt.model.Block;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.GptLayout;
import dev.jgpt.model.Network;
import dev.jgpt.model.OpProfile;
import dev.jgpt.model.TrainingOps;
import dev.jgpt.tensor.View;
import dev.jgpt.train.Optimizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * GPT-2 on the GPU: the network's one description ({@link Network}, {@link Block}) run with
 * {@link CudaKernels} on device buffers in the host's layout (one parameter buffer, one gradient
 * buffer, AdamW's m and v), so every operation comes in the CPU's order. Parameters are uploaded from a
 * host {@link Gpt} and downloaded back into it for what reads them there (checkpoints, samples).
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
    private final GpuOps ops;
    private TrainingOps<DeviceBuffer> opsRun; // ops, or ops timed by a profile

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
        int[] hostTargets; // the last forward's, until its backward
        final DeviceBuffer tokens, targets, encoded, fchGelu, lnf, lnfMean, lnfRstd, logits, losses;
        final DeviceBuffer[] ln1, ln1Mean, ln1Rstd, qkv, atty, attLse, residual2, ln2, ln2Mean, ln2Rstd, fch, residual3;
        final DeviceBuffer dResidual, dLn, dAtty, dQkv, dFch, dFchGelu;
        final float[] hostLosses;
        final Network.Buffers<DeviceBuffer> network; // the buffers above as the network reads and writes them

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
            List<Block.Buffers<DeviceBuffer>> blocks = new ArrayList<>();
            for (int l = 0; l < L; l++) {
                // as on the CPU: each residual is added into the projection's output
                blocks.add(new Block.Buffers<>(l == 0 ? encoded : residual3[l - 1], ln1[l], ln1Mean[l], ln1Rstd[l], qkv[l],
                        atty[l], attLse[l], residual2[l], residual2[l], ln2[l], ln2Mean[l], ln2Rstd[l], fch[l], fchGelu,
                        residual3[l], residual3[l]));
            }
            network = new Network.Buffers<>(encoded, blocks, lnf, lnfMean, lnfRstd, logits,
                    new Block.Gradients<>(dResidual, dLn, dAtty, dQkv, dFch, dFchGelu));
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
        ops = new GpuOps();
        opsRun = ops;
    }

    /** Times every operation of the following forwards and backwards in {@code profile} (a {@link Cuda#streamClock}'s); null stops. */
    public void profile(OpProfile profile) {
        opsRun = profile == null ? ops : profile.wrap(ops);
    }

    public CudaKernels kernels() {
        return k;
    }

    /** Same contract as {@link Gpt#forward}: the mean loss over counted targets, NaN without targets. */
    public float forward(int[] inputs, int[] targets, int B, int T) {
        GptConfig cfg = config;
        cfg.checkBatch(inputs, targets, B, T);
        int BT = B * T;
        if (acts == null || acts.capacity < BT) {
            if (acts != null) acts.free(cuda);
            acts = new Activations(cuda, cfg, B, T);
        }
        Activations a = acts;
        a.B = B;
        a.T = T;
        a.inputs = inputs.clone();
        a.hostTargets = targets == null ? null : targets.clone();
        return Network.forward(opsRun, cfg, layout, a.network, a.inputs, a.hostTargets, B, T);
    }

    /** Logits of rows [row, row + rows) of the last forward (paddedVocabSize each), into a host array. */
    public float[] logits(int row, int rows) {
        if (acts == null) throw new IllegalStateException("no forward pass yet");
        int Vp = config.paddedVocabSize();
        if (row < 0 || rows < 0 || (long) row + rows > acts.capacity) {
            throw new IndexOutOfBoundsException("logits rows [" + row + ", " + ((long) row + rows) + ") of " + acts.capacity);
        }
        long count = (long) rows * Vp;
        if (count > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException(rows + " rows of logits (" + count + " floats) are more than one Java array holds; ask for fewer");
        }
        float[] out = new float[(int) count];
        cuda.download(out, 0, acts.logits.at((long) row * Vp), (int) count);
        return out;
    }

    /** Same contract as {@link Gpt#backward}: accumulates the gradient of lossScale × mean loss; overwrites the logits. */
    public void backward(float lossScale) {
        Activations a = acts;
        if (a == null || a.hostTargets == null) throw new IllegalStateException("backward needs a forward with targets");
        Network.backward(opsRun, config, layout, a.network, a.inputs, a.hostTargets, lossScale, a.B, a.T);
        a.hostTargets = null; // the logits are gone; a second backward would be wrong
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
        return Math.sqrt(k.sumOfSquares(ops.g(view), view.size()));
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
                if (gpu.acts == null || gpu.acts.hostTargets == null) throw new IllegalStateException("no forward pass with targets yet");
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

    /** The network's operations on the GPU: the block's, and training's on this model's gradients and activations. */
    private final class GpuOps extends CudaBlockOps implements TrainingOps<DeviceBuffer> {
        GpuOps() {
            super(CudaGpt.this.k, params);
        }

        /** The device address of a parameter's gradient; 0 (none) for null. */
        long g(View view) {
            return view == null ? 0L : grads.at(view.start());
        }

        /** Uploads the tokens; the backward's embedding gradient takes them from the host. */
        @Override
        public void encoder(DeviceBuffer out, int[] tokens, View wte, View wpe, int B, int T, int C) {
            cuda.upload(acts.tokens, Arrays.copyOf(tokens, B * T));
            k.encoderForward(out.address, acts.tokens.address, p(wte), p(wpe), B, T, C);
        }

        @Override
        public void attention(DeviceBuffer out, DeviceBuffer lse, DeviceBuffer qkv, int B, int T, int C, int NH) {
            k.attentionForward(out.address, lse.address, qkv.address, B, T, C, NH);
        }

        /** Uploads the targets, which the backward reads too, and downloads the losses. */
        @Override
        public float[] crossEntropy(DeviceBuffer logits, int[] targets, int n, int V, int Vp) {
            cuda.upload(acts.targets, Arrays.copyOf(targets, n));
            k.crossEntropyForward(acts.losses.address, logits.address, acts.targets.address, n, V, Vp);
            cuda.download(acts.hostLosses, 0, acts.losses.address, n);
            return acts.hostLosses;
        }

        @Override
        public void zero(DeviceBuffer x, long n) {
            cuda.zero(x.address, n);
        }

        /** The losses again and the gradient in one pass over the logits (classifier.cu). */
        @Override
        public void crossEntropyBackward(DeviceBuffer logits, int[] targets, float dloss, int n, int V, int Vp) {
            k.classifierFused(logits.address, acts.losses.address, acts.targets.address, dloss, n, V, Vp);
        }

        @Override
        public void matmulBackward(DeviceBuffer dinp, View weight, View bias, DeviceBuffer dout, DeviceBuffer inp,
                                   int n, int C, int OC) {
            k.matmulBackward(dinp == null ? 0L : dinp.address, g(weight), g(bias), dout.address, inp.address, p(weight), n, C, OC);
        }

        @Override
        public void layernormBackward(DeviceBuffer dinp, View weight, View bias, DeviceBuffer dout, DeviceBuffer inp,
                                      DeviceBuffer mean, DeviceBuffer rstd, int n, int C) {
            k.layernormBackward(dinp.address, g(weight), g(bias), dout.address, inp.address, p(weight), mean.address,
                    rstd.address, n, C);
        }

        @Override
        public void attentionBackward(DeviceBuffer dqkv, DeviceBuffer dout, DeviceBuffer qkv, DeviceBuffer out,
                                      DeviceBuffer lse, int B, int T, int C, int NH) {
            k.attentionBackward(dqkv.address, dout.address, qkv.address, out.address, lse.address, B, T, C, NH);
        }

        @Override
        public void geluBackward(DeviceBuffer dinp, DeviceBuffer inp, DeviceBuffer dout, long n) {
            k.geluBackward(dinp.address, inp.address, dout.address, n);
        }

        @Override
        public void encoderBackward(View wte, View wpe, DeviceBuffer dout, int[] tokens, int B, int T, int C) {
            k.encoderBackward(g(wte), g(wpe), dout.address, tokens, B, T, C);
        }
    }
}
