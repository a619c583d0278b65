package dev.jgpt.cuda;

import dev.jgpt.JgptException;
import dev.jgpt.model.Block;
import dev.jgpt.model.Decoder;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.GptLayout;
import dev.jgpt.model.Inference;

import java.util.ArrayList;
import java.util.List;

/**
 * Decoding on the GPU with the key/value cache in device memory: model/Inference's prefill and step,
 * each layer the one {@link Block#forward} run with {@link CudaKernels} (cuBLAS for the matrix
 * products; decode.cu for the embedding at each row's position, the cache writes and attention over
 * each row's own cache). The model's float32 weights are uploaded once; each {@link Sequence} holds
 * its cache on the device (2·n_layer·block_size·n_embd floats, as on the CPU) and its logits on the
 * host, downloaded after every prefill and step.
 *
 * <p>A pass runs up to {@link Inference#CHUNK} rows: a prompt chunk (consecutive positions of one
 * sequence) or a step (one row per sequence, each at its own position), reading every weight once.
 * The logits are those of float32 math on the model's weights, equal to the CPU's up to the order of
 * the sums; unlike the CPU's, a row's rounding may depend on how many rows share its pass.
 *
 * <p>Only {@link Inference.Precision#FP32}: the kernels take their storage type as a parameter
 * (floatX), but the bf16 weights and cache are not written yet. Every call makes the GPU's context
 * current on the calling thread, so one thread may build the decoder and another drive it (one at a
 * time). {@link #close()} frees the device memory of the weights, the buffers and every sequence's cache.
 */
public final class CudaDecoder implements Decoder {
    private static final int CHUNK = Inference.CHUNK;

    /** One sequence: its cache on the device, its logits (and those save() keeps) on the host. */
    public final class Sequence extends Decoder.Sequence {
        private DeviceBuffer cache; // keys [L][NH][maxT][hs], then values in the same layout

        private Sequence(DeviceBuffer cache) {
            super(cfg);
            this.cache = cache;
        }

        private CudaDecoder owner() {
            return CudaDecoder.this;
        }
    }

    private final Cuda cuda;
    private final CudaKernels k;
    private final GptConfig cfg;
    private final GptLayout w;
    private final int L, C, NH, maxT, V, Vp;
    private final List<DeviceBuffer> buffers = new ArrayList<>(); // everything but the caches, freed on close
    private final List<Sequence> sequences = new ArrayList<>();
    private final DeviceBuffer params;
    // one pass's activations, CHUNK rows each; x is the residual stream, proj the output of a projection
    private final DeviceBuffer x, ln, mean, rstd, qkv, atty, proj, fch, logits;
    private final Block.Buffers<DeviceBuffer> chunk; // the buffers above as a block reads and writes them
    private final CudaBlockOps ops;
    // the pass's rows: token then position (ints [2][CHUNK]), and the address of each row's cache
    private final DeviceBuffer rowInts, rowCaches;
    private final int[] hostInts = new int[2 * CHUNK];
    private final long[] hostCaches = new long[CHUNK];
    private final Sequence[] rowSequence = new Sequence[CHUNK];
    private final float[] hostLogits;
    private boolean closed;

