package dev.jgpt.cli;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.jgpt.cli.EngineCommandsTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bench commands as compare.sh runs them: one JSON object with the keys it reads, values in a
 * sane range. (Their speed is reported, never asserted.) One short run of GPT-2 124M each.
 */
class BenchCommandTest {
    private static JsonObject json(EngineCommandsTest.Run r) {
        assertEquals(0, r.exit(), r.err());
        String last = r.out().strip().lines().reduce((a, b) -> b).orElse("");
        return new Gson().fromJson(last, JsonObject.class);
    }

    @Test
    void trainPrintsStepTimeThroughputAndMfu() {
        JsonObject o = json(run("bench", "train", "--steps", "1", "--warmup", "0", "--batch", "1", "--seq", "16", "--json"));
        assertEquals("gpt2", o.get("model").getAsString());
        assertTrue(o.get("ms_per_step").getAsDouble() > 0);
        assertEquals(16 / (o.get("ms_per_step").getAsDouble() / 1000), o.get("tokens_per_s").getAsDouble(), 0.5);
        double mfu = o.get("mfu").getAsDouble();
        assertTrue(mfu > 0 && mfu < 1.2, "mfu " + mfu);
        // a fresh GPT-2 predicts about uniformly: ln(50257) = 10.8, a little above at GPT-2's init
        assertEquals(10.9, o.get("initial_loss").getAsDouble(), 0.3);
    }

    @Test
    void trainProfileTimesEveryOperationOfTheStep() {
        JsonObject o = json(run("bench", "train", "--steps", "1", "--warmup", "0", "--batch", "1", "--seq", "16", "--profile", "--json"));
        JsonObject ops = o.getAsJsonObject("profile_ms_per_step");
        java.util.List<String> expected = new java.util.ArrayList<>(java.util.List.of("encoder", "attention", "gelu", "residual",
                "crossEntropy", "zero", "crossEntropyBackward", "attentionBackward", "geluBackward", "encoderBackward", "gradient norm",
                "AdamW", "rest"));
        for (String w : new String[]{"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj", "wte"}) {
            expected.add("matmul " + w);
            expected.add("matmulBackward " + w);
        }
        for (String ln : new String[]{"ln_1", "ln_2", "ln_f"}) {
            expected.add("layernorm " + ln);
            expected.add("layernormBackward " + ln);
        }
        assertEquals(new java.util.TreeSet<>(expected), new java.util.TreeSet<>(ops.keySet()));
        double sum = 0;
        for (String op : ops.keySet()) {
            assertTrue(ops.get(op).getAsDouble() >= 0, op + ": " + ops.get(op));
            sum += ops.get(op).getAsDouble();
        }
        // the operations and the rest are the whole profiled step
        assertEquals(o.get("profiled_ms_per_step").getAsDouble(), sum, 0.2);
    }

    @Test
    void generatePrintsTokensPerSecondInEitherPrecision() {
        for (String dtype : new String[]{"bf16", "fp32"}) {
            JsonObject o = json(run("bench", "generate", "--prompt-tokens", "3", "--new-tokens", "3", "--dtype", dtype, "--json"));
            assertEquals(dtype, o.get("dtype").getAsString());
            assertTrue(o.get("cache").getAsBoolean());
            assertTrue(o.get("tokens_per_s").getAsDouble() > 0 && o.get("prefill_ms").getAsDouble() > 0);
        }
        JsonObject noCache = json(run("bench", "generate", "--prompt-tokens", "3", "--new-tokens", "2", "--no-cache", "--json"));
        assertTrue(!noCache.get("cache").getAsBoolean());
    }

    @Test
    void badValuesAreOneLineAndNonZero() {
        EngineCommandsTest.Run batch = run("bench", "train", "--batch", "0");
        assertEquals(1, batch.exit());
        assertTrue(batch.err().contains("--batch") && batch.err().lines().count() == 1, batch.err());
        EngineCommandsTest.Run seq = run("bench", "train", "--seq", "2048");
        assertEquals(1, seq.exit());
        assertTrue(seq.err().contains("1024"), seq.err());
        EngineCommandsTest.Run kernelsSeq = run("bench", "kernels", "--batch", "1", "--seq", "1100");
        assertEquals(1, kernelsSeq.exit());
        assertEquals("jgpt bench kernels: --seq 1100 exceeds the model's block size 1024", kernelsSeq.err().strip());
        EngineCommandsTest.Run none = run("bench");
        assertEquals(2, none.exit());
        assertEquals("", none.out());
        assertTrue(none.err().startsWith("name a benchmark: train, generate, kernels, peak or allreduce")
                && none.err().contains("Usage: jgpt bench"), none.err());
        EngineCommandsTest.Run dtype = run("bench", "generate", "--dtype", "fp64");
        assertEquals(1, dtype.exit());
        assertTrue(dtype.err().contains("--dtype"), dtype.err());
        EngineCommandsTest.Run preset = run("bench", "train", "--model", "gpt5");
        assertEquals(1, preset.exit());
        assertTrue(preset.err().contains("gpt5"), preset.err());
        EngineCommandsTest.Run device = run("bench", "train", "--device", "tpu");
        assertEquals(1, device.exit());
        assertTrue(device.err().contains("--device must be cpu or cuda, got tpu"), device.err());
        EngineCommandsTest.Run generateDevice = run("bench", "generate", "--device", "tpu");
        assertEquals(1, generateDevice.exit());
        assertTrue(generateDevice.err().contains("--device must be cpu or cuda, got tpu"), generateDevice.err());
        EngineCommandsTest.Run gpuBf16 = run("bench", "generate", "--device", "cuda", "--dtype", "bf16");
        assertEquals(1, gpuBf16.exit());
        assertEquals(1, gpuBf16.err().strip().lines().count(), gpuBf16.err());
        assertTrue(gpuBf16.err().contains("--dtype bf16: the GPU decoder (--device cuda) runs fp32 only"), gpuBf16.err());
    }

