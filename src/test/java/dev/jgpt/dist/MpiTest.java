package dev.jgpt.dist;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The MPI binding in real mpirun jobs of two JVMs (skipped where Open MPI is not installed). */
class MpiTest {

    @Test
    void detectsTheLauncherFromItsEnvironment() {
        assertTrue(Mpi.launched(Map.of("OMPI_COMM_WORLD_SIZE", "2")));
        assertTrue(Mpi.launched(Map.of("PMIX_RANK", "0")));
        assertFalse(Mpi.launched(Map.of("PATH", "/usr/bin")));
    }

    @Test
    void twoRanksReduceAndBroadcast() throws Exception {
        Run r = mpirun(2, "ok");
        assertEquals(0, r.exit, r.output);
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(r.output.contains("rank " + rank + " of 2: sum ok, doubles ok, max ok, broadcast ok, name run-αβ"), r.output);
        }
    }

    @Test
    void aRankThatAbortsEndsTheJob() throws Exception {
        Run r = mpirun(2, "abort");
        assertNotEquals(0, r.exit, r.output);
        assertFalse(r.output.contains("past the barrier"), "rank 0 must not get past a barrier rank 1 never reaches\n" + r.output);
    }

    @Test
    void withoutALoadableMpiLibraryTheErrorIsOneLine() throws Exception {
        Run r = mpirun(2, "ok", Map.of("JGPT_MPI_LIB", "/nonexistent/libmpi.so"));
        assertNotEquals(0, r.exit, r.output);
        assertTrue(r.output.contains("started under MPI (mpirun), but no MPI library could be loaded; install Open MPI")
                && r.output.contains("/nonexistent/libmpi.so (no such file)"), r.output);
    }

    record Run(int exit, String output) {
    }

    private static Run mpirun(int ranks, String mode) throws IOException, InterruptedException {
        return mpirun(ranks, mode, Map.of());
    }

    private static Run mpirun(int ranks, String mode, Map<String, String> env) throws IOException, InterruptedException {
        assumeTrue(onPath("mpirun"), "mpirun is not installed (Debian: openmpi-bin libopenmpi-dev)");
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of("mpirun", "-np", String.valueOf(ranks), "--oversubscribe", java,
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), Ranks.class.getName(), mode));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT", "1");
        pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        pb.environment().putAll(env);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "mpirun did not end");
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (new java.io.File(dir, program).canExecute()) return true;
        }
        return false;
    }

    /** One rank of the job. */
    public static final class Ranks {
        public static void main(String[] args) {
            Mpi mpi;
            try {
                mpi = Mpi.world();
            } catch (dev.jgpt.JgptException e) {
                System.out.println(e.getMessage());
                System.exit(1);
                return;
            }
            int rank = mpi.rank(), size = mpi.size();
            if (args[0].equals("abort")) {
                if (rank == 1) mpi.abort(3);
                mpi.barrier();
                System.out.println("past the barrier");
                return;
            }
            // more elements than one chunk of the pool would take, at an offset
            int n = 1_000_003;
            float[] a = new float[n + 5];
            for (int i = 0; i < n; i++) a[5 + i] = rank + i * 0.5f;
            mpi.allReduceSum(a, 5, n);
            boolean sumOk = a[0] == 0;
            for (int i = 0; i < n; i++) sumOk &= a[5 + i] == (size - 1) * size / 2f + size * i * 0.5f;
            double[] d = {rank, 1.5};
            mpi.allReduceSum(d);
            double[] m = {rank * 10.0};
            mpi.allReduceMax(m);
            float[] w = new float[7];
            if (rank == 0) for (int i = 0; i < w.length; i++) w[i] = i + 0.25f;
            mpi.broadcast(w, 1, 6, 0);
            boolean bcastOk = w[0] == (rank == 0 ? 0.25f : 0f);
            for (int i = 1; i < w.length; i++) bcastOk &= w[i] == i + 0.25f;
            String name = mpi.broadcast(rank == 0 ? "run-αβ" : "", 0);
            System.out.println("rank " + rank + " of " + size + ": sum " + (sumOk ? "ok" : "WRONG")
                    + ", doubles " + (d[0] == size * (size - 1) / 2.0 && d[1] == 1.5 * size ? "ok" : "WRONG")
                    + ", max " + (m[0] == (size - 1) * 10.0 ? "ok" : "WRONG")
                    + ", broadcast " + (bcastOk ? "ok" : "WRONG") + ", name " + name);
            mpi.close();
        }
    }
}
