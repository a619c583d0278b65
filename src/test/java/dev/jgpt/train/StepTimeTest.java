package dev.jgpt.train;

import dev.jgpt.config.RunConfig;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.track.RunDirectory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The time a run will take, printed before its first step, and how close it comes. */
class StepTimeTest {
    @TempDir
    Path tmp;

    @Test
    void theConsoleShowsTheEstimateAndTheMemoryBeforeTheFirstStep() throws Exception {
        TrainerTest.tmp = tmp;
        TrainerTest.prepareCorpus();
        RunConfig cfg = TrainerTest.config("estimate", 4);
        var console = new ByteArrayOutputStream();
        try (RunDirectory run = RunDirectory.create(cfg, new PrintStream(console, true), LocalDateTime.now())) {
            TrainerTest.trainer(cfg, run, null).run();
            String log = Files.readString(run.path().resolve(RunDirectory.CONSOLE_FILE));
            int estimate = log.indexOf("time: "), memory = log.indexOf("memory: ~"), firstStep = log.indexOf("step     0");
            assertTrue(memory >= 0 && estimate > memory && firstStep > estimate, log);
            assertTrue(log.matches("(?s).*time: (at most )?~[0-9.]+ (s|min)/step, (at most )?~[0-9.]+ (s|min) for 4 steps \\(a [1-4]x32 forward\\+backward took .*"), log);
        }
    }

    @Test
    void theEstimateIsNearTheMeasuredStepAndLeavesTheGradientAsItWas() {
        int B = 4, T = 32, accum = 2;
        Gpt model = new Gpt(GptConfig.of(2, 2, 32, 32, 512));
        model.initialize(1);
        int[] tokens = new int[B * T];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (i * 31) % 512;
        // compiled code, as in a run some steps in: a cold JVM's first passes of a model this small are
        // mostly compiling (the estimate errs high there; a large model's passes dwarf it)
        for (int i = 0; i < 50; i++) {
            model.forward(tokens, tokens, B, T);
            model.backward(1f);
        }
        model.zeroGrad();
        StepTime estimate = StepTime.measure(dev.jgpt.model.Engine.cpu(model), B, T, accum);
        assertArrayEquals(new float[model.grads().length], model.grads(), "the timing passes leave no gradient behind");

        double fastest = Double.POSITIVE_INFINITY;
        for (int step = 0; step < 10; step++) {
            long t0 = System.nanoTime();
            for (int micro = 0; micro < accum; micro++) {
                model.forward(tokens, tokens, B, T);
                model.backward(1f / accum);
            }
            fastest = Math.min(fastest, (System.nanoTime() - t0) / 1e9);
        }
        double ratio = estimate.secondsPerStep() / fastest;
        // a shared machine adds noise
        assertTrue(ratio > 0.2 && ratio < 10, "estimated " + estimate.secondsPerStep() + " s/step, measured " + fastest + " s/step");
    }
}