    @Test
    void generateOnTheGpuWithoutOneSaysWhyInOneLine() {
        String why = dev.jgpt.cuda.Cuda.unavailableReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(why != null, "a GPU is here: the GPU decoder runs in cuda parity");
        EngineCommandsTest.Run r = run("bench", "generate", "--device", "cuda");
        assertEquals(1, r.exit());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("jgpt bench generate: ") && r.err().contains(why), r.err());
    }

    @Test
    void trainOnTheGpuWithoutOneSaysWhyInOneLine() {
        String why = dev.jgpt.cuda.Cuda.unavailableReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(why != null, "a GPU is here: the GPU benchmark runs in the device check");
        EngineCommandsTest.Run r = run("bench", "train", "--device", "cuda", "--steps", "1", "--warmup", "0");
        assertEquals(1, r.exit());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("jgpt bench train: ") && r.err().contains(why), r.err());
    }

    /**
     * compare.sh stops at a failed side with that side's error and a non-zero exit, rather than print
     * a table with one side empty. Both sides are stand-ins here: the script's logic is what is tested.
     */
    @Test
    void compareStopsWhenEitherSideFails(@TempDir Path tmp) throws Exception {
        Path jgpt = script(tmp.resolve("jgpt"), """
                if [ "$3" = --help ]; then echo "Usage: jgpt bench $2"; exit 0; fi
                if [ -n "${JGPT_FAILS:-}" ]; then echo "jgpt bench train: --batch must be >= 1, got 0" >&2; exit 1; fi
                echo '{"tokens_per_s": 100.0, "ms_per_step": 10.0}'
                """);
        Path python = script(tmp.resolve("python"), """
                case "$1" in
                  -c) exit 0 ;;                                    # import torch
                  *torch_bench.py)
                    [ "$2" = check ] && { echo '{"blas": "openblas"}'; exit 0; }
                    touch "$(dirname "$0")/torch-ran"
                    [ -n "${TORCH_FAILS:-}" ] && { echo "torch_bench: broken" >&2; exit 3; }
                    echo '{"tokens_per_s": 50.0}' ;;
                  *) exit 0 ;;                                     # the table
                esac
                """);
        EngineCommandsTest.Run jgptFails = compare(jgpt, python, "JGPT_FAILS");
        assertEquals(1, jgptFails.exit(), jgptFails.err());
        assertTrue(jgptFails.err().contains("jgpt bench train: --batch must be >= 1, got 0"), jgptFails.err());
        assertEquals("", jgptFails.out());
        assertFalse(Files.exists(tmp.resolve("torch-ran")), "PyTorch ran after jgpt failed");

        EngineCommandsTest.Run torchFails = compare(jgpt, python, "TORCH_FAILS");
        assertEquals(1, torchFails.exit(), torchFails.err());
        assertTrue(torchFails.err().contains("torch_bench: broken") && torchFails.err().contains("torch_bench.py train failed"),
                torchFails.err());

        EngineCommandsTest.Run ok = compare(jgpt, python, "NOTHING");
        assertEquals(0, ok.exit(), ok.err());
    }

    /** The PyTorch peer refuses the sizes jgpt's bench refuses, instead of timing nothing or printing a NaN loss. */
    @Test
    void thePyTorchPeerRefusesSizesBelowOne() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/python3")), "no /usr/bin/python3");
        for (String[] args : new String[][]{{"train", "--batch", "0"}, {"train", "--seq", "-3"}, {"generate", "--new-tokens", "0"}}) {
            List<String> command = new java.util.ArrayList<>(List.of("/usr/bin/python3", "tools/bench/torch_bench.py"));
            command.addAll(List.of(args));
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(2, p.waitFor(), out);
            assertTrue(out.strip().endsWith(args[1] + " must be >= 1, got " + args[2]), out);
        }
    }

    private static Path script(Path file, String body) throws IOException {
        Files.writeString(file, "#!/usr/bin/env bash\n" + body);
        assertTrue(file.toFile().setExecutable(true));
        return file;
    }

    private static EngineCommandsTest.Run compare(Path jgpt, Path python, String failing) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("tools/bench/compare.sh", "train", "--batch", "0", "--threads", "1");
        pb.environment().put("JGPT", jgpt.toString());
        pb.environment().put("PYTHON", python.toString());
        pb.environment().put(failing, "1");
        Process p = pb.start();
        p.getOutputStream().close();
        var err = p.getErrorStream().readAllBytes();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return new EngineCommandsTest.Run(p.exitValue(), out, new String(err, StandardCharsets.UTF_8));
    }
}
