package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.cuda.CudaException;
import dev.jgpt.cuda.CudaLibraries;
import dev.jgpt.cuda.CudaKernels;
import dev.jgpt.cuda.KernelCache;
import dev.jgpt.cuda.KernelParity;
import dev.jgpt.cuda.KernelResources;
import dev.jgpt.cuda.KernelSources;
import dev.jgpt.cuda.MatmulPath;
import dev.jgpt.cuda.Nvrtc;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * The GPU engine's own checks: what CUDA sees, kernel compilation, parity with the CPU kernels.
 * Training on the GPU is {@code jgpt train} with train.device cuda (or auto); its benchmark is
 * {@code bench train --device cuda}.
 */
@Command(name = "cuda", mixinStandardHelpOptions = true,
        description = "Check the CUDA engine: the GPU and libraries found, kernel compilation, parity of every kernel with "
                + "the CPU's. Training on the GPU: jgpt train (train.device: auto or cuda); its benchmark: jgpt bench train --device cuda.",
        subcommands = {CudaCommand.Info.class, CudaCommand.Compile.class, CudaCommand.Parity.class})
public final class CudaCommand implements Runnable {

    @Override
    public void run() {
        new picocli.CommandLine(this).usage(System.out);
    }

    @Command(name = "info", mixinStandardHelpOptions = true, description = "The GPU, the driver, NVRTC and cuBLAS as found, and the "
            + "matmul path JGPT_MATMUL selects. Without a GPU: where NVRTC and cuBLAS are found (or every place searched), then "
            + "why there is no GPU, exit 1.")
    public static final class Info implements Callable<Integer> {
        @Override
        public Integer call() {
            MatmulPath matmul = MatmulPath.selected();
            Cuda opened;
            try {
                opened = Cuda.open();
            } catch (CudaException noGpu) {
                // the libraries that need no GPU to be found, then the reason there is none as the one error line
                System.out.println("gpu:      none (why: the last line)");
                printNvrtc();
                CudaLibraries.fromEnvironment().blasLibraries().forEach(System.out::println);
                System.out.println("kernel cache: " + KernelCache.defaultDir(System.getenv()));
                throw noGpu;
            }
            try (Cuda cuda = opened) {
                System.out.println("gpu:    " + cuda.describe());
                Nvrtc nvrtc = cuda.nvrtc();
                int[] v = nvrtc.version();
                System.out.println("nvrtc:  " + v[0] + "." + v[1] + " from " + nvrtc.origin);
                // the GPU's architecture, the driver's CUDA version, cuBLAS and, where selected, cuBLASLt's handle and workspace
                cuda.requireLibraries();
                System.out.println("cublas: loaded");
                System.out.println("matmul: " + matmul.id() + (matmul == MatmulPath.CUBLASLT ? " (cuBLASLt loaded)" : "")
                        + "; JGPT_MATMUL=cublas|cublaslt selects it");
                long[] mem = cuda.memoryInfo();
                System.out.printf("memory: %d MiB free of %d MiB%n", mem[0] >> 20, mem[1] >> 20);
                System.out.println("kernel cache: " + KernelCache.defaultDir(System.getenv()));
            }
            return 0;
        }

        /** Without a GPU: NVRTC's version and file, or every place it was looked for. */
        private static void printNvrtc() {
            Nvrtc nvrtc;
            try {
                nvrtc = Nvrtc.load();
            } catch (CudaException missing) {
                System.out.println("nvrtc:    not found: " + missing.getMessage());
                return;
            }
            int[] v = nvrtc.version();
            System.out.println("nvrtc:    " + v[0] + "." + v[1] + " from " + nvrtc.origin);
        }
    }

    @Command(name = "compile", mixinStandardHelpOptions = true,
            description = "Compile every kernel with NVRTC (for the GPU, or for --arch without one) and report each file.")
    public static final class Compile implements Callable<Integer> {
        @Option(names = "--arch", description = "target, e.g. sm_90 (default: the GPU's); with it no GPU is needed")
        String arch;

        @Override
        public Integer call() {
            if (arch != null && !arch.matches("sm_\\d+a?")) throw new JgptException("--arch must look like sm_90, got " + arch);
            if (arch != null) {
                Nvrtc nvrtc = Nvrtc.load();
                nvrtc.requireArchitecture(arch, "--arch");
                compileAll(nvrtc, arch);
            } else {
                try (Cuda cuda = Cuda.open()) {
                    cuda.nvrtc().requireArchitecture(cuda.arch(), cuda.deviceName + "'s architecture");
                    compileAll(cuda.nvrtc(), cuda.arch());
                    cuda.loadAllKernels(); // and load each cubin into the GPU
                    System.out.println("all modules load on " + cuda.deviceName);
                }
            }
            return 0;
        }

