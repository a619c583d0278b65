package dev.jgpt.dist;

import dev.jgpt.JgptException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * MPI through java.lang.foreign: the few calls data-parallel training needs, and every MPI handle
 * and constant jgpt uses, in this one class.
 *
 * <p>The handles are Open MPI's (4.x and 5.x): {@code MPI_COMM_WORLD}, {@code MPI_FLOAT},
 * {@code MPI_SUM}, ... are the addresses of exported globals ({@code ompi_mpi_comm_world}, ...) and
 * {@code MPI_IN_PLACE} is the address 1. MPICH's integer handles or the MPI-5 standard ABI would be
 * added here, beside them.
 *
 * <p>Buffers are Java arrays passed to the library in place: the blocking calls are linked as
 * critical functions with heap access, so a gradient of hundreds of megabytes is reduced without a
 * copy (the garbage collector waits for the call to return).
 */
public final class Mpi implements AutoCloseable {
    /** Where to look for libmpi when {@code JGPT_MPI_LIB} does not say. */
    private static final List<String> LIBRARY_CANDIDATES = List.of(
            "libmpi.so.40", "libmpi.so",
            "/usr/lib/x86_64-linux-gnu/libmpi.so.40", "/usr/lib/x86_64-linux-gnu/openmpi/lib/libmpi.so",
            "/usr/lib/aarch64-linux-gnu/libmpi.so.40", "/usr/lib64/openmpi/lib/libmpi.so.40",
            "/usr/local/lib/libmpi.so.40", "/opt/openmpi/lib/libmpi.so.40");
    private static final int RTLD_NOW = 0x2, RTLD_GLOBAL = 0x100;
    private static final MemorySegment IN_PLACE = MemorySegment.ofAddress(1);
    private static final Linker LINKER = Linker.nativeLinker();

    private static Mpi world;

    private final MemorySegment commWorld, floatType, doubleType, byteType, sum, max;
    private final MethodHandle allreduce, allreduceHeap, bcastHeap, barrier, abort, finalizeCall;
    private final int rank, size;
    private boolean finalized;

    /**
     * Whether this process was started by an MPI launcher (mpirun, mpiexec, srun with PMIx): the
     * variables they set. Without them jgpt trains in one process and never loads libmpi.
     */
    public static boolean launched() {
        return launched(System.getenv());
    }

    static boolean launched(Map<String, String> env) {
        return env.containsKey("OMPI_COMM_WORLD_SIZE") || env.containsKey("PMIX_RANK") || env.containsKey("PMI_SIZE");
    }

    /** This rank's index among the ranks on its host, from the launcher's variables (0 when not launched by MPI). */
    public static int localRank() {
        return launcherNumber("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", 0);
    }

    /** Ranks on this host, from the launcher's variables (1 when not launched by MPI). */
    public static int localSize() {
        return launcherNumber("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", 1);
    }

