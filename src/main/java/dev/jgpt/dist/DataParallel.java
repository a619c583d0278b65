package dev.jgpt.dist;

import dev.jgpt.JgptException;

import java.util.ArrayList;
import java.util.List;

/**
 * The processes that train one model together, as DDP's process group is in build-nanogpt: each
 * rank computes the gradient of its own micro-batches, the gradients are summed once per optimizer
 * step, and every rank then takes the same AdamW step, so the weights stay equal everywhere. A
 * process started without mpirun is a group of one, and nothing here touches MPI.
 */
public final class DataParallel implements AutoCloseable {
    private final Mpi mpi;

    private DataParallel(Mpi mpi) {
        this.mpi = mpi;
    }

    /** One process, no MPI. */
    public static DataParallel alone() {
        return new DataParallel(null);
    }

    /** The mpirun job this process belongs to, or a group of one when it was not started by mpirun. */
    public static DataParallel fromEnvironment() {
        return Mpi.launched() ? new DataParallel(Mpi.world()) : alone();
    }

    public int rank() {
        return mpi == null ? 0 : mpi.rank();
    }

    public int size() {
        return mpi == null ? 1 : mpi.size();
    }

    /** Rank 0: the one that writes the run's files. */
    public boolean isMain() {
        return rank() == 0;
    }

    /** Sums {@code gradient} over the ranks, in place (each rank has already scaled its part). */
    public void sumGradients(float[] gradient) {
        if (mpi != null) mpi.allReduceSum(gradient, 0, gradient.length);
    }

    /** The mean of {@code x} over the ranks. */
    public double mean(double x) {
        if (mpi == null) return x;
        double[] a = {x};
        mpi.allReduceSum(a);
        return a[0] / size();
    }

    /** Sums of the elements of {@code a} over the ranks, in place (counts, losses). */
    public void sum(double[] a) {
        if (mpi != null) mpi.allReduceSum(a);
    }

    /** The largest {@code x} over the ranks. */
    public int max(int x) {
        if (mpi == null) return x;
        double[] a = {x};
        mpi.allReduceMax(a);
        return (int) a[0];
    }

    /**
     * The ranks compare their setup before training: when one failed to set up ({@code failure}: the
     * one line it would print, null when it set up) or
     * set up otherwise than rank 0 ({@code setup}, one line of "name value" parts joined by "; ": its
     * data, HellaSwag, device), every rank fails here together, with the message of the lowest such
     * rank, instead of waiting forever for a rank that is gone or crashing later in a collective call
     * whose sizes do not match. Every rank calls it once, at the same point.
     */
    public void agree(String setup, String failure) {
        if (mpi == null) return;
        int failed = size() - max(failure == null ? 0 : size() - rank()); // the lowest failed rank, or size
        if (failed < size()) {
            String message = mpi.broadcast(rank() == failed ? failure : "", failed);
            throw new AgreedFailure("rank " + failed + " of " + size() + ": " + message, isMain());
        }
        String first = broadcast(setup);
        int differs = size() - max(first.equals(setup) ? 0 : size() - rank());
        if (differs < size()) {
            String theirs = mpi.broadcast(setup, differs);
            throw new AgreedFailure("rank " + differs + " of " + size() + " set up otherwise than rank 0: " + difference(first, theirs)
                    + "; every rank needs the same data and files (the same folders, or a shared file system)", isMain());
        }
    }

    /** The parts of two setups that differ: "name: value here (rank 0: value)". */
    private static String difference(String rank0, String other) {
        List<String> a = List.of(rank0.split("; ")), b = List.of(other.split("; "));
        List<String> out = new ArrayList<>();
        for (int i = 0; i < Math.max(a.size(), b.size()); i++) {
            String x = i < a.size() ? a.get(i) : "", y = i < b.size() ? b.get(i) : "";
            if (!x.equals(y)) out.add(y + " (rank 0: " + x + ")");
        }
        return String.join("; ", out);
    }

    /** Rank 0's values of {@code a} on every rank (the weights at start and resume). */
    public void broadcast(float[] a) {
        if (mpi != null) mpi.broadcast(a, 0, a.length, 0);
    }

    /** Rank 0's text on every rank (the run name, an error). */
    public String broadcast(String text) {
        return mpi == null ? text : mpi.broadcast(text, 0);
    }

    /**
     * Confirms that every rank holds the same weights: a position-weighted checksum, compared by
     * its smallest and largest value over the ranks. Cheap enough for every validation.
     */
    public void checkSameWeights(float[] params) {
        if (mpi == null) return;
        double sum = 0;
        for (int i = 0; i < params.length; i++) sum += params[i] * (double) (1 + (i & 1023));
        double[] hi = {sum}, lo = {-sum};
        mpi.allReduceMax(hi);
        mpi.allReduceMax(lo);
        if (hi[0] != -lo[0]) {
            throw new JgptException("the ranks' weights differ (checksums from " + (-lo[0]) + " to " + hi[0]
                    + "): data-parallel training lost step with itself; resume from the last checkpoint");
        }
    }

    public void barrier() {
        if (mpi != null) mpi.barrier();
    }

    /** Ends every rank of the job now with {@code code} (a rank that cannot go on). */
    public void abort(int code) {
        if (mpi != null) mpi.abort(code);
    }

    @Override
    public void close() {
        if (mpi != null) mpi.close();
    }
}
