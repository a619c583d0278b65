package dev.jgpt.cuda;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Where the CUDA libraries are looked for, the one-line error when none is there, and the kernels' declared parameters. */
class CudaLibrariesTest {

    private static boolean onLoaderPath(String soname) {
        try {
            NativeLibrary.openFromLoaderPath(soname);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    @Test
    void noLibraryGivesOneLineNamingEveryPlaceSearched(@TempDir Path empty) {
        assumeTrue(!onLoaderPath("libnvrtc.so.13") && !onLoaderPath("libnvrtc.so.12") && !onLoaderPath("libnvrtc.so"),
                "this machine has NVRTC on the loader path");
        Map<String, String> env = Map.of(CudaLibraries.ENV_PATHS, empty.toString(), "CUDA_HOME", empty.resolve("cuda").toString(),
                "HOME", empty.toString(), "PATH", "");
        CudaException e = assertThrows(CudaException.class, () -> new CudaLibraries(env).nvrtc());
        String m = e.getMessage();
        assertTrue(m.startsWith("no NVRTC found (libnvrtc.so.13 or libnvrtc.so.12 or libnvrtc.so); searched JGPT_CUDA_LIBS=" + empty), m);
        assertTrue(m.contains("the loader path") && m.contains(empty.resolve("cuda").resolve("lib64").toString())
                && m.contains("pip nvidia-* packages") && m.contains("set JGPT_CUDA_LIBS"), m);
        assertTrue(!m.contains("\n"), "one line: " + m);
    }

    @Test
    void aMistypedFolderIsNamedAsMissing(@TempDir Path tmp) {
        assumeTrue(!onLoaderPath("libnvrtc.so.13") && !onLoaderPath("libnvrtc.so.12") && !onLoaderPath("libnvrtc.so"),
                "this machine has NVRTC on the loader path");
        Path typo = tmp.resolve("cuda-12.4/lib64"), toolkit = tmp.resolve("cuda-12.4");
        Map<String, String> env = Map.of(CudaLibraries.ENV_PATHS, typo + ":" + tmp, "CUDA_HOME", toolkit.toString(), "HOME", tmp.toString(), "PATH", "");
        String m = assertThrows(CudaException.class, () -> new CudaLibraries(env).nvrtc()).getMessage();
        assertTrue(m.contains("; no such folder: JGPT_CUDA_LIBS entry " + typo + ", CUDA_HOME=" + toolkit + ";"), m);
        // an existing folder that lacks the library is searched, not missing
        assertTrue(!m.contains("entry " + tmp + ","), m);
        // CUDA_HOME's lib is searched and said to be, though JGPT_CUDA_LIBS names its lib64
        assertTrue(m.contains(", " + toolkit.resolve("lib") + ", "), m);
    }

    @Test
    void findsNvrtcInAPipPackageOfAVirtualEnvironment() throws IOException {
        Path redist = RedistNvrtc.folder();
        Path venv = Path.of("target", "test-venv"); // beside target/nvrtc: its links point there
        assumeTrue(!onLoaderPath("libnvrtc.so.13"), "this machine has NVRTC on the loader path, which is searched first");
        // CUDA 13's wheels put every library in nvidia/cu13/lib
        Path lib = Files.createDirectories(venv.resolve("lib/python3.12/site-packages/nvidia/cu13/lib"));
        for (String f : RedistNvrtc.FILES) {
            Files.deleteIfExists(lib.resolve(f));
            Files.createSymbolicLink(lib.resolve(f), redist.resolve(f).toAbsolutePath());
        }
        NativeLibrary found = new CudaLibraries(Map.of("VIRTUAL_ENV", venv.toAbsolutePath().toString(), "PATH", "")).nvrtc();
        assertEquals(lib.toAbsolutePath().resolve("libnvrtc.so.13").toString(), found.origin());
        assertEquals(13, new Nvrtc(found).version()[0]);
    }

    @Test
    void everyKernelDeclaresParametersJgptCanPass() {
        int kernels = 0;
        for (String file : KernelSources.FILES) {
            var signatures = KernelSources.signatures(file);
            assertEquals(KernelSources.kernelNames(file), List.copyOf(signatures.keySet()), file);
            kernels += signatures.size();
        }
        assertTrue(kernels >= 20, kernels + " kernels");
        var P = KernelSources.Param.POINTER;
        var F = KernelSources.Param.FLOAT;
        assertEquals(List.of(P, P, P, P, KernelSources.Param.INT, F, F, F, F, F, F, F), KernelSources.signatures("adamw.cu").get("adamw_update"));
        assertEquals(List.of(P, P, KernelSources.Param.LONG), KernelSources.signatures("norm.cu").get("sum_squares_partial"));
    }
}