    /** Open MPI's variable, else MPICH's, at least {@code fallback}; {@code fallback} when neither is a number. */
    private static int launcherNumber(String openMpi, String mpich, int fallback) {
        String s = System.getenv(openMpi);
        if (s == null) s = System.getenv(mpich);
        try {
            return s == null ? fallback : Math.max(fallback, Integer.parseInt(s.strip()));
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    /** What this process was asked to do (the command's arguments), for the ranks to compare; set by the command line. */
    private static volatile String command = "";

    public static void command(String args) {
        command = args;
    }

    /**
     * MPI_Init once per process (MPI allows no second init after finalize); later calls return the same
     * world. The ranks first compare their commands: ranks started with different ones (mpirun's
     * {@code A : B}, a rank's own options) would wait forever in collective calls that do not match.
     */
    public static synchronized Mpi world() {
        if (world == null) {
            world = new Mpi(load());
            world.agreeOnCommand(command);
        }
        return world;
    }

    private void agreeOnCommand(String mine) {
        if (size == 1) return;
        String first = broadcast(mine, 0);
        double[] last = {first.equals(mine) ? -1 : rank}; // the highest rank whose command differs from rank 0's
        allReduceMax(last);
        if (last[0] < 0) return;
        int r = (int) last[0];
        String theirs = broadcast(mine, r);
        close(); // every rank ends here: finalize, so the launcher sees clean exits
        throw new AgreedFailure("the ranks were started with different commands: rank 0 runs `jgpt " + first + "`, rank " + r
                + " `jgpt " + theirs + "`; start every rank with the same one", rank == 0);
    }

    private Mpi(SymbolLookup lib) {
        commWorld = symbol(lib, "ompi_mpi_comm_world");
        floatType = symbol(lib, "ompi_mpi_float");
        doubleType = symbol(lib, "ompi_mpi_double");
        byteType = symbol(lib, "ompi_mpi_byte");
        sum = symbol(lib, "ompi_mpi_op_sum");
        max = symbol(lib, "ompi_mpi_op_max");
        // sendbuf, recvbuf, count, datatype, op, comm
        FunctionDescriptor reduce = FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        allreduce = function(lib, "MPI_Allreduce", reduce);
        allreduceHeap = function(lib, "MPI_Allreduce", reduce, Linker.Option.critical(true));
        bcastHeap = function(lib, "MPI_Bcast", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, ADDRESS),
                Linker.Option.critical(true));
        barrier = function(lib, "MPI_Barrier", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        abort = function(lib, "MPI_Abort", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
        finalizeCall = function(lib, "MPI_Finalize", FunctionDescriptor.of(JAVA_INT));
        MethodHandle init = function(lib, "MPI_Init", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        MethodHandle commRank = function(lib, "MPI_Comm_rank", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        MethodHandle commSize = function(lib, "MPI_Comm_size", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            check("MPI_Init", (int) init.invokeExact(MemorySegment.NULL, MemorySegment.NULL));
            MemorySegment out = arena.allocate(JAVA_INT);
            check("MPI_Comm_rank", (int) commRank.invokeExact(commWorld, out));
            rank = out.get(JAVA_INT, 0);
            check("MPI_Comm_size", (int) commSize.invokeExact(commWorld, out));
            size = out.get(JAVA_INT, 0);
        } catch (JgptException e) {
            throw e;
        } catch (Throwable t) {
            throw new JgptException("MPI_Init failed: " + t, t);
        }
    }

    public int rank() {
        return rank;
    }

    public int size() {
        return size;
    }

    /** Sums {@code a[from, from + n)} over all ranks, in place on every rank. */
    public void allReduceSum(float[] a, int from, int n) {
        MemorySegment s = MemorySegment.ofArray(a);
        long offset = (long) from * Float.BYTES;
        for (int done = 0; done < n; ) { // MPI counts are ints; stay well inside them
            int count = Math.min(n - done, 1 << 28);
            invoke("MPI_Allreduce", allreduceHeap, IN_PLACE, s.asSlice(offset + (long) done * Float.BYTES), count, floatType, sum);
            done += count;
        }
    }

    /** Sums each element of {@code a} over all ranks, in place. */
    public void allReduceSum(double[] a) {
        invoke("MPI_Allreduce", allreduceHeap, IN_PLACE, MemorySegment.ofArray(a), a.length, doubleType, sum);
    }

    /** The largest of each element of {@code a} over all ranks, in place. */
    public void allReduceMax(double[] a) {
        invoke("MPI_Allreduce", allreduceHeap, IN_PLACE, MemorySegment.ofArray(a), a.length, doubleType, max);
    }

    /** Sums an off-heap buffer of {@code count} floats in place (for buffers that must not move). */
    public void allReduceSum(MemorySegment floats, long count) {
        for (long done = 0; done < count; ) {
            int n = (int) Math.min(count - done, 1 << 28);
            invoke("MPI_Allreduce", allreduce, IN_PLACE, floats.asSlice(done * Float.BYTES), n, floatType, sum);
            done += n;
        }
    }

    /** Copies {@code a[from, from + n)} of rank {@code root} to every rank. */
    public void broadcast(float[] a, int from, int n, int root) {
        MemorySegment s = MemorySegment.ofArray(a);
        for (int done = 0; done < n; ) {
            int count = Math.min(n - done, 1 << 28);
            try {
                check("MPI_Bcast", (int) bcastHeap.invokeExact(s.asSlice((long) (from + done) * Float.BYTES), count, floatType, root, commWorld));
            } catch (JgptException e) {
                throw e;
            } catch (Throwable t) {
                throw new JgptException("MPI_Bcast failed: " + t, t);
            }
            done += count;
        }
    }

    /** Rank {@code root}'s text on every rank (the run name, a path). */
    public String broadcast(String text, int root) {
        byte[] length = new byte[4];
        byte[] bytes = rank == root ? text.getBytes(StandardCharsets.UTF_8) : null;
        if (rank == root) java.nio.ByteBuffer.wrap(length).putInt(bytes.length);
        broadcastBytes(length, root);
        if (rank != root) bytes = new byte[java.nio.ByteBuffer.wrap(length).getInt()];
        broadcastBytes(bytes, root);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private void broadcastBytes(byte[] b, int root) {
        try {
            check("MPI_Bcast", (int) bcastHeap.invokeExact(MemorySegment.ofArray(b), b.length, byteType, root, commWorld));
        } catch (JgptException e) {
            throw e;
        } catch (Throwable t) {
            throw new JgptException("MPI_Bcast failed: " + t, t);
        }
    }

    public void barrier() {
        try {
            check("MPI_Barrier", (int) barrier.invokeExact(commWorld));
        } catch (JgptException e) {
            throw e;
        } catch (Throwable t) {
            throw new JgptException("MPI_Barrier failed: " + t, t);
        }
    }

    /** Ends every rank of the job with {@code code}: what a rank does when it cannot go on. */
    public void abort(int code) {
        try {
            int ignored = (int) abort.invokeExact(commWorld, code);
        } catch (Throwable t) {
            // nothing left to try
        }
        Runtime.getRuntime().halt(code);
    }

    /** MPI_Finalize: every rank calls it once at the end. */
    @Override
    public synchronized void close() {
        if (finalized) return;
        finalized = true;
        try {
            check("MPI_Finalize", (int) finalizeCall.invokeExact());
        } catch (JgptException e) {
            throw e;
        } catch (Throwable t) {
            throw new JgptException("MPI_Finalize failed: " + t, t);
        }
    }

    private void invoke(String name, MethodHandle h, MemorySegment send, MemorySegment recv, int count, MemorySegment type, MemorySegment op) {
        try {
            check(name, (int) h.invokeExact(send, recv, count, type, op, commWorld));
        } catch (JgptException e) {
            throw e;
        } catch (Throwable t) {
            throw new JgptException(name + " failed: " + t, t);
        }
    }

    private static void check(String call, int rc) {
        if (rc != 0) throw new JgptException(call + " failed with MPI error code " + rc);
    }

    /**
     * Opens libmpi with RTLD_GLOBAL: Open MPI loads its components as plugins that look their
     * symbols up in the global namespace, which the JDK's own library loading (RTLD_LOCAL) hides.
     * Open MPI's handlers for SIGSEGV and friends are turned off first: the JVM uses those signals
     * itself (null checks, safepoints), and Open MPI's handler would turn them into a crash.
     */
    private static SymbolLookup load() {
        MethodHandle setenv = function(LINKER.defaultLookup(), "setenv", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        MethodHandle dlopen = function(LINKER.defaultLookup(), "dlopen", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
        MethodHandle dlerror = function(LINKER.defaultLookup(), "dlerror", FunctionDescriptor.of(ADDRESS));
        Arena arena = Arena.global();
        List<String> tried = new ArrayList<>();
        String configured = System.getenv("JGPT_MPI_LIB");
        List<String> candidates = configured != null ? List.of(configured) : LIBRARY_CANDIDATES;
        try {
            int ignored = (int) setenv.invokeExact(arena.allocateFrom("OMPI_MCA_opal_signal"), arena.allocateFrom(""), 0);
            for (String candidate : candidates) {
                if (candidate.startsWith("/") && !Files.exists(Path.of(candidate))) {
                    tried.add(candidate + " (no such file)");
                    continue;
                }
                MemorySegment handle = (MemorySegment) dlopen.invokeExact(arena.allocateFrom(candidate), RTLD_NOW | RTLD_GLOBAL);
                if (!handle.equals(MemorySegment.NULL)) {
                    // the library is loaded now; this lookup opens the same handle again to find its symbols
                    return candidate.startsWith("/") ? SymbolLookup.libraryLookup(Path.of(candidate), arena)
                            : SymbolLookup.libraryLookup(candidate, arena);
                }
                MemorySegment err = (MemorySegment) dlerror.invokeExact();
                tried.add(err.equals(MemorySegment.NULL) ? candidate : err.reinterpret(1024).getString(0));
            }
        } catch (Throwable t) {
            if (t instanceof JgptException j) throw j;
            tried.add(t.toString());
        }
        throw new JgptException("started under MPI (mpirun), but no MPI library could be loaded; install Open MPI "
                + "(Debian: apt-get install openmpi-bin libopenmpi-dev) or set JGPT_MPI_LIB to libmpi.so. Tried: "
                + String.join("; ", tried));
    }

    private static MemorySegment symbol(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new JgptException(
                "the MPI library has no " + name + ": jgpt speaks Open MPI 4 or 5 (set JGPT_MPI_LIB to an Open MPI libmpi.so)"));
    }

    private static MethodHandle function(SymbolLookup lib, String name, FunctionDescriptor d, Linker.Option... options) {
        return LINKER.downcallHandle(symbol(lib, name), d, options);
    }
}
