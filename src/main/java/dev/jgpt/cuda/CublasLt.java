package dev.jgpt.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLASLt's GEMM (cublasLtMatmul), bound through java.lang.foreign, for the same three products as
 * {@link Cublas}, with two of its epilogues: CUBLASLT_EPILOGUE_BIAS adds the bias in the forward's
 * GEMM, CUBLASLT_EPILOGUE_BGRADB writes the bias gradient from the weight gradient's GEMM. Compute
 * type CUBLAS_COMPUTE_32F with scale type CUDA_R_32F: float32 products and sums, never TF32 (that
 * is CUBLAS_COMPUTE_32F_FAST_TF32), as the CPU engine computes.
 *
 * <p>Each distinct product (shape, epilogue, pointer alignments) gets its descriptors and the
 * algorithm cuBLASLt's heuristic picks once, on first use; a training step then only sets the bias
 * pointer and calls cublasLtMatmul. The workspace is 32 MiB of device memory (llm.c's size for
 * Hopper). Everything is freed on close.
 *
 * <p>The numbers below are cublasLt.h's, cublas_api.h's and library_types.h's (the same in CUDA 12
 * and 13): each is named after its C enumerator.
 */
public final class CublasLt implements AutoCloseable {
    static final int OP_N = 0, OP_T = 1;                     // cublasOperation_t: CUBLAS_OP_N, CUBLAS_OP_T
    private static final int CUDA_R_32F = 0;                  // cudaDataType_t (library_types.h)
    private static final int CUBLAS_COMPUTE_32F = 68;         // cublasComputeType_t (cublas_api.h)
    private static final int STATUS_NOT_SUPPORTED = 15;       // cublasStatus_t CUBLAS_STATUS_NOT_SUPPORTED

    // cublasLtMatmulDescAttributes_t: TRANSA/TRANSB int32_t, EPILOGUE uint32_t, BIAS_POINTER a device pointer
    private static final int DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_EPILOGUE = 7, DESC_BIAS_POINTER = 8;

    // cublasLtEpilogue_t
    static final int EPILOGUE_DEFAULT = 1;  // CUBLASLT_EPILOGUE_DEFAULT: D = alpha·op(A)·op(B) + beta·C
    static final int EPILOGUE_BIAS = 4;     // CUBLASLT_EPILOGUE_BIAS: + bias[row of D], broadcast over D's columns
    static final int EPILOGUE_BGRADB = 512; // CUBLASLT_EPILOGUE_BGRADB: bias[col of D] = Σ over k of op(B), written

    // cublasLtMatmulPreferenceAttributes_t: MAX_WORKSPACE_BYTES uint64_t, MIN_ALIGNMENT_*_BYTES uint32_t (default 256)
    private static final int PREF_MAX_WORKSPACE_BYTES = 1;
    private static final int PREF_MIN_ALIGNMENT_A_BYTES = 5, PREF_MIN_ALIGNMENT_B_BYTES = 6,
            PREF_MIN_ALIGNMENT_C_BYTES = 7, PREF_MIN_ALIGNMENT_D_BYTES = 8;

    static final long WORKSPACE_BYTES = 32L << 20;

    /** Bias vectors are fused only from 16-byte aligned addresses (cuBLASLt's epilogue loads them in vectors). */
    static final int BIAS_ALIGNMENT = 16;

    /** cublasLtMatmulAlgo_t: {@code uint64_t data[8]}. */
    static final MemoryLayout ALGO = MemoryLayout.sequenceLayout(8, JAVA_LONG);

    /** cublasLtMatmulHeuristicResult_t: algo, size_t workspaceSize, cublasStatus_t state, float wavesCount, int reserved[4]. */
    static final StructLayout HEURISTIC_RESULT = MemoryLayout.structLayout(
            ALGO.withName("algo"),
            JAVA_LONG.withName("workspaceSize"),
            JAVA_INT.withName("state"),
            JAVA_FLOAT.withName("wavesCount"),
            MemoryLayout.sequenceLayout(4, JAVA_INT).withName("reserved"));
    private static final long RESULT_STATE = HEURISTIC_RESULT.byteOffset(MemoryLayout.PathElement.groupElement("state"));

