package dev.jgpt.cuda;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading ptxas's resource report (no NVRTC needed), and the register limit of a block. */
class KernelResourcesTest {
    // as NVRTC 13.1 logs it for sm_80, with a device function's properties between two entries
    private static final String LOG = """
            ptxas info    : 0 bytes gmem
            ptxas info    : Compiling entry function 'classifier_fused' for 'sm_80'
            ptxas info    : Function properties for classifier_fused
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 30 registers, used 1 barriers, 256 bytes smem, 388 bytes cmem[0]
            ptxas info    : Compile time = 26.554 ms
            ptxas info    : Function properties for rowStats
            ptxas         .     48 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads
            ptxas info    : Compiling entry function 'attention_backward_key' for 'sm_80'
            ptxas info    : Function properties for attention_backward_key
            ptxas         .     16 bytes stack frame, 12 bytes spill stores, 20 bytes spill loads
            ptxas info    : Used 130 registers, used 0 barriers, 376 bytes cmem[0]
            """;

    @Test
    void eachEntryFunctionGetsItsOwnRegistersSpillsAndSharedMemory() {
        Map<String, KernelResources> r = KernelResources.parse(LOG);
        assertEquals(List.of("classifier_fused", "attention_backward_key"), List.copyOf(r.keySet()));
        assertEquals(new KernelResources("classifier_fused", 30, 0, 0, 256), r.get("classifier_fused"));
        assertEquals(new KernelResources("attention_backward_key", 130, 32, 16, 0), r.get("attention_backward_key"));
    }

    @Test
    void registersAreCountedInStepsOfEightPerThreadAgainstTheBlocksSixtyFourThousand() {
        assertTrue(new KernelResources("k", 128, 0, 0, 0).fitsBlock(512));
        assertFalse(new KernelResources("k", 129, 0, 0, 0).fitsBlock(512)); // 136 x 512 > 65536
        assertTrue(new KernelResources("k", 64, 0, 0, 0).fitsBlock(1024));
        assertFalse(new KernelResources("k", 65, 0, 0, 0).fitsBlock(1024));
        assertTrue(new KernelResources("k", 255, 0, 0, 0).fitsBlock(256));
    }
}
