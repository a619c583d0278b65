package dev.jgpt.cuda;

import dev.jgpt.JgptException;

import java.util.Map;

/**
 * Which library runs the GPU engine's matmuls, chosen once per process by {@code JGPT_MATMUL}:
 * {@code cublas} (the default: cublasSgemm, the bias added by a kernel of jgpt's) or {@code cublaslt}
 * (cublasLtMatmul, the bias and its gradient fused into the GEMM's epilogue). Both compute in float32.
 */
public enum MatmulPath {
    CUBLAS, CUBLASLT;

    static final String ENV = "JGPT_MATMUL";

    /** The path {@code JGPT_MATMUL} selects in this process's environment. */
    public static MatmulPath selected() {
        return fromEnvironment(System.getenv());
    }

    /** Unset or empty means cublas; any other value than cublas or cublaslt is an error naming the variable. */
    static MatmulPath fromEnvironment(Map<String, String> env) {
        String value = env.get(ENV);
        if (value == null || value.isEmpty()) return CUBLAS;
        for (MatmulPath p : values()) {
            if (p.id().equals(value)) return p;
        }
        throw new JgptException(ENV + " must be cublas or cublaslt, got '" + value + "'");
    }

    /** "cublas" or "cublaslt", as JGPT_MATMUL spells it. */
    public String id() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