    /**
     * One column-major GEMM as cuBLAS sees jgpt's row-major matrices (a row-major [R, C] matrix is a
     * column-major [C, R] one with leading dimension C): D[m, n] = op(A)[m, k] · op(B)[k, n], D's
     * leading dimension ldd. The same products as {@link Cublas}'s three.
     */
    record Gemm(String what, int opA, int opB, int m, int n, int k, int lda, int ldb, int ldd) {
        /** out[rows, OC] = inp[rows, C] · w[OC, C]ᵀ: D = out [OC, rows], A = w ([C, OC] transposed), B = inp [C, rows]. */
        static Gemm forward(int rows, int C, int OC) {
            return new Gemm("forward", OP_T, OP_N, OC, rows, C, C, C, OC);
        }

        /** dinp[rows, C] += dout[rows, OC] · w[OC, C]: D = dinp [C, rows], A = w [C, OC], B = dout [OC, rows]. */
        static Gemm backwardInput(int rows, int C, int OC) {
            return new Gemm("backward input", OP_N, OP_N, C, rows, OC, C, OC, C);
        }

        /**
         * dw[OC, C] += dout[rows, OC]ᵀ · inp[rows, C]: D = dw [C, OC], A = inp [C, rows], B = dout
         * ([OC, rows] transposed). D's columns are dout's columns and k runs over the rows, so
         * BGRADB's Σ over k of op(B) is dbias[o] = Σ_r dout[r, o] (BGRADA would sum inp).
         */
        static Gemm backwardWeight(int rows, int C, int OC) {
            return new Gemm("backward weight", OP_N, OP_T, C, OC, rows, C, OC, C);
        }

        /** A and B as stored, before op(): rows × cols. */
        long rowsA() {
            return opA == OP_N ? m : k;
        }

        long colsA() {
            return opA == OP_N ? k : m;
        }

        long rowsB() {
            return opB == OP_N ? k : n;
        }

        long colsB() {
            return opB == OP_N ? n : k;
        }

        @Override
        public String toString() {
            return what + " (m=" + m + " n=" + n + " k=" + k + ")";
        }
    }

    /** What a plan depends on: the product, the epilogue, and the alignment (up to 256 bytes) of each pointer the heuristic sees. */
    private record Key(Gemm gemm, int epilogue, int alignA, int alignB, int alignD, int alignBias) {
    }

    /** A product's descriptors and algorithm; {@code algo} is null when cuBLASLt has none for it. */
    private record Plan(MemorySegment desc, MemorySegment layoutA, MemorySegment layoutB, MemorySegment layoutD,
                        MemorySegment algo) {
    }

    private final MethodHandle destroy, descCreate, descDestroy, descSetAttribute, layoutCreate, layoutDestroy;
    private final MethodHandle preferenceCreate, preferenceDestroy, preferenceSetAttribute, heuristic, matmul;
    private final Driver driver;
    private final MemorySegment handle, stream;
    private final long workspace;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment one, zero, biasPointer;
    private final Map<Key, Plan> plans = new HashMap<>();
    private final List<MemorySegment> descs = new ArrayList<>(), layouts = new ArrayList<>();
    private final Set<String> unfused = new LinkedHashSet<>();

