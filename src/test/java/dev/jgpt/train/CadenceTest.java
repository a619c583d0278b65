package dev.jgpt.train;

import dev.jgpt.config.RunConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** When the training loop evaluates, samples, checkpoints and prints. */
class CadenceTest {

    @Test
    void evaluationStepsFollowBuildNanogpt() {
        RunConfig c = RunConfig.defaults(); // every 250, 19073 steps, checkpoints every 5000
        assertTrue(Trainer.valDue(c, 0));
        assertTrue(Trainer.valDue(c, 250));
        assertFalse(Trainer.valDue(c, 251));
        assertTrue(Trainer.valDue(c, 19073)); // last step
        assertTrue(Trainer.hellaswagDue(c, 0));
        assertFalse(Trainer.sampleDue(c, 0)); // samples from an untrained model are noise
        assertTrue(Trainer.sampleDue(c, 250));
        assertTrue(Trainer.sampleDue(c, 19073));
        assertFalse(Trainer.checkpointDue(c, 0));
        assertFalse(Trainer.checkpointDue(c, 250));
        assertTrue(Trainer.checkpointDue(c, 5000));
        assertTrue(Trainer.checkpointDue(c, 19073));
        assertTrue(Trainer.logDue(c, 1));

        RunConfig off = c.withOverrides(List.of("eval.val_every=0", "eval.sample_every=0", "eval.hellaswag_every=0",
                "eval.checkpoint_every=0", "log.log_every=10"));
        assertFalse(Trainer.valDue(off, 0));
        assertFalse(Trainer.valDue(off, 19073));
        assertFalse(Trainer.sampleDue(off, 19073));
        assertFalse(Trainer.hellaswagDue(off, 0));
        assertFalse(Trainer.checkpointDue(off, 5000));
        assertTrue(Trainer.checkpointDue(off, 19073)); // 0 = only at the end
        assertFalse(Trainer.logDue(off, 5));
        assertTrue(Trainer.logDue(off, 10));
        assertTrue(Trainer.logDue(off, 19073));
    }

    @Test
    void theQuickstartRunCheckpointsAtItsEnd() {
        RunConfig c = RunConfig.load(Path.of("configs/quickstart.yaml"));
        assertTrue(Trainer.checkpointDue(c, c.train().maxSteps()));
    }
}
