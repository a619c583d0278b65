package dev.jgpt.cuda;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * On a machine with an NVIDIA GPU: every CUDA kernel against its CPU twin ({@link KernelParity}), and
 * debug-step on the GPU against the PyTorch fixtures with ParityTest's tolerances. Skipped, with the
 * reason, everywhere else.
 */
class CudaParityTest {
    private static String unavailable;
    private static Cuda cuda;

    @BeforeAll
    static void open() {
        unavailable = Cuda.unavailableReason();
        if (unavailable == null) cuda = Cuda.open();
    }

    @AfterAll
    static void close() {
        if (cuda != null) cuda.close();
    }

    private static void failures(List<KernelParity.Check> checks) {
        List<KernelParity.Check> failed = checks.stream().filter(c -> !c.passed()).toList();
        assertTrue(failed.isEmpty(), failed.size() + " of " + checks.size() + " failed:\n" + String.join("\n",
                failed.stream().map(KernelParity.Check::toString).toList()));
    }

    @Test
    void everyKernelMatchesTheCpu() {
        assumeTrue(cuda != null, "no GPU: " + unavailable);
        failures(new KernelParity(cuda).runAll(c -> { }));
    }

    @Test
    void debugStepMatchesPyTorch() throws Exception {
        assumeTrue(cuda != null, "no GPU: " + unavailable);
        failures(new KernelParity(cuda).fixtures(Path.of("src/test/resources/fixtures"), c -> { }));
    }
}
