package dev.jgpt.cuda;

import dev.jgpt.model.OpProfile;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * One GPU, ready to use: its primary context current on the opening thread, one stream that every
 * kernel and cuBLAS call is queued on, and jgpt's kernels compiled for its architecture (NVRTC, on
 * first use of each kernel file, cached on disk by {@link KernelCache}). Copies to and from the host
 * are synchronous. Not thread-safe: one thread at a time drives a GPU (see {@link #useOnThisThread}).
 */
public final class Cuda implements AutoCloseable {
    public final String deviceName;
    public final int major, minor, multiprocessors;
    public final long totalMemory;
    public final int driverVersion;

    final Driver driver;
    private final CudaLibraries libraries;
    private final int device;
    private final MemorySegment context, stream;
    private final List<DeviceBuffer> allocations = new ArrayList<>();
    private final Map<String, String> fileOfKernel = new HashMap<>();
    private final Map<String, List<KernelSources.Param>> signatures = new HashMap<>();
    private final Map<String, MemorySegment> modules = new HashMap<>();
    private final Map<String, MemorySegment> functions = new HashMap<>();
    private Nvrtc nvrtc;
    private KernelCache cache;
    private Cublas cublas;
    private CublasLt cublasLt;
    private boolean closed;

    private Cuda(CudaLibraries libraries, Driver driver, int ordinal) {
        this.libraries = libraries;
        this.driver = driver;
        this.driverVersion = driver.version();
        int count = driver.deviceCount();
        if (count == 0) throw new CudaException("the CUDA driver (" + driver.lib.origin() + ") sees no GPU");
        if (ordinal < 0 || ordinal >= count) throw new CudaException("no GPU " + ordinal + ": the driver sees " + count);
        device = driver.device(ordinal);
        deviceName = driver.deviceName(device);
        major = driver.attribute(device, Driver.ATTR_COMPUTE_CAPABILITY_MAJOR);
        minor = driver.attribute(device, Driver.ATTR_COMPUTE_CAPABILITY_MINOR);
        multiprocessors = driver.attribute(device, Driver.ATTR_MULTIPROCESSOR_COUNT);
        totalMemory = driver.totalMemory(device);
        context = driver.retainPrimaryContext(device);
        driver.setCurrent(context);
        stream = driver.createStream();
        for (String file : KernelSources.FILES) {
            KernelSources.signatures(file).forEach((kernel, params) -> {
                fileOfKernel.put(kernel, file);
                signatures.put(kernel, params);
            });
        }
    }

    /** The first GPU, with libraries found as {@link CudaLibraries} describes. */
    public static Cuda open() {
        return forLocalRank(0);
    }

    /**
     * The GPU of the data-parallel rank that is {@code localRank}th on its host: GPU localRank mod
     * the GPUs the driver sees, so each rank of a host gets its own while there are enough.
     */
    public static Cuda forLocalRank(int localRank) {
        CudaLibraries libs = CudaLibraries.fromEnvironment();
        Driver driver = Driver.load(libs);
        int count = driver.deviceCount();
        return new Cuda(libs, driver, count == 0 ? 0 : localRank % count); // none: the constructor says so
    }

    /** Why no GPU can be used here, or null when one can (for tests and {@code --device auto}). */
    public static String unavailableReason() {
        try (Cuda c = open().requireLibraries()) {
            return null;
        } catch (CudaException e) {
            return e.getMessage();
        }
    }

    /**
     * Makes this GPU's context current on the calling thread, as it is on the opening thread: what
     * drives the GPU from another thread (a decoding thread, a shutdown hook) calls this first.
     */
    public void useOnThisThread() {
        driver.setCurrent(context);
    }

    /** "sm_90" for an H100. */
    public String arch() {
        return "sm_" + major + minor;
    }

    /**
     * The fp32 (non-tensor-core) peak: SMs × fp32 lanes per SM × 2 (an FMA) × the boost clock. A100
     * (sm_80) has 64 fp32 lanes per SM, the others since have 128. NaN when the driver no longer
     * reports the clock (the attribute is deprecated).
     */
    public double fp32PeakFlops() {
        int lanes = major < 8 || (major == 8 && minor == 0) ? 64 : 128;
        double clockKHz;
        try {
            clockKHz = driver.attribute(device, Driver.ATTR_CLOCK_RATE);
        } catch (CudaException deprecated) {
            return Double.NaN;
        }
        return clockKHz > 0 ? multiprocessors * (double) lanes * 2 * clockKHz * 1e3 : Double.NaN;
    }

    public String describe() {
        return deviceName + " (" + arch() + ", " + multiprocessors + " SMs, " + (totalMemory >> 20) + " MiB), driver "
                + driverVersion / 1000 + "." + driverVersion % 1000 / 10 + " from " + driver.lib.origin();
    }

    public Nvrtc nvrtc() {
        if (nvrtc == null) {
            nvrtc = new Nvrtc(libraries.nvrtc());
            cache = new KernelCache(nvrtc, KernelCache.defaultDir(System.getenv()));
        }
        return nvrtc;
    }

    public Cublas cublas() {
        if (cublas == null) {
            NativeLibrary lib = libraries.cublas();
            Matcher soVersion = SO_MAJOR.matcher(lib.origin());
            if (soVersion.find()) requireDriverFor("cuBLAS", Integer.parseInt(soVersion.group(1)), lib.origin());
            cublas = new Cublas(lib, stream);
        }
        return cublas;
    }

    /** The CUDA major version in a library's file name: 13 in libcublas.so.13. */
    private static final Pattern SO_MAJOR = Pattern.compile("\\.so\\.(\\d+)");

    /** cuBLASLt on the same stream, with its workspace on this GPU. */
    public CublasLt cublasLt() {
        if (cublasLt == null) cublasLt = new CublasLt(libraries.cublasLt(), driver, stream);
        return cublasLt;
    }

    /**
     * Loads NVRTC and cuBLAS now, and cuBLASLt where JGPT_MATMUL selects it, rather than at the first
     * kernel or matmul: a machine with a driver and a GPU but without these libraries, or with an
     * NVRTC that cannot compile for this GPU, then fails (or falls back to the CPU) before any work,
     * with the error naming every place searched. Closes this GPU when one is missing.
     */
    public Cuda requireLibraries() {
        try {
            nvrtc().requireArchitecture(arch(), deviceName + "'s architecture");
            requireDriverFor("NVRTC", nvrtc.version()[0], nvrtc.origin);
            cublas(); // which checks its CUDA version against the driver's
            if (MatmulPath.selected() == MatmulPath.CUBLASLT) cublasLt();
            return this;
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * A library of CUDA {@code cudaMajor} needs a driver of that CUDA version or later: an older one
     * cannot load its kernels or start cuBLAS, which says only CUBLAS_STATUS_NOT_INITIALIZED.
     */
    private void requireDriverFor(String what, int cudaMajor, String origin) {
        if (cudaMajor <= driverVersion / 1000) return;
        throw new CudaException(what + " of CUDA " + cudaMajor + " (" + origin + ") needs a driver of CUDA " + cudaMajor
                + " or later, and the driver (" + driver.lib.origin() + ") is of CUDA " + driverVersion / 1000 + "."
                + driverVersion % 1000 / 10 + "; update the NVIDIA driver, or use CUDA " + driverVersion / 1000
                + "'s libraries (pip install nvidia-cuda-nvrtc-cu" + driverVersion / 1000 + " nvidia-cublas-cu" + driverVersion / 1000
                + ", and set " + CudaLibraries.ENV_PATHS + " to their folders)");
    }

    /** Compiles (or takes from the cache) and loads every kernel file now, rather than on first use. */
    public void loadAllKernels() {
        for (String file : KernelSources.FILES) module(file);
    }

    private MemorySegment module(String file) {
        MemorySegment m = modules.get(file);
        if (m == null) {
            nvrtc();
            try {
                m = driver.loadModule(cache.cubin(file, arch()), file);
            } catch (CudaException cachedCubinRefused) {
                // a cached cubin cut short or damaged on disk: compile it again, once, over the cached copy;
                // a fresh cubin the driver refuses too is the error
                m = driver.loadModule(cache.compile(file, arch()), file);
            }
            modules.put(file, m);
        }
        return m;
    }

    // ---- memory ----

    public DeviceBuffer floats(long count) {
        return allocate(count, 4);
    }

    public DeviceBuffer ints(long count) {
        return allocate(count, 4);
    }

    public DeviceBuffer doubles(long count) {
        return allocate(count, 8);
    }

    /** 64-bit integers: device addresses, say. */
    public DeviceBuffer longs(long count) {
        return allocate(count, 8);
    }

    private DeviceBuffer allocate(long count, int elementBytes) {
        DeviceBuffer b = new DeviceBuffer(driver.malloc(Math.max(1, count) * elementBytes), count, elementBytes);
        allocations.add(b);
        return b;
    }

    /**
     * Frees b once the work queued on the stream is done: that work may still read or write it (scratch
     * that grows mid-step, a model closed after its backward), and cuMemFree is documented only to
     * possibly wait for it.
     */
    public void free(DeviceBuffer b) {
        if (!allocations.contains(b)) return;
        sync();
        allocations.remove(b);
        driver.free(b.address);
    }

    /** Bytes allocated through this object and not freed. */
    public long allocatedBytes() {
        long sum = 0;
        for (DeviceBuffer b : allocations) sum += b.count * b.elementBytes;
        return sum;
    }

    /** {free, total} device memory in bytes, as the driver reports it. */
    public long[] memoryInfo() {
        return driver.memoryInfo();
    }

    public void upload(DeviceBuffer dst, float[] src) {
        upload(dst.address, src, 0, src.length);
    }

    /** src[from, from+count) to the device address {@code dst}. */
    public void upload(long dst, float[] src, int from, int count) {
        sync(); // the copy runs on the legacy stream; kernels still reading dst must finish first
        driver.copyToDevice(dst, MemorySegment.ofArray(src).asSlice(4L * from, 4L * count), 4L * count);
    }

    public void upload(DeviceBuffer dst, int[] src) {
        if (src.length > dst.count) throw new IndexOutOfBoundsException(src.length + " ints into a buffer of " + dst.count);
        sync();
        driver.copyToDevice(dst.address, MemorySegment.ofArray(src), 4L * src.length);
    }

    public void upload(DeviceBuffer dst, long[] src) {
        if (src.length > dst.count) throw new IndexOutOfBoundsException(src.length + " longs into a buffer of " + dst.count);
        sync();
        driver.copyToDevice(dst.address, MemorySegment.ofArray(src), 8L * src.length);
    }

    public void download(float[] dst, DeviceBuffer src) {
        download(dst, 0, src.address, dst.length);
    }

    /** count floats at device address {@code src} into dst[from, from+count). */
    public void download(float[] dst, int from, long src, int count) {
        sync();
        driver.copyToHost(MemorySegment.ofArray(dst).asSlice(4L * from, 4L * count), src, 4L * count);
    }

    public void download(double[] dst, DeviceBuffer src) {
        sync();
        driver.copyToHost(MemorySegment.ofArray(dst), src.address, 8L * dst.length);
    }

    public void copy(long dst, long src, long bytes) {
        sync();
        driver.copyOnDevice(dst, src, bytes);
    }

    /** Queues setting count floats from {@code address} to 0 on the stream. */
    public void zero(long address, long count) {
        driver.fill32(address, 0, count, stream);
    }

    public void zero(DeviceBuffer b) {
        zero(b.address, b.count * b.elementBytes / 4);
    }

    // ---- kernels ----

    /**
     * Queues kernel {@code name} on the stream with a (gridX, gridY) grid of {@code block}-thread
     * blocks. Arguments are passed as the kernel declares them: device addresses as {@code long}
     * (or a {@link DeviceBuffer}), {@code int}, {@code float}, {@code long long} as {@code long}; a
     * count or type that does not match the source's declaration is refused before launching.
     */
    public void launch(String name, int gridX, int gridY, int block, Object... args) {
        List<KernelSources.Param> params = signatures.get(name);
        if (params == null) throw new IllegalArgumentException("no kernel named " + name);
        if (params.size() != args.length) {
            throw new IllegalArgumentException(name + " takes " + params.size() + " arguments, got " + args.length);
        }
        MemorySegment function = functions.get(name);
        if (function == null) {
            function = driver.function(module(fileOfKernel.get(name)), name);
            functions.put(name, function);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pointers = a.allocate(ADDRESS, args.length);
            for (int i = 0; i < args.length; i++) {
                Object arg = args[i];
                KernelSources.Param p = params.get(i);
                MemorySegment slot = switch (p) {
                    case POINTER -> a.allocateFrom(JAVA_LONG, arg instanceof DeviceBuffer b ? b.address : (Long) expect(arg, Long.class, name, i, p));
                    case LONG -> a.allocateFrom(JAVA_LONG, (Long) expect(arg, Long.class, name, i, p));
                    case INT -> a.allocateFrom(JAVA_INT, (Integer) expect(arg, Integer.class, name, i, p));
                    case FLOAT -> a.allocateFrom(JAVA_FLOAT, (Float) expect(arg, Float.class, name, i, p));
                };
                pointers.setAtIndex(ADDRESS, i, slot);
            }
            driver.launch(function, name, gridX, gridY, 1, block, 1, 1, 0, stream, pointers);
        }
    }

    private static Object expect(Object arg, Class<?> type, String kernel, int index, KernelSources.Param p) {
        if (!type.isInstance(arg)) {
            throw new IllegalArgumentException(kernel + ": argument " + index + " is a " + p + " (" + type.getSimpleName()
                    + "), got " + (arg == null ? "null" : arg.getClass().getSimpleName()));
        }
        return arg;
    }

    /** Waits for everything queued on the stream; a kernel's failure surfaces here. */
    public void sync() {
        driver.synchronize(stream);
    }

    /** Milliseconds the GPU spends on {@code work} (events around it on the stream). */
    public float time(Runnable work) {
        MemorySegment start = driver.createEvent(), end = driver.createEvent();
        try {
            driver.record(start, stream);
            work.run();
            driver.record(end, stream);
            return driver.elapsedMs(start, end);
        } finally {
            driver.destroyEvent(start);
            driver.destroyEvent(end);
        }
    }

    /**
     * A clock for work queued on the stream: a mark is an event recorded there; the time between two
     * marks is read once the later one is reached (and both events are then destroyed).
     */
    public OpProfile.Clock streamClock() {
        return new OpProfile.Clock() {
            public Object mark() {
                MemorySegment event = driver.createEvent();
                driver.record(event, stream);
                return event;
            }

            public double ms(Object from, Object to) {
                try {
                    return driver.elapsedMs((MemorySegment) from, (MemorySegment) to);
                } finally {
                    driver.destroyEvent((MemorySegment) from);
                    driver.destroyEvent((MemorySegment) to);
                }
            }
        };
    }

    @Override
    public void close() {
        if (closed) return; // requireLibraries closes what fails it; its caller may close again
        closed = true;
        useOnThisThread(); // a shutdown hook may close it
        try {
            sync();
        } finally {
            if (cublas != null) cublas.close();
            if (cublasLt != null) cublasLt.close();
            for (DeviceBuffer b : allocations) driver.free(b.address);
            allocations.clear();
            for (MemorySegment m : modules.values()) driver.unloadModule(m);
            driver.destroyStream(stream);
            driver.releasePrimaryContext(device);
        }
    }
}
