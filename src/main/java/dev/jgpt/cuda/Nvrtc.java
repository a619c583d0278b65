package dev.jgpt.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * NVRTC, CUDA's run-time compiler, bound through java.lang.foreign: CUDA C++ source in, a cubin for
 * one GPU architecture out. Needs no GPU and no driver, so kernels compile on any machine that has
 * the library.
 */
public final class Nvrtc {
    private static final int NVRTC_ERROR_COMPILATION = 6;

    public final String origin;
    private final MethodHandle nvrtcVersion, nvrtcGetErrorString, nvrtcCreateProgram, nvrtcCompileProgram,
            nvrtcGetProgramLogSize, nvrtcGetProgramLog, nvrtcGetCUBINSize, nvrtcGetCUBIN, nvrtcDestroyProgram,
            nvrtcGetNumSupportedArchs, nvrtcGetSupportedArchs;

    Nvrtc(NativeLibrary lib) {
        origin = lib.origin();
        FunctionDescriptor progSize = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS);
        nvrtcVersion = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), "nvrtcVersion");
        nvrtcGetErrorString = lib.function(FunctionDescriptor.of(ADDRESS, JAVA_INT), "nvrtcGetErrorString");
        nvrtcCreateProgram = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS),
                "nvrtcCreateProgram");
        nvrtcCompileProgram = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS), "nvrtcCompileProgram");
        nvrtcGetProgramLogSize = lib.function(progSize, "nvrtcGetProgramLogSize");
        nvrtcGetProgramLog = lib.function(progSize, "nvrtcGetProgramLog");
        nvrtcGetCUBINSize = lib.function(progSize, "nvrtcGetCUBINSize");
        nvrtcGetCUBIN = lib.function(progSize, "nvrtcGetCUBIN");
        nvrtcDestroyProgram = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "nvrtcDestroyProgram");
        nvrtcGetNumSupportedArchs = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "nvrtcGetNumSupportedArchs");
        nvrtcGetSupportedArchs = lib.function(FunctionDescriptor.of(JAVA_INT, ADDRESS), "nvrtcGetSupportedArchs");
    }

    /** NVRTC found the usual way ({@link CudaLibraries}). */
    public static Nvrtc load() {
        return new Nvrtc(CudaLibraries.fromEnvironment().nvrtc());
    }

    /** NVRTC from a given file (its builtins library, libnvrtc-builtins.so.*, loaded first from the same folder). */
    public static Nvrtc load(java.nio.file.Path libnvrtc) {
        CudaLibraries libs = new CudaLibraries(java.util.Map.of(CudaLibraries.ENV_PATHS, libnvrtc.toAbsolutePath().getParent().toString()));
        return new Nvrtc(libs.nvrtc());
    }

    /** {major, minor}, e.g. {13, 1}. */
    public int[] version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment major = a.allocate(JAVA_INT), minor = a.allocate(JAVA_INT);
            check("nvrtcVersion", (int) nvrtcVersion.invokeExact(major, minor));
            return new int[]{major.get(JAVA_INT, 0), minor.get(JAVA_INT, 0)};
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    /** The sm_XY numbers (XY) this NVRTC compiles for. */
    public List<Integer> supportedArchitectures() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(JAVA_INT);
            check("nvrtcGetNumSupportedArchs", (int) nvrtcGetNumSupportedArchs.invokeExact(n));
            MemorySegment archs = a.allocate(JAVA_INT, n.get(JAVA_INT, 0));
            check("nvrtcGetSupportedArchs", (int) nvrtcGetSupportedArchs.invokeExact(archs));
            List<Integer> out = new ArrayList<>();
            for (int i = 0; i < n.get(JAVA_INT, 0); i++) out.add(archs.getAtIndex(JAVA_INT, i));
            return out;
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    /**
     * Refuses {@code arch} ("sm_70", "sm_90a") when this NVRTC cannot compile for it, naming those it
     * can: otherwise the first kernel fails with NVRTC_ERROR_INVALID_OPTION alone. {@code what} says
     * whose architecture it is ("--arch", "the GPU's").
     */
    public void requireArchitecture(String arch, String what) {
        List<Integer> supported = supportedArchitectures();
        if (supported.contains(Integer.parseInt(arch.replaceAll("\\D", "")))) return;
        int[] v = version();
        throw new CudaException(what + " " + arch + ": NVRTC " + v[0] + "." + v[1] + " (" + origin + ") compiles for "
                + String.join(", ", supported.stream().map(n -> "sm_" + n).toList()) + " only; an NVRTC of another CUDA version"
                + " may list it (set " + CudaLibraries.ENV_PATHS + " to its folder)");
    }

    /**
     * Compiles {@code source} (named {@code name} in messages) to a cubin for {@code arch} (e.g.
     * "sm_90"). A compile error throws with the compiler's log.
     */
    public byte[] compile(String source, String name, String arch, List<String> options) {
        return compileWithLog(source, name, arch, options).cubin();
    }

    /** A cubin and the compiler's log (warnings; with {@link #PTXAS_VERBOSE}, each kernel's resources). */
    public record Compiled(byte[] cubin, String log) {
    }

    /** The option that makes ptxas log each kernel's registers, spills and shared memory ({@link KernelResources#parse}). */
    public static final String PTXAS_VERBOSE = "--ptxas-options=-v";

    /** As {@link #compile}, keeping the compiler's log. */
    public Compiled compileWithLog(String source, String name, String arch, List<String> options) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(ADDRESS);
            check("nvrtcCreateProgram(" + name + ")", (int) nvrtcCreateProgram.invokeExact(prog, a.allocateFrom(source),
                    a.allocateFrom(name), 0, MemorySegment.NULL, MemorySegment.NULL));
            MemorySegment p = prog.get(ADDRESS, 0);
            try {
                List<String> all = new ArrayList<>();
                all.add("--gpu-architecture=" + arch);
                all.addAll(options);
                MemorySegment opts = a.allocate(ADDRESS, all.size());
                for (int i = 0; i < all.size(); i++) opts.setAtIndex(ADDRESS, i, a.allocateFrom(all.get(i)));
                int r = (int) nvrtcCompileProgram.invokeExact(p, all.size(), opts);
                if (r == NVRTC_ERROR_COMPILATION) {
                    throw new CudaException("nvrtcCompileProgram(" + name + ", " + arch + ") failed: " + log(a, p).strip());
                }
                check("nvrtcCompileProgram(" + name + ", " + arch + ")", r);
                MemorySegment size = a.allocate(JAVA_LONG);
                check("nvrtcGetCUBINSize(" + name + ")", (int) nvrtcGetCUBINSize.invokeExact(p, size));
                MemorySegment cubin = a.allocate(size.get(JAVA_LONG, 0));
                check("nvrtcGetCUBIN(" + name + ")", (int) nvrtcGetCUBIN.invokeExact(p, cubin));
                return new Compiled(cubin.toArray(JAVA_BYTE), log(a, p));
            } finally {
                int ignored = (int) nvrtcDestroyProgram.invokeExact(prog);
            }
        } catch (Throwable t) {
            throw Driver.rethrow(t);
        }
    }

    private String log(Arena a, MemorySegment prog) throws Throwable {
        MemorySegment size = a.allocate(JAVA_LONG);
        check("nvrtcGetProgramLogSize", (int) nvrtcGetProgramLogSize.invokeExact(prog, size));
        MemorySegment log = a.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
        check("nvrtcGetProgramLog", (int) nvrtcGetProgramLog.invokeExact(prog, log));
        return log.getString(0);
    }

    private void check(String call, int result) {
        if (result == 0) return;
        String name;
        try {
            name = ((MemorySegment) nvrtcGetErrorString.invokeExact(result)).reinterpret(256).getString(0);
        } catch (Throwable t) {
            name = "nvrtcResult " + result;
        }
        throw new CudaException(call + " failed: " + name + " (" + result + ")");
    }
}