    CublasLt(NativeLibrary lib, Driver driver, MemorySegment stream) {
        this.driver = driver;
        this.stream = stream;
        MethodHandle create = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtCreate");
        destroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtDestroy");
        // (cublasLtMatmulDesc_t*, cublasComputeType_t computeType, cudaDataType_t scaleType)
        descCreate = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), "cublasLtMatmulDescCreate");
        descDestroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtMatmulDescDestroy");
        // (cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void* buf, size_t sizeInBytes)
        descSetAttribute = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG),
                "cublasLtMatmulDescSetAttribute");
        // (cublasLtMatrixLayout_t*, cudaDataType type, uint64_t rows, uint64_t cols, int64_t ld)
        layoutCreate = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG),
                "cublasLtMatrixLayoutCreate");
        layoutDestroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtMatrixLayoutDestroy");
        preferenceCreate = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtMatmulPreferenceCreate");
        preferenceDestroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasLtMatmulPreferenceDestroy");
        // (cublasLtMatmulPreference_t, cublasLtMatmulPreferenceAttributes_t, const void* buf, size_t sizeInBytes)
        preferenceSetAttribute = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG),
                "cublasLtMatmulPreferenceSetAttribute");
        // (handle, operationDesc, Adesc, Bdesc, Cdesc, Ddesc, preference, int requestedAlgoCount,
        //  cublasLtMatmulHeuristicResult_t heuristicResultsArray[], int* returnAlgoCount)
        heuristic = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                JAVA_INT, ADDRESS, ADDRESS), "cublasLtMatmulAlgoGetHeuristic");
        // (handle, computeDesc, const void* alpha, const void* A, Adesc, const void* B, Bdesc, const void* beta,
        //  const void* C, Cdesc, void* D, Ddesc, const cublasLtMatmulAlgo_t* algo, void* workspace,
        //  size_t workspaceSizeInBytes, cudaStream_t stream); device pointers are passed as 64-bit integers
        matmul = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS,
                ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS), "cublasLtMatmul");
        one = arena.allocateFrom(JAVA_FLOAT, 1f);  // alpha and beta in host memory: the default CUBLASLT_POINTER_MODE_HOST
        zero = arena.allocateFrom(JAVA_FLOAT, 0f);
        biasPointer = arena.allocate(JAVA_LONG);
        workspace = driver.malloc(WORKSPACE_BYTES);
        try {
            MemorySegment h = arena.allocate(ADDRESS);
            Cublas.check("cublasLtCreate", (int) create.invokeExact(h));
            handle = h.get(ADDRESS, 0);
        } catch (Throwable t) {
            driver.free(workspace);
            arena.close();
            throw Driver.rethrow(t);
        }
    }

    /** out[rows, OC] (=, or += when {@code accumulate}) inp[rows, C] · w[OC, C]ᵀ. */
    public void forward(long out, long inp, long w, int rows, int C, int OC, boolean accumulate) {
        require(Gemm.forward(rows, C, OC), w, inp, out, accumulate);
    }

    /**
     * out[rows, OC] = inp · wᵀ + bias in one GEMM (the bias epilogue); false, with nothing queued, when
     * the bias is not {@value #BIAS_ALIGNMENT}-byte aligned or cuBLASLt has no algorithm for it.
     */
    public boolean forwardWithBias(long out, long inp, long w, long bias, int rows, int C, int OC) {
        Gemm g = Gemm.forward(rows, C, OC);
        if (bias % BIAS_ALIGNMENT != 0) {
            unfused.add(epilogueName(EPILOGUE_BIAS) + ", " + g + ": a bias not " + BIAS_ALIGNMENT + "-byte aligned");
            return false;
        }
        return run(g, EPILOGUE_BIAS, bias, w, inp, out, false);
    }

    /** dinp[rows, C] += dout[rows, OC] · w[OC, C]. */
    public void backwardInput(long dinp, long dout, long w, int rows, int C, int OC) {
        require(Gemm.backwardInput(rows, C, OC), w, dout, dinp, true);
    }

    /** dw[OC, C] += dout[rows, OC]ᵀ · inp[rows, C]. */
    public void backwardWeight(long dw, long dout, long inp, int rows, int C, int OC) {
        require(Gemm.backwardWeight(rows, C, OC), inp, dout, dw, true);
    }

    /**
     * dw += doutᵀ · inp and dbias = Σ_r dout[r, ·] in one GEMM (the BGRADB epilogue): dbias is
     * written, not added to; {@value #BIAS_ALIGNMENT}-byte aligned. False, with nothing queued, when
     * cuBLASLt has no algorithm for it.
     */
    public boolean backwardWeightWithBias(long dw, long dbias, long dout, long inp, int rows, int C, int OC) {
        if (dbias % BIAS_ALIGNMENT != 0) throw new IllegalArgumentException("the bias gradient must be " + BIAS_ALIGNMENT + "-byte aligned");
        return run(Gemm.backwardWeight(rows, C, OC), EPILOGUE_BGRADB, dbias, inp, dout, dw, true);
    }

    /** The fused epilogues that could not be used, and why (each product once), for the checks to report. */
    public List<String> unfused() {
        return List.copyOf(unfused);
    }

    private void require(Gemm g, long a, long b, long d, boolean accumulate) {
        if (!run(g, EPILOGUE_DEFAULT, 0, a, b, d, accumulate)) {
            throw new CudaException("cublasLtMatmulAlgoGetHeuristic found no float32 algorithm for the " + g);
        }
    }

    /** D (=, or += when accumulate) op(A)·op(B) with the epilogue; false when cuBLASLt has no algorithm for it. */
    private boolean run(Gemm g, int epilogue, long bias, long a, long b, long d, boolean accumulate) {
        Key key = new Key(g, epilogue, alignment(a), alignment(b), alignment(d), bias == 0 ? 0 : alignment(bias));
        Plan plan = plans.get(key);
        if (plan == null) {
            plan = plan(key, bias);
            plans.put(key, plan);
        }
        if (plan.algo() == null) return false;
        MemorySegment beta = accumulate ? one : zero; // a variable: inside invokeExact the conditional would type as Object
        int status;
        try {
            if (bias != 0) setPointer(plan.desc(), DESC_BIAS_POINTER, "CUBLASLT_MATMUL_DESC_BIAS_POINTER", bias);
            status = (int) matmul.invokeExact(handle, plan.desc(), one, a, plan.layoutA(), b, plan.layoutB(), beta,
                    d, plan.layoutD(), d, plan.layoutD(), plan.algo(), workspace, WORKSPACE_BYTES, stream);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
        if (status == STATUS_NOT_SUPPORTED && epilogue != EPILOGUE_DEFAULT) {
            // refused before launching anything: this product takes the unfused route from now on
            unfused.add(epilogueName(epilogue) + ", " + g + ": cublasLtMatmul refused it (" + Cublas.statusName(status) + ")");
            plans.put(key, new Plan(plan.desc(), plan.layoutA(), plan.layoutB(), plan.layoutD(), null));
            return false;
        }
        if (status != 0) Cublas.check("cublasLtMatmul (" + g + ", " + epilogueName(epilogue) + ")", status);
        return true;
    }

    /** The largest power of two, up to 256, that divides the address: what the heuristic may assume of it. */
    static int alignment(long address) {
        return (int) Math.min(256, Long.lowestOneBit(address));
    }

    /** Descriptors, layouts and the heuristic's first algorithm for the key; D's layout serves C too (C is D). */
    private Plan plan(Key key, long bias) {
        Gemm g = key.gemm();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            Cublas.check("cublasLtMatmulDescCreate", (int) descCreate.invokeExact(out, CUBLAS_COMPUTE_32F, CUDA_R_32F));
            MemorySegment desc = out.get(ADDRESS, 0);
            descs.add(desc);
            setInt(a, desc, DESC_TRANSA, "CUBLASLT_MATMUL_DESC_TRANSA", g.opA());
            setInt(a, desc, DESC_TRANSB, "CUBLASLT_MATMUL_DESC_TRANSB", g.opB());
            setInt(a, desc, DESC_EPILOGUE, "CUBLASLT_MATMUL_DESC_EPILOGUE", key.epilogue());
            // the heuristic does not read the bias, but takes the alignment it may assume from the pointer
            if (bias != 0) setPointer(desc, DESC_BIAS_POINTER, "CUBLASLT_MATMUL_DESC_BIAS_POINTER", bias);
            MemorySegment layoutA = layout(out, g.rowsA(), g.colsA(), g.lda());
            MemorySegment layoutB = layout(out, g.rowsB(), g.colsB(), g.ldb());
            MemorySegment layoutD = layout(out, g.m(), g.n(), g.ldd());

            Cublas.check("cublasLtMatmulPreferenceCreate", (int) preferenceCreate.invokeExact(out));
            MemorySegment preference = out.get(ADDRESS, 0);
            MemorySegment result = a.allocate(HEURISTIC_RESULT);
            MemorySegment count = a.allocate(JAVA_INT);
            int status;
            try {
                setPreference(preference, PREF_MAX_WORKSPACE_BYTES, "MAX_WORKSPACE_BYTES", a.allocateFrom(JAVA_LONG, WORKSPACE_BYTES));
                setPreference(preference, PREF_MIN_ALIGNMENT_A_BYTES, "MIN_ALIGNMENT_A_BYTES", a.allocateFrom(JAVA_INT, key.alignA()));
                setPreference(preference, PREF_MIN_ALIGNMENT_B_BYTES, "MIN_ALIGNMENT_B_BYTES", a.allocateFrom(JAVA_INT, key.alignB()));
                setPreference(preference, PREF_MIN_ALIGNMENT_C_BYTES, "MIN_ALIGNMENT_C_BYTES", a.allocateFrom(JAVA_INT, key.alignD()));
                setPreference(preference, PREF_MIN_ALIGNMENT_D_BYTES, "MIN_ALIGNMENT_D_BYTES", a.allocateFrom(JAVA_INT, key.alignD()));
                status = (int) heuristic.invokeExact(handle, desc, layoutA, layoutB, layoutD, layoutD, preference, 1, result, count);
            } finally {
                Cublas.check("cublasLtMatmulPreferenceDestroy", (int) preferenceDestroy.invokeExact(preference));
            }
            String call = "cublasLtMatmulAlgoGetHeuristic (" + g + ", " + epilogueName(key.epilogue()) + ")";
            int found = status == 0 ? count.get(JAVA_INT, 0) : 0;
            int state = found > 0 ? result.get(JAVA_INT, RESULT_STATE) : 0;
            if (found == 0 || state != 0) {
                // A fused epilogue is optional: the caller takes the unfused route. The plain GEMM is not.
                if (key.epilogue() == EPILOGUE_DEFAULT && status != STATUS_NOT_SUPPORTED) Cublas.check(call, status != 0 ? status : state);
                unfused.add(epilogueName(key.epilogue()) + ", " + g + ": no algorithm ("
                        + Cublas.statusName(status != 0 ? status : state) + ")");
                return new Plan(desc, layoutA, layoutB, layoutD, null);
            }
            MemorySegment algo = arena.allocate(ALGO);
            algo.copyFrom(result.asSlice(0, ALGO.byteSize()));
            return new Plan(desc, layoutA, layoutB, layoutD, algo);
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    private MemorySegment layout(MemorySegment out, long rows, long cols, long ld) throws Throwable {
        Cublas.check("cublasLtMatrixLayoutCreate(" + rows + " x " + cols + ", ld " + ld + ")",
                (int) layoutCreate.invokeExact(out, CUDA_R_32F, rows, cols, ld));
        MemorySegment layout = out.get(ADDRESS, 0);
        layouts.add(layout);
        return layout;
    }

    private void setInt(Arena a, MemorySegment desc, int attribute, String name, int value) throws Throwable {
        MemorySegment v = a.allocateFrom(JAVA_INT, value);
        Cublas.check("cublasLtMatmulDescSetAttribute(" + name + ")", (int) descSetAttribute.invokeExact(desc, attribute, v, v.byteSize()));
    }

    private void setPointer(MemorySegment desc, int attribute, String name, long devicePointer) throws Throwable {
        biasPointer.set(JAVA_LONG, 0, devicePointer);
        int status = (int) descSetAttribute.invokeExact(desc, attribute, biasPointer, biasPointer.byteSize());
        if (status != 0) Cublas.check("cublasLtMatmulDescSetAttribute(" + name + ")", status);
    }

    private void setPreference(MemorySegment preference, int attribute, String name, MemorySegment value) throws Throwable {
        Cublas.check("cublasLtMatmulPreferenceSetAttribute(CUBLASLT_MATMUL_PREF_" + name + ")",
                (int) preferenceSetAttribute.invokeExact(preference, attribute, value, value.byteSize()));
    }

    static String epilogueName(int epilogue) {
        return switch (epilogue) {
            case EPILOGUE_DEFAULT -> "CUBLASLT_EPILOGUE_DEFAULT";
            case EPILOGUE_BIAS -> "CUBLASLT_EPILOGUE_BIAS";
            case EPILOGUE_BGRADB -> "CUBLASLT_EPILOGUE_BGRADB";
            default -> "cublasLtEpilogue " + epilogue;
        };
    }

    /** Destroys every descriptor and layout, the handle, and frees the workspace; the first failure is thrown after all are tried. */
    @Override
    public void close() {
        RuntimeException first = null;
        List<Runnable> steps = new ArrayList<>();
        for (MemorySegment d : descs) steps.add(() -> call("cublasLtMatmulDescDestroy", descDestroy, d));
        for (MemorySegment l : layouts) steps.add(() -> call("cublasLtMatrixLayoutDestroy", layoutDestroy, l));
        steps.add(() -> call("cublasLtDestroy", destroy, handle));
        steps.add(() -> driver.free(workspace));
        for (Runnable step : steps) {
            try {
                step.run();
            } catch (RuntimeException e) {
                if (first == null) first = e;
            }
        }
        descs.clear();
        layouts.clear();
        plans.clear();
        arena.close();
        if (first != null) throw first;
    }

    private static void call(String name, MethodHandle f, MemorySegment object) {
        try {
            Cublas.check(name, (int) f.invokeExact(object));
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }
}
