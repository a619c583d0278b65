package dev.jgpt.dist;

import dev.jgpt.JgptException;

/**
 * An error every rank of an mpirun job has learned at the same collective call, so that all of them
 * stop together instead of one ending the job under the others: rank 0 reports it (one line for the
 * job, not one a rank), the other ranks exit with the same failure, quietly.
 */
public final class AgreedFailure extends JgptException {
    private final boolean reported;

    AgreedFailure(String message, boolean reported) {
        super(message);
        this.reported = reported;
    }

    /** Whether this rank prints the error (rank 0) or exits quietly. */
    public boolean reported() {
        return reported;
    }
}