    /** The host model's float32 weights, uploaded to the GPU now (the host model is not used after). */
    public CudaDecoder(Cuda cuda, Gpt model) {
        this.cuda = cuda;
        this.k = new CudaKernels(cuda);
        this.cfg = model.config;
        this.w = model.layout;
        L = cfg.nLayer();
        C = cfg.nEmbd();
        NH = cfg.nHead();
        maxT = cfg.blockSize();
        V = cfg.vocabSize();
        Vp = cfg.paddedVocabSize();
        if (C / NH > CudaKernels.MAX_HEAD_SIZE) {
            throw new JgptException("head size " + C / NH + " exceeds the CUDA attention kernel's " + CudaKernels.MAX_HEAD_SIZE);
        }
        cuda.useOnThisThread();
        try {
            params = floats(model.params().length);
            cuda.upload(params, model.params());
            x = floats((long) CHUNK * C);
            ln = floats((long) CHUNK * C);
            mean = floats(CHUNK);
            rstd = floats(CHUNK);
            qkv = floats((long) CHUNK * 3 * C);
            atty = floats((long) CHUNK * C);
            proj = floats((long) CHUNK * C);
            fch = floats((long) CHUNK * 4 * C);
            logits = floats((long) CHUNK * V);
            rowInts = cuda.ints(2 * CHUNK);
            buffers.add(rowInts);
            rowCaches = cuda.longs(CHUNK);
            buffers.add(rowCaches);
            // as the CPU's decoder: the block adds each residual into x and runs GELU in place
            chunk = new Block.Buffers<>(x, ln, mean, rstd, qkv, atty, null, proj, x, ln, mean, rstd, fch, fch, proj, x);
            ops = new CudaBlockOps(k, params);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        hostLogits = new float[CHUNK * V];
    }

    private DeviceBuffer floats(long count) {
        DeviceBuffer b = cuda.floats(count);
        buffers.add(b);
        return b;
    }

    @Override
    public GptConfig config() {
        return cfg;
    }

    @Override
    public Inference.Precision precision() {
        return Inference.Precision.FP32;
    }

    @Override
    public Sequence newSequence() {
        checkOpen();
        cuda.useOnThisThread();
        DeviceBuffer cache = cuda.floats(2L * L * maxT * C);
        cuda.zero(cache);
        Sequence s = new Sequence(cache);
        sequences.add(s);
        return s;
    }

    @Override
    public float[] prefill(Decoder.Sequence sequence, int[] tokens, int from, int to) {
        Sequence seq = ours(sequence);
        Decoder.checkPrefill(seq, tokens, from, to, V);
        cuda.useOnThisThread();
        int rows = 0;
        for (int start = from; start < to; start += rows) {
            rows = Math.min(CHUNK, to - start);
            for (int i = 0; i < rows; i++) {
                hostInts[i] = tokens[start + i];
                hostInts[CHUNK + i] = seq.position() + i;
                hostCaches[i] = seq.cache.address;
            }
            forwardRows(rows);
            seq.advance(rows);
        }
        head(rows - 1, 1);
        System.arraycopy(hostLogits, 0, seq.logits(), 0, V);
        return seq.logits();
    }

    @Override
    public void step(Decoder.Sequence[] seqs, int[] tokens, int n) {
        for (int i = 0; i < Math.min(n, seqs.length); i++) ours(seqs[i]);
        Decoder.checkStep(seqs, tokens, n, V);
        cuda.useOnThisThread();
        for (int i = 0; i < n; i++) {
            rowSequence[i] = (Sequence) seqs[i];
            hostInts[i] = tokens[i];
            hostInts[CHUNK + i] = rowSequence[i].position();
            hostCaches[i] = rowSequence[i].cache.address;
        }
        forwardRows(n);
        head(0, n);
        for (int i = 0; i < n; i++) {
            System.arraycopy(hostLogits, i * V, rowSequence[i].logits(), 0, V);
            rowSequence[i].advance(1);
        }
    }

    /**
     * Runs the n rows set in hostInts/hostCaches through the blocks, storing their keys and values in
     * their caches; x then holds their residual stream after the last block.
     */
    private void forwardRows(int n) {
        cuda.upload(rowInts, hostInts);
        cuda.upload(rowCaches, hostCaches);
        long tokens = rowInts.address, positions = rowInts.at(CHUNK), caches = rowCaches.address;
        k.decodeEmbed(x.address, tokens, positions, ops.p(w.wte), ops.p(w.wpe), n, C);
        for (int l = 0; l < L; l++) {
            int layer = l;
            Block.forward(ops, w, l, chunk, (out, qkvRows) -> {
                k.kvStore(caches, positions, qkvRows.address, n, L, layer, C, NH, maxT);
                k.decodeAttention(out.address, qkvRows.address, caches, positions, n, L, layer, C, NH, maxT);
            }, n, C);
        }
    }

    /**
     * Final LayerNorm and the LM head (tied to wte, the real vocabulary only) for rows [row, row + n)
     * of the pass just run, downloaded into hostLogits [n][V].
     */
    private void head(int row, int n) {
        k.layernormForward(ln.address, mean.address, rstd.address, x.at((long) row * C), ops.p(w.lnfWeight), ops.p(w.lnfBias), n, C);
        k.matmulForward(logits.address, ln.address, ops.p(w.wte), 0L, n, C, V);
        cuda.download(hostLogits, 0, logits.address, n * V);
    }

    private Sequence ours(Decoder.Sequence seq) {
        if (!(seq instanceof Sequence s) || s.owner() != this) throw new IllegalArgumentException("the sequence belongs to another decoder");
        checkOpen();
        return s;
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the decoder is closed");
    }


    /** Frees the device memory of the weights, the buffers and every sequence's cache (the {@link Cuda} stays open). */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        cuda.useOnThisThread();
        for (Sequence s : sequences) {
            if (s.cache != null) cuda.free(s.cache);
            s.cache = null;
        }
        sequences.clear();
        for (DeviceBuffer b : buffers) cuda.free(b);
        buffers.clear();
        k.free();
    }
}
