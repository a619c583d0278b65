package dev.jgpt.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.net.JarURLConnection;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * libnvrtc and its builtins, taken out of org.bytedeco:cuda-redist (on the test class path under the
 * Maven profile cuda-kernels, which .ci/run turns on) into target/nvrtc, once. Tests that need NVRTC
 * are skipped, with the reason, when the profile is off.
 */
final class RedistNvrtc {
    private static final String REDIST = "org/bytedeco/cuda/linux-x86_64/";
    static final List<String> FILES = List.of("libnvrtc.so.13", "libnvrtc-builtins.so.13.1");

    private RedistNvrtc() {
    }

    /** The folder holding the two libraries. */
    static synchronized Path folder() throws IOException {
        assumeTrue(RedistNvrtc.class.getClassLoader().getResource(REDIST + FILES.getFirst()) != null,
                "NVRTC is not on the test class path: run the suite with -Pcuda-kernels (as .ci/run does) "
                        + "to compile the CUDA kernels with org.bytedeco:cuda-redist's libnvrtc");
        Path folder = Path.of("target", "nvrtc");
        Files.createDirectories(folder);
        for (String lib : FILES) extract(folder, lib);
        return folder;
    }

    /** Copies one library out of the jar, unless a copy of the same size is there already. */
    private static void extract(Path folder, String lib) throws IOException {
        URL url = RedistNvrtc.class.getClassLoader().getResource(REDIST + lib);
        assertTrue(url != null, lib + " is missing from org.bytedeco:cuda-redist");
        Path target = folder.resolve(lib);
        long size = url.openConnection() instanceof JarURLConnection jar ? jar.getJarEntry().getSize() : -1;
        if (Files.isRegularFile(target) && Files.size(target) == size) return;
        Path tmp = Files.createTempFile(folder, lib, ".tmp");
        try (InputStream in = url.openStream()) {
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
