package dev.jgpt.train;

import dev.jgpt.config.RunConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LrScheduleTest {

    private static final LrSchedule GPT2 = LrSchedule.of(RunConfig.defaults().train());

    /**
     * Values printed by build-nanogpt's get_lr (Python floats, repr) with max_lr 6e-4,
     * min_lr = max_lr * 0.1, warmup 715, max_steps 19073.
     */
    @Test
    void matchesBuildNanogptGetLr() {
        double[][] expected = {
                {0, 8.39160839160839e-07},
                {1, 1.678321678321678e-06},
                {100, 8.475524475524474e-05},
                {714, 0.0006},
                {715, 0.0005999999999999998},
                {716, 0.0005999999960464904},
                {1000, 0.0005996789398433078},
                {5000, 0.0005306037514359256},
                {9894, 0.00032999999999999994},
                {15000, 0.00012297343085757826},
                {19072, 6.0000003953509464e-05},
                {19073, 5.9999999999999995e-05},
                {19074, 5.9999999999999995e-05},
                {25000, 5.9999999999999995e-05},
        };
        for (double[] e : expected) {
            // Bit for bit: StrictMath.cos agrees with CPython's math.cos at all of these points.
            assertEquals(e[1], GPT2.lr((int) e[0]), "step " + (int) e[0]);
        }
    }

    @Test
    void warmupRisesLinearlyThenDecayNeverRises() {
        for (int step = 1; step < 715; step++) {
            assertEquals(GPT2.lr(0) * (step + 1), GPT2.lr(step), 1e-18);
        }
        for (int step = 715; step < 19100; step++) {
            assertTrue(GPT2.lr(step + 1) <= GPT2.lr(step), "step " + step);
        }
    }

    @Test
    void midpointOfDecayIsHalfway() {
        LrSchedule s = new LrSchedule(1.0, 0.0, 10, 110);
        assertEquals(0.5, s.lr(60), 1e-15);
        assertEquals(1.0, s.lr(10));
        assertEquals(0.0, s.lr(110));
    }

    @Test
    void noWarmupAndWarmupUpToTheEndAreFine() {
        LrSchedule none = new LrSchedule(1e-3, 1e-4, 0, 100);
        assertEquals(1e-3, none.lr(0));
        LrSchedule allWarmup = new LrSchedule(1e-3, 1e-4, 10, 10);
        assertEquals(1e-3, allWarmup.lr(9));
        assertEquals(1e-4, allWarmup.lr(10));
    }

    @Test
    void followsTheConfig() {
        RunConfig c = RunConfig.defaults().withOverrides(List.of("train.max_lr=1e-3", "train.warmup_steps=10",
                "train.max_steps=100"));
        LrSchedule s = LrSchedule.of(c.train());
        assertEquals(new LrSchedule(1e-3, 1e-3 * 0.1, 10, 100), s);
        assertEquals(1e-4, s.lr(0), 1e-18);
    }

    @Test
    void rejectsImpossibleSchedules() {
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1e-3, 2e-3, 10, 100));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(0, 0, 10, 100));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(1e-3, 0, 200, 100));
    }
}
