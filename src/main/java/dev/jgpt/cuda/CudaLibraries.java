package dev.jgpt.cuda;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds the CUDA libraries at run time. Each library is looked for, in this order, in the folders of
 * {@code JGPT_CUDA_LIBS} (a path list), on the loader path (LD_LIBRARY_PATH and the system's library
 * cache), under {@code CUDA_HOME} / {@code CUDA_PATH} / /usr/local/cuda, and in the {@code nvidia}
 * pip packages of the Python environments it can see (site-packages/nvidia/&#42;/lib: CUDA 12's
 * nvidia/cuda_nvrtc/lib, nvidia/cublas/lib; CUDA 13's nvidia/cu13/lib). The driver (libcuda) comes
 * with the GPU's driver, so it is looked for only in JGPT_CUDA_LIBS, on the loader path and in the
 * system's library folders. When nothing is found the error names every place searched.
 */
public final class CudaLibraries {
    static final String ENV_PATHS = "JGPT_CUDA_LIBS";

    private final Map<String, String> env;

    CudaLibraries(Map<String, String> env) {
        this.env = env;
    }

    public static CudaLibraries fromEnvironment() {
        return new CudaLibraries(System.getenv());
    }

    /** The CUDA driver API (libcuda.so.1). */
    NativeLibrary driver() {
        List<Path> dirs = new ArrayList<>(userDirs());
        for (String d : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/wsl/lib", "/usr/lib/aarch64-linux-gnu")) {
            dirs.add(Path.of(d));
        }
        return find("CUDA driver", List.of("libcuda.so.1", "libcuda.so"), userDirs(), dirs,
                "is an NVIDIA driver installed? (no GPU on this machine?)");
    }

    /** NVRTC, with its builtins library loaded first from the same folder (pip's CUDA 13 wheels lack the RUNPATH that finds it). */
    NativeLibrary nvrtc() {
        return findWithCompanion("NVRTC", List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"), "libnvrtc-builtins.so.");
    }

    /** cuBLAS, with cuBLASLt (which it needs) loaded first from the same folder. */
    NativeLibrary cublas() {
        return findWithCompanion("cuBLAS", List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so"), "libcublasLt.so.");
    }

    /** cuBLASLt, which ships beside cuBLAS (the same toolkit folder, the same pip package). */
    NativeLibrary cublasLt() {
        return findWithCompanion("cuBLASLt", List.of("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"), null);
    }

    /**
     * Where cuBLAS and cuBLASLt are found ("cublas: FILE"), or the error naming every place searched
     * ("cublas: not found: ..."), one line each: what {@code jgpt cuda info} says where there is no GPU
     * to load them on, so the rest of the setup can be checked before the driver is.
     */
    public List<String> blasLibraries() {
        List<String> lines = new ArrayList<>();
        for (String name : List.of("cublas", "cublaslt")) {
            String label = String.format("%-10s", name + ":");
            try {
                lines.add(label + (name.equals("cublas") ? cublas() : cublasLt()).origin());
            } catch (CudaException e) {
                lines.add(label + "not found: " + e.getMessage());
            }
        }
        return lines;
    }

    private NativeLibrary findWithCompanion(String what, List<String> names, String companionPrefix) {
        List<Path> dirs = new ArrayList<>(userDirs());
        dirs.addAll(toolkitDirs());
        dirs.addAll(pythonNvidiaDirs());
        return find(what, names, userDirs(), dirs, companionPrefix, true, "install the CUDA toolkit or `pip install nvidia-"
                + (what.equals("NVRTC") ? "cuda-nvrtc" : "cublas") + "`, or set " + ENV_PATHS + " to the folder that holds it");
    }

    private NativeLibrary find(String what, List<String> names, List<Path> first, List<Path> dirs, String hint) {
        return find(what, names, first, dirs, null, false, hint);
    }

    /**
     * Looks in {@code first} (the user's own list), then on the loader path, then in {@code dirs}.
     * With a companion prefix, the first file of that prefix in the library's own folder is loaded first.
     */
    private NativeLibrary find(String what, List<String> names, List<Path> first, List<Path> dirs, String companionPrefix,
                               boolean pythonPackages, String hint) {
        Set<Path> searched = new LinkedHashSet<>();
        for (Path d : first) {
            NativeLibrary lib = tryDir(what, names, d, companionPrefix, searched);
            if (lib != null) return lib;
        }
        for (String n : names) {
            try {
                return NativeLibrary.openFromLoaderPath(n);
            } catch (IllegalArgumentException notOnLoaderPath) {
                // try the next name, then the folders
            }
        }
        for (Path d : dirs) {
            NativeLibrary lib = tryDir(what, names, d, companionPrefix, searched);
            if (lib != null) return lib;
        }
        String user = env.getOrDefault(ENV_PATHS, "");
        String ld = env.getOrDefault("LD_LIBRARY_PATH", "");
        StringBuilder where = new StringBuilder();
        where.append(ENV_PATHS).append(user.isBlank() ? " (unset)" : "=" + user);
        where.append(", the loader path (").append(ld.isBlank() ? "LD_LIBRARY_PATH unset" : "LD_LIBRARY_PATH=" + ld)
                .append(", the system library cache)");
        // the user's own folders are named above; a toolkit folder whose name is part of one (lib in lib64) is not theirs
        List<String> folders = searched.stream().filter(d -> !first.contains(d)).map(Path::toString).toList();
        if (!folders.isEmpty()) where.append(", ").append(String.join(", ", folders));
        if (pythonPackages) where.append(", pip nvidia-* packages of the Python environments in sight (").append(
                pythonNvidiaDirs().isEmpty() ? "none found" : "none holds it").append(")");
        // a mistyped variable is the likeliest cause, and "searched" alone does not show it
        List<String> missing = new ArrayList<>();
        for (String p : user.split(":")) {
            if (!p.isBlank() && !Files.exists(Path.of(p))) missing.add(ENV_PATHS + " entry " + p);
        }
        if (pythonPackages) { // the toolkit's variables are searched with the pip packages, not for the driver
            for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
                String v = env.get(var);
                if (v != null && !v.isBlank() && !Files.isDirectory(Path.of(v))) missing.add(var + "=" + v);
            }
        }
        if (!missing.isEmpty()) where.append("; no such folder: ").append(String.join(", ", missing));
        throw new CudaException("no " + what + " found (" + String.join(" or ", names) + "); searched " + where + "; " + hint);
    }

    private static NativeLibrary tryDir(String what, List<String> names, Path dir, String companionPrefix, Set<Path> searched) {
        if (!searched.add(dir) || !Files.isDirectory(dir)) return null;
        for (String n : names) {
            Path file = dir.resolve(n);
            if (!Files.isRegularFile(file)) continue;
            try {
                if (companionPrefix != null) {
                    Path companion = firstWithPrefix(dir, companionPrefix);
                    if (companion != null) NativeLibrary.open(companion.getFileName().toString(), companion);
                }
                return NativeLibrary.open(what, file);
            } catch (IllegalArgumentException e) {
                throw new CudaException(file + ": cannot load the " + what + " library: " + e.getMessage());
            }
        }
        return null;
    }

    private static Path firstWithPrefix(Path dir, String prefix) {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, prefix + "*")) {
            List<Path> found = new ArrayList<>();
            s.forEach(found::add);
            found.sort(null);
            return found.isEmpty() ? null : found.getLast();
        } catch (IOException e) {
            return null;
        }
    }

    /** JGPT_CUDA_LIBS: folders (or files, meaning their folder), separated by ':'. */
    private List<Path> userDirs() {
        List<Path> dirs = new ArrayList<>();
        for (String p : env.getOrDefault(ENV_PATHS, "").split(":")) {
            if (p.isBlank()) continue;
            Path path = Path.of(p);
            dirs.add(Files.isRegularFile(path) ? path.toAbsolutePath().getParent() : path);
        }
        return dirs;
    }

    private List<Path> toolkitDirs() {
        List<Path> dirs = new ArrayList<>();
        for (String root : new String[]{env.get("CUDA_HOME"), env.get("CUDA_PATH"), "/usr/local/cuda"}) {
            if (root == null || root.isBlank()) continue;
            for (String sub : List.of("lib64", "lib", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib")) {
                dirs.add(Path.of(root, sub));
            }
        }
        return dirs;
    }

    /** site-packages/nvidia/&#42;/lib of every Python environment in sight: active venv or conda, those on PATH, the system's. */
    List<Path> pythonNvidiaDirs() {
        List<Path> prefixes = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) prefixes.add(Path.of(v));
        }
        for (String p : env.getOrDefault("PATH", "").split(":")) {
            if (!p.isBlank() && Files.isExecutable(Path.of(p, "python3"))) {
                Path parent = Path.of(p).toAbsolutePath().getParent();
                if (parent != null) prefixes.add(parent);
            }
        }
        String home = env.get("HOME");
        if (home != null) prefixes.add(Path.of(home, ".local"));
        prefixes.add(Path.of("/usr/local"));
        prefixes.add(Path.of("/usr"));
        prefixes.add(Path.of("/opt/conda"));

        List<Path> dirs = new ArrayList<>();
        for (Path prefix : new LinkedHashSet<>(prefixes)) {
            for (Path lib : children(prefix.resolve("lib"), "python3*")) {
                for (String packages : List.of("site-packages", "dist-packages")) {
                    dirs.addAll(children(lib.resolve(packages).resolve("nvidia"), "*").stream().map(d -> d.resolve("lib")).toList());
                }
            }
        }
        return dirs;
    }

    private static List<Path> children(Path dir, String glob) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, glob)) {
            for (Path p : s) if (Files.isDirectory(p)) out.add(p);
        } catch (IOException e) {
            return out;
        }
        out.sort(null);
        return out;
    }
}
