package dev.jgpt.cuda;

import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/**
 * Compiled kernels on disk, so NVRTC runs once per kernel file, GPU architecture and NVRTC version.
 * A cubin's name carries all three: {@code <file>-<arch>-nvrtc<major>.<minor>-<hash of source and
 * options>.cubin}. The folder is {@code JGPT_CUDA_CACHE}, else $XDG_CACHE_HOME/jgpt/cuda, else
 * ~/.cache/jgpt/cuda; when it cannot be written the kernels are compiled every run, which is said once.
 */
public final class KernelCache {
    private final Nvrtc nvrtc;
    private final Path dir;
    private final String nvrtcVersion;
    private boolean toldNotWritable;

    public KernelCache(Nvrtc nvrtc, Path dir) {
        this.nvrtc = nvrtc;
        this.dir = dir;
        int[] v = nvrtc.version();
        this.nvrtcVersion = v[0] + "." + v[1];
    }

    public static Path defaultDir(Map<String, String> env) {
        String own = env.get("JGPT_CUDA_CACHE");
        if (own != null && !own.isBlank()) return Path.of(own);
        String xdg = env.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "jgpt", "cuda");
        return Path.of(System.getProperty("user.home"), ".cache", "jgpt", "cuda");
    }

    /** The cubin of one kernel file for {@code arch} ("sm_90"), from the cache or freshly compiled. */
    public byte[] cubin(String file, String arch) {
        try {
            Path cached = cached(file, arch);
            if (Files.isRegularFile(cached)) return Files.readAllBytes(cached);
        } catch (IOException unreadable) {
            // compile instead
        }
        return compile(file, arch);
    }

    /**
     * The cubin compiled now, replacing the cached one: for a cached cubin the driver refused (a file
     * cut short or damaged on disk would otherwise fail every run until the cache is deleted).
     */
    public byte[] compile(String file, String arch) {
        byte[] cubin = nvrtc.compile(KernelSources.source(file), file, arch, KernelSources.OPTIONS);
        try {
            AtomicFiles.write(cached(file, arch), tmp -> Files.write(tmp, cubin));
        } catch (IOException | JgptException notWritable) {
            // a cache is a convenience: without one, compile every run, and say so once, since that costs seconds a run
            if (!toldNotWritable) {
                toldNotWritable = true;
                System.err.println("jgpt: kernel cache: " + notWritable.getMessage() + "; the kernels are compiled again on every run"
                        + " (set JGPT_CUDA_CACHE to a writable folder)");
            }
        }
        return cubin;
    }

    private Path cached(String file, String arch) {
        return dir.resolve(file.replace(".cu", "") + "-" + arch + "-nvrtc" + nvrtcVersion + "-" + hash(KernelSources.source(file)) + ".cubin");
    }

    private static String hash(String source) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(source.getBytes(StandardCharsets.UTF_8));
            d.update(String.join(" ", KernelSources.OPTIONS).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
