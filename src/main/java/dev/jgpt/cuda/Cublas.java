package dev.jgpt.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLAS's single-precision GEMM, bound through java.lang.foreign, with the math mode set to
 * CUBLAS_DEFAULT_MATH: float32 products and sums, never TF32 (that needs CUBLAS_TF32_TENSOR_OP_MATH),
 * as the CPU engine computes.
 * jgpt's matrices are row-major; cuBLAS's are column-major, so each product below is written as the
 * column-major product of the transposes (a row-major [R, C] matrix is a column-major [C, R] one).
 */
public final class Cublas implements AutoCloseable {
    private static final int OP_N = 0, OP_T = 1;
    private static final int DEFAULT_MATH = 0;

    private final MethodHandle cublasSgemm, cublasDestroy;
    private final MemorySegment handle;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment one, zero;

    Cublas(NativeLibrary lib, MemorySegment stream) {
        MethodHandle create = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasCreate_v2");
        MethodHandle setStream = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "cublasSetStream_v2");
        MethodHandle setMathMode = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), "cublasSetMathMode");
        cublasDestroy = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "cublasDestroy_v2");
        cublasSgemm = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT), "cublasSgemm_v2");
        one = arena.allocateFrom(JAVA_FLOAT, 1f);
        zero = arena.allocateFrom(JAVA_FLOAT, 0f);
        try {
            MemorySegment h = arena.allocate(ADDRESS);
            check("cublasCreate", (int) create.invokeExact(h));
            handle = h.get(ADDRESS, 0);
            check("cublasSetStream", (int) setStream.invokeExact(handle, stream));
            check("cublasSetMathMode(CUBLAS_DEFAULT_MATH)", (int) setMathMode.invokeExact(handle, DEFAULT_MATH));
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    /** out[rows, OC] (=, or += when {@code accumulate}) inp[rows, C] · w[OC, C]ᵀ. */
    public void forward(long out, long inp, long w, int rows, int C, int OC, boolean accumulate) {
        sgemm("forward", OP_T, OP_N, OC, rows, C, w, C, inp, C, accumulate, out, OC);
    }

    /** dinp[rows, C] += dout[rows, OC] · w[OC, C]. */
    public void backwardInput(long dinp, long dout, long w, int rows, int C, int OC) {
        sgemm("backward input", OP_N, OP_N, C, rows, OC, w, C, dout, OC, true, dinp, C);
    }

    /** dw[OC, C] += dout[rows, OC]ᵀ · inp[rows, C]. */
    public void backwardWeight(long dw, long dout, long inp, int rows, int C, int OC) {
        sgemm("backward weight", OP_N, OP_T, C, OC, rows, inp, C, dout, OC, true, dw, C);
    }

    private void sgemm(String what, int opA, int opB, int m, int n, int k, long a, int lda, long b, int ldb,
                       boolean accumulate, long c, int ldc) {
        MemorySegment beta = accumulate ? one : zero; // a variable: inside invokeExact the conditional would type as Object
        try {
            check("cublasSgemm (" + what + ", m=" + m + " n=" + n + " k=" + k + ")",
                    (int) cublasSgemm.invokeExact(handle, opA, opB, m, n, k, one, a, lda, b, ldb, beta, c, ldc));
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    @Override
    public void close() {
        try {
            check("cublasDestroy", (int) cublasDestroy.invokeExact(handle));
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        } finally {
            arena.close();
        }
    }

    static void check(String call, int status) {
        if (status != 0) throw new CudaException(call + " failed: " + statusName(status) + " (" + status + ")");
    }

    static String statusName(int status) {
        return switch (status) {
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "cublasStatus " + status;
        };
    }
}
