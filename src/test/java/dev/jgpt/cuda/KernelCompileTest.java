package dev.jgpt.cuda;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every CUDA kernel compiles, through jgpt's own NVRTC binding, to a cubin for sm_80 (A100) and
 * sm_90 (H100), on a machine without a GPU. NVRTC comes from org.bytedeco:cuda-redist, which the
 * Maven profile cuda-kernels puts on the test class path (.ci/run turns it on); without the profile
 * the test is skipped. Only libnvrtc and its builtins are taken out of that jar.
 */
class KernelCompileTest {
    private Path nvrtcFolder;

    @BeforeEach
    void extractNvrtc() throws IOException {
        nvrtcFolder = RedistNvrtc.folder();
    }

    @Test
    void everyKernelCompilesForAmpereAndHopper() {
        Nvrtc nvrtc = Nvrtc.load(nvrtcFolder.resolve("libnvrtc.so.13"));
        assertTrue(nvrtc.supportedArchitectures().containsAll(List.of(80, 90)), "NVRTC targets " + nvrtc.supportedArchitectures());
        int kernels = 0;
        for (String arch : List.of("sm_80", "sm_90")) {
            for (String file : KernelSources.FILES) {
                byte[] cubin = nvrtc.compile(KernelSources.source(file), file, arch, KernelSources.OPTIONS);
                assertTrue(cubin.length > 4 && cubin[0] == 0x7f && cubin[1] == 'E' && cubin[2] == 'L' && cubin[3] == 'F',
                        file + " for " + arch + ": not an ELF cubin");
                String symbols = new String(cubin, StandardCharsets.ISO_8859_1);
                List<String> names = KernelSources.kernelNames(file);
                assertFalse(names.isEmpty(), file + " defines no kernel");
                for (String k : names) {
                    assertTrue(symbols.contains(k + "\0"), file + " for " + arch + ": kernel " + k + " is not in the cubin");
                    kernels++;
                }
            }
        }
        assertTrue(kernels >= 2 * 20, "compiled " + kernels + " kernels");
    }

    /**
     * Too many registers for a launch's block fails only at launch time, on a GPU; spills to local
     * memory only show as lost speed there. Both are read here from ptxas's report, for both targets.
     */
    @Test
    void everyKernelFitsTheLargestBlockWithoutSpilling() {
        Nvrtc nvrtc = Nvrtc.load(nvrtcFolder.resolve("libnvrtc.so.13"));
        List<String> options = new java.util.ArrayList<>(KernelSources.OPTIONS);
        options.add(Nvrtc.PTXAS_VERBOSE);
        for (String arch : List.of("sm_80", "sm_90")) {
            for (String file : KernelSources.FILES) {
                var resources = KernelResources.parse(nvrtc.compileWithLog(KernelSources.source(file), file, arch, options).log());
                assertEquals(KernelSources.kernelNames(file).stream().sorted().toList(), resources.keySet().stream().sorted().toList(),
                        file + " for " + arch + ": ptxas's report names other kernels");
                for (KernelResources r : resources.values()) {
                    assertTrue(r.registers() > 0, arch + ": " + r);
                    assertTrue(r.fitsBlock(CudaKernels.LARGEST_BLOCK), arch + ": too many registers for a block of "
                            + CudaKernels.LARGEST_BLOCK + " threads: " + r);
                    assertEquals(0, r.spillBytes(), arch + ": spills to local memory: " + r);
                }
            }
        }
    }

    @Test
    void aCompileErrorNamesTheFileAndLine() {
        Nvrtc nvrtc = Nvrtc.load(nvrtcFolder.resolve("libnvrtc.so.13"));
        CudaException e = assertThrows(CudaException.class, () -> nvrtc.compile(
                "extern \"C\" __global__ void broken(float* x) {\n  x[0] = undefined_name;\n}\n", "broken.cu", "sm_90", KernelSources.OPTIONS));
        assertTrue(e.getMessage().startsWith("nvrtcCompileProgram(broken.cu, sm_90) failed: "), e.getMessage());
        assertTrue(e.getMessage().contains("broken.cu(2)") && e.getMessage().contains("undefined_name"), e.getMessage());
    }

    @Test
    void theCacheCompilesOnceAndKeysByArchitecture(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        KernelCache cache = new KernelCache(Nvrtc.load(nvrtcFolder.resolve("libnvrtc.so.13")), dir);
        byte[] first = cache.cubin("gelu.cu", "sm_90");
        try (var files = Files.list(dir)) {
            List<String> names = files.map(p -> p.getFileName().toString()).toList();
            assertTrue(names.size() == 1 && names.getFirst().matches("gelu-sm_90-nvrtc13\\.\\d+-[0-9a-f]{16}\\.cubin"), names.toString());
        }
        assertTrue(java.util.Arrays.equals(first, cache.cubin("gelu.cu", "sm_90")));
        cache.cubin("gelu.cu", "sm_80");
        try (var files = Files.list(dir)) {
            assertTrue(files.count() == 2);
        }
    }
}
