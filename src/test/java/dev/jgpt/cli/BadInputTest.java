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

    @Test
    void aConfigThatIsAFolderOrMissingIsNamedAsSuch(@TempDir Path tmp) throws Exception {
        assertOneLine(run("train", "-c", tmp.toString()), "jgpt train: --config " + tmp + ": is a directory, not a config file");
        assertOneLine(run("train", "-c", tmp.resolve("none.yaml").toString()),
                "jgpt train: --config " + tmp.resolve("none.yaml") + ": no such file, and not a built-in preset");
    }

    @Test
    void aRunThatCannotFitInTheHeapIsRefusedBeforeItAllocates(@TempDir Path tmp) throws Exception {
        // 4000 layers of 32768-token micro-batches keep about 200 GB of activations: more than any heap
        var r = run("train", "-c", tinyConfig(tmp).toString(), "--set", "model.n_layer=4000", "--set", "train.micro_batch_size=512",
                "--set", "train.total_batch_size=32768");
        assertOneLine(r, "the run needs about", "GB of memory but the heap is", "activations", "train.micro_batch_size");
        assertFalse(Files.exists(tmp.resolve("runs")), "nothing is created for a run that cannot fit");
    }

    @Test
    void trainingOnADeviceThatIsNotThereSaysSoInOneLineAndLeavesNoRun(@TempDir Path tmp) throws Exception {
        Path yaml = tinyConfig(tmp);
        assertOneLine(run("train", "-c", yaml.toString(), "--set", "train.device=tpu"), "train.device", "tpu", "auto", "cpu", "cuda");
        String why = dev.jgpt.cuda.Cuda.unavailableReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(why != null, "a GPU is here: train.device cuda trains");
        assertOneLine(run("train", "-c", yaml.toString(), "--set", "train.device=cuda"), "jgpt train: " + why);
        assertFalse(Files.exists(tmp.resolve("runs")), "no run directory is made when the device is refused");
    }

    @Test
    void generateStreamsWithTheLargestMaxTokens() {
        // the buffer of generated tokens was sized by --max-tokens (2^31 - 1 overflowed it); now it is a window,
        // so generation starts and runs until it is stopped: here by an output that takes 200 bytes only
        java.io.PrintStream old = System.out;
        java.io.ByteArrayOutputStream taken = new java.io.ByteArrayOutputStream();
        final class Full extends RuntimeException {
        }
        System.setOut(new java.io.PrintStream(new java.io.OutputStream() {
            @Override
            public void write(int b) {
                if (taken.size() >= 200) throw new Full();
                taken.write(b);
            }
        }, true));
        java.io.StringWriter err = new java.io.StringWriter();
        try {
            var cl = Main.commandLine();
            cl.setErr(new java.io.PrintWriter(err, true));
            cl.execute("generate", "--model", EngineCommandsTest.TINY.resolve("hf").toString(), "--prompt", "!",
                    "--max-tokens", "2147483647", "--ignore-eot", "--seed", "1");
        } finally {
            System.setOut(old);
        }
        assertEquals(200, taken.size(), "the tokens were streamed: " + err);
        assertTrue(err.toString().contains(Full.class.getName()), "stopped by the full output only: " + err);
    }

    @Test
    void helpTextsHaveNoFormatWarnings() {
        java.io.PrintStream oldErr = System.err, oldOut = System.out;
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        try {
            System.setErr(new java.io.PrintStream(err, true));
            System.setOut(new java.io.PrintStream(new java.io.ByteArrayOutputStream(), true));
            for (String cmd : Main.commandLine().getSubcommands().keySet()) {
                assertEquals(0, Main.commandLine().execute(cmd, "--help"), cmd);
            }
            for (String cmd : new String[]{"train", "generate", "kernels", "peak"}) {
                assertEquals(0, Main.commandLine().execute("bench", cmd, "--help"), "bench " + cmd);
            }
        } finally {
            System.setErr(oldErr);
            System.setOut(oldOut);
        }
        assertFalse(err.toString().contains("WARN"), err.toString());
    }

    @Test
    void subcommandErrorsNameTheCommandAsTyped() {
        assertOneLine(run("bench", "train", "--threads", "-1"), "jgpt bench train: --threads");
        assertTrue(run("bench", "train", "--threads", "-1").err().startsWith("jgpt bench train: "));
        assertTrue(run("generate", "--prompt", "x").err().startsWith("jgpt generate: "));
    }

    @Test
    void hellaSwagOnAModelWithoutGpt2sVocabularyIsRefusedUpFront(@TempDir Path tmp) {
        // the tiny model has 97 token ids; HellaSwag's text is GPT-2 tokens, up to 50256
        Path items = Path.of("src/test/resources/hellaswag/hellaswag_val_head10.jsonl");
        Path hf = EngineCommandsTest.TINY.resolve("hf");
        var r = run("eval", "--model", hf.toString(), "--hellaswag", items.toString());
        assertOneLine(r, "--hellaswag", "needs a model with GPT-2's vocabulary; this model's vocab_size is 97", hf.toString());
        assertTrue(r.out().isEmpty(), r.out());
    }

    @Test
    void evalOnADeviceThatIsNotThereSaysSoInOneLine() {
        String hf = EngineCommandsTest.TINY.resolve("hf").toString(), items = "src/test/resources/hellaswag/hellaswag_val_head10.jsonl";
        assertOneLine(run("eval", "--model", hf, "--hellaswag", items, "--device", "tpu"), "jgpt eval: --device must be cpu or cuda, got tpu");
        String why = dev.jgpt.cuda.Cuda.unavailableReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(why != null, "a GPU is here: eval --device cuda runs");
        assertOneLine(run("eval", "--model", hf, "--hellaswag", items, "--device", "cuda"), "jgpt eval: " + why);
    }

    @Test
    void decodingOnADeviceThatIsNotThereSaysSoInOneLine() {
        String hf = EngineCommandsTest.TINY.resolve("hf").toString();
        assertOneLine(run("generate", "--model", hf, "--prompt", "!", "--device", "tpu"), "jgpt generate: --device must be cpu or cuda, got tpu");
        assertOneLine(run("serve", "--model", hf, "--device", "tpu"), "jgpt serve: --device must be cpu or cuda, got tpu");
        // the GPU decoder is fp32 only: bf16 is refused before any GPU is looked for
        assertOneLine(run("generate", "--model", hf, "--prompt", "!", "--device", "cuda", "--dtype", "bf16"),
                "jgpt generate: --dtype bf16: the GPU decoder (--device cuda) runs fp32 only");
        assertOneLine(run("serve", "--model", hf, "--device", "cuda", "--dtype", "bf16"), "jgpt serve: --dtype bf16", "fp32 only");
        String why = dev.jgpt.cuda.Cuda.unavailableReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(why != null, "a GPU is here: generate --device cuda runs");
        assertOneLine(run("generate", "--model", hf, "--prompt", "!", "--device", "cuda"), "jgpt generate: " + why);
        assertOneLine(run("generate", "--model", hf, "--prompt", "!", "--device", "cuda", "--dtype", "fp32"), "jgpt generate: " + why);
        assertOneLine(run("serve", "--model", hf, "--device", "cuda"), "jgpt serve: " + why);
    }

    @Test
    void aFullDiskNamesTheFileAndTheReason(@TempDir Path tmp) throws Exception {
        Path devFull = Path.of("/dev/full"); // writes to it fail with ENOSPC, as on a full disk
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(devFull), "needs Linux's /dev/full");
        // convert writes m.bin through a temporary file beside it, named after this process
        Path out = tmp.resolve("m.bin");
        Files.createSymbolicLink(tmp.resolve(".m.bin.tmp" + ProcessHandle.current().pid()), devFull);
        var r = run("convert", "--in", EngineCommandsTest.TINY.resolve("hf").toString(), "--out", out.toString());
        assertOneLine(r);
        assertEquals("jgpt convert: " + out + ": cannot write: No space left on device", r.err().strip());
        assertFalse(Files.exists(out));
    }
}
