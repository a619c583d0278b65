package dev.jgpt.cuda;

import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** JGPT_MATMUL: its two values, the default, and the one-line error for anything else. */
class MatmulPathTest {

    @Test
    void unsetOrEmptyIsCublas() {
        assertEquals(MatmulPath.CUBLAS, MatmulPath.fromEnvironment(Map.of()));
        assertEquals(MatmulPath.CUBLAS, MatmulPath.fromEnvironment(Map.of("JGPT_MATMUL", "")));
    }

    @Test
    void eachValueSelectsItsPath() {
        assertEquals(MatmulPath.CUBLAS, MatmulPath.fromEnvironment(Map.of("JGPT_MATMUL", "cublas")));
        assertEquals(MatmulPath.CUBLASLT, MatmulPath.fromEnvironment(Map.of("JGPT_MATMUL", "cublaslt")));
        for (MatmulPath p : MatmulPath.values()) assertEquals(p, MatmulPath.fromEnvironment(Map.of("JGPT_MATMUL", p.id())));
    }

    @Test
    void anyOtherValueIsOneErrorNamingTheVariable() {
        for (String bad : new String[]{"cuBLASLt", "CUBLAS", "lt", " cublas", "cublas,cublaslt"}) {
            JgptException e = assertThrows(JgptException.class, () -> MatmulPath.fromEnvironment(Map.of("JGPT_MATMUL", bad)));
            assertEquals("JGPT_MATMUL must be cublas or cublaslt, got '" + bad + "'", e.getMessage());
        }
    }
}
