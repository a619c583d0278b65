package dev.jgpt.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.jgpt.cli.EngineCommandsTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input from the command line: one line naming the option or file, exit code 1, nothing written. */
class BadInputTest {

    /** One error line on standard error that contains every one of {@code words}. */
    static void assertOneLine(EngineCommandsTest.Run r, String... words) {
        assertEquals(1, r.exit(), r.err() + r.out());
        assertEquals(1, r.err().lines().count(), r.err());
        for (String w : words) assertTrue(r.err().contains(w), "'" + w + "' missing from: " + r.err());
    }

    static Path tinyConfig(Path dir) throws Exception {
        Path yaml = dir.resolve("tiny.yaml");
        Files.writeString(yaml, """
                model: {preset: custom, n_layer: 2, n_head: 2, n_embd: 32, block_size: 64}
                data: {dir: %s, order: sequential}
                train: {total_batch_size: 256, micro_batch_size: 4, seq_len: 64, warmup_steps: 0, max_steps: 2}
                eval: {val_every: 0, sample_every: 0, sample_max_tokens: 32, checkpoint_every: 0}
                log: {runs_dir: %s}
                """.formatted(dir.resolve("no-data"), dir.resolve("runs")));
        return yaml;
    }

    @Test
    void runNamesFollowTheRuleOfLogName(@TempDir Path tmp) throws Exception {
        Path yaml = tinyConfig(tmp);
        for (String name : new String[]{"my run", "", "../x", tmp.resolve("abs").toString(), ".hidden"}) {
            var r = run("train", "-c", yaml.toString(), "--name", name);
            assertOneLine(r, "--name '" + name + "'", "folder name");
        }
        assertFalse(Files.exists(tmp.resolve("runs")), "no run directory is made for a refused name");
        assertFalse(Files.exists(tmp.resolve("x")) || Files.exists(tmp.resolve("abs")));
    }
}