        /**
         * Compiles every kernel file with ptxas's resource report and prints each kernel's registers,
         * shared memory, stack and spills; a kernel whose registers do not allow the largest block
         * jgpt launches (it would fail only at launch, on a GPU) is an error.
         */
        private static void compileAll(Nvrtc nvrtc, String arch) {
            int[] v = nvrtc.version();
            System.out.println("NVRTC " + v[0] + "." + v[1] + " (" + nvrtc.origin + "), target " + arch);
            List<String> options = new ArrayList<>(KernelSources.OPTIONS);
            options.add(Nvrtc.PTXAS_VERBOSE);
            List<String> tooLarge = new ArrayList<>();
            int kernels = 0;
            for (String file : KernelSources.FILES) {
                long t0 = System.nanoTime();
                Nvrtc.Compiled compiled = nvrtc.compileWithLog(KernelSources.source(file), file, arch, options);
                List<String> names = KernelSources.kernelNames(file);
                kernels += names.size();
                System.out.printf("  %-14s %2d kernels, %7d bytes, %5.0f ms%n", file, names.size(), compiled.cubin().length,
                        (System.nanoTime() - t0) / 1e6);
                Map<String, KernelResources> resources = KernelResources.parse(compiled.log());
                for (String name : names) {
                    KernelResources r = resources.get(name);
                    if (r == null) throw new JgptException(file + ": ptxas reported no resources for kernel " + name);
                    System.out.println("    " + r);
                    if (!r.fitsBlock(CudaKernels.LARGEST_BLOCK)) tooLarge.add(name + " (" + r.registers() + " registers)");
                }
            }
            if (!tooLarge.isEmpty()) {
                throw new JgptException("too many registers for a block of " + CudaKernels.LARGEST_BLOCK + " threads on " + arch
                        + ": " + String.join(", ", tooLarge));
            }
            System.out.println(kernels + " kernels compiled; each fits a block of " + CudaKernels.LARGEST_BLOCK + " threads");
        }
    }

    @Command(name = "parity", mixinStandardHelpOptions = true,
            description = "Run every CUDA kernel and the matmuls (cuBLAS and cuBLASLt) on seeded random inputs of odd shapes, and a "
                    + "whole small GPT (loss, logits, gradients, AdamW steps; matmuls on the JGPT_MATMUL path), against the CPU "
                    + "kernels; with --fixtures, debug-step against PyTorch. "
                    + "Prints the largest errors; exit 1 on any failure.")
    public static final class Parity implements Callable<Integer> {
        @Option(names = "--fixtures", paramLabel = "DIR",
                description = "also run debug-step on the GPU against the PyTorch fixtures in DIR (src/test/resources/fixtures)")
        Path fixtures;

        @Override
        public Integer call() throws IOException {
            if (fixtures != null && !Files.isDirectory(fixtures)) throw new JgptException(fixtures + ": no such folder");
            MatmulPath matmul = MatmulPath.selected();
            try (Cuda cuda = Cuda.open().requireLibraries()) {
                System.out.println(cuda.describe());
                System.out.println("matmul path of the model and fixture checks: " + matmul.id()
                        + " (JGPT_MATMUL); the matmul checks run both");
                KernelParity parity = new KernelParity(cuda);
                List<KernelParity.Check> checks = new java.util.ArrayList<>(parity.runAll(c -> System.out.println("  " + c)));
                if (fixtures != null) checks.addAll(parity.fixtures(fixtures, c -> System.out.println("  " + c)));
                for (String note : cuda.cublasLt().unfused()) System.out.println("  cuBLASLt did not fuse: " + note);
                long failed = checks.stream().filter(c -> !c.passed()).count();
                System.out.println(failed == 0 ? "parity: all " + checks.size() + " checks passed"
                        : "parity: " + failed + " of " + checks.size() + " checks FAILED");
                return failed == 0 ? 0 : 1;
            }
        }
    }

    /**
     * For --device on other commands: the GPU with its libraries loaded, or one clear error saying why
     * there is none, before the command prints or serves anything.
     */
    static Cuda openForDevice(String device) {
        return onGpu(device) ? Cuda.open().requireLibraries() : null;
    }

    /** Whether --device asks for the GPU (cuda) rather than the CPU; any other value is an error naming the option. */
    static boolean onGpu(String device) {
        if (!device.equals("cpu") && !device.equals("cuda")) throw new JgptException("--device must be cpu or cuda, got " + device);
        if (device.equals("cuda")) MatmulPath.selected(); // a bad JGPT_MATMUL stops here, before the GPU is opened
        return device.equals("cuda");
    }
}
