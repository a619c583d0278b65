package dev.jgpt.cli;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** debug-step, convert and generate as a user runs them: exit codes, output, errors. */
class EngineCommandsTest {
    static final Path TINY = Path.of("src/test/resources/fixtures/tiny");

    record Run(int exit, String out, String err) {
    }

    static Run run(String... args) {
        PrintStream oldOut = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        try {
            System.setOut(new PrintStream(out, true));
            var cl = Main.commandLine();
            cl.setErr(new PrintWriter(err, true));
            int exit = cl.execute(args);
            return new Run(exit, out.toString(), err.toString());
        } finally {
            System.setOut(oldOut);
        }
    }

    @Test
    void debugStepPrintsTheExpectedJson() throws Exception {
        Run r = run("debug-step", "--model", TINY.resolve("model.bin").toString(), "--batch", TINY.resolve("batch.json").toString(),
                "--steps", "3", "--json");
        assertEquals(0, r.exit(), r.err());
        JsonObject o = new Gson().fromJson(r.out(), JsonObject.class);
        JsonObject expected = new Gson().fromJson(Files.readString(TINY.resolve("expected.json")), JsonObject.class);
        assertEquals(expected.get("loss").getAsDouble(), o.get("loss").getAsDouble(), 1e-4);
        assertEquals(3, o.getAsJsonArray("losses").size());
        assertEquals(7, o.getAsJsonArray("logits_row0").size());
        assertEquals(97, o.getAsJsonArray("logits_row0").get(0).getAsJsonArray().size());
        assertTrue(o.getAsJsonObject("grad_norms").has("h.1.mlp.c_proj.weight"));
        assertTrue(o.get("grad_norm").getAsDouble() > 0);
    }

    @Test
    void convertRoundTrips(@TempDir Path tmp) throws Exception {
        Run r = run("convert", "--in", TINY.resolve("hf").toString(), "--out", tmp.resolve("m.bin").toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.size(tmp.resolve("m.bin")) == Files.size(TINY.resolve("model.bin")));
        assertEquals(0, run("convert", "--in", tmp.resolve("m.bin").toString(), "--out", tmp.resolve("hf").toString()).exit());
        Run d = run("debug-step", "--model", tmp.resolve("hf").toString(), "--batch", TINY.resolve("batch.json").toString(),
                "--steps", "0", "--json");
        JsonObject expected = new Gson().fromJson(Files.readString(TINY.resolve("expected.json")), JsonObject.class);
        assertEquals(expected.get("loss").getAsDouble(), new Gson().fromJson(d.out(), JsonObject.class).get("loss").getAsDouble(), 1e-4);
    }

    @Test
    void badInputIsOneLineAndNonZero(@TempDir Path tmp) throws Exception {
        Run missing = run("debug-step", "--model", tmp.resolve("nope").toString(), "--batch", TINY.resolve("batch.json").toString());
        assertEquals(1, missing.exit());
        assertTrue(missing.err().contains("nope") && missing.err().lines().count() == 1, missing.err());

        Path batch = tmp.resolve("b.json");
        Files.writeString(batch, "{\"inputs\": [[1, 2, 3]], \"targets\": [[2, 3]]}");
        Run ragged = run("debug-step", "--model", TINY.resolve("model.bin").toString(), "--batch", batch.toString());
        assertEquals(1, ragged.exit());
        assertTrue(ragged.err().contains("b.json") && ragged.err().contains("row 0"), ragged.err());

        Files.writeString(batch, "{\"inputs\": [[1, 2, 500]], \"targets\": [[2, 3, 4]]}");
        Run range = run("debug-step", "--model", TINY.resolve("model.bin").toString(), "--batch", batch.toString());
        assertEquals(1, range.exit());
        assertTrue(range.err().contains("500") && range.err().contains("vocabulary"), range.err());

        Run option = run("debug-step", "--model", TINY.resolve("model.bin").toString(), "--batch", TINY.resolve("batch.json").toString(), "--bogus");
        assertEquals(2, option.exit());
        assertTrue(option.err().contains("--bogus") && option.err().contains("Usage"), option.err());
    }

    @Test
    void generateStreamsAContinuationInEitherPrecision() {
        // the tiny fixture knows GPT-2's first 97 tokens, single characters: "!" is 0
        for (String dtype : new String[]{"fp32", "bf16"}) {
            Run r = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "!", "--max-tokens", "40",
                    "--temperature", "0", "--ignore-eot", "--dtype", dtype);
            assertEquals(0, r.exit(), r.err());
            // 40 tokens overrun block_size 16, so the context slid at least once
            assertTrue(r.out().startsWith("!") && r.out().strip().length() > 1 + 20, r.out());
            assertTrue(r.err().isEmpty(), r.err()); // the speed line goes to System.err, not picocli's writer
        }
        Run again = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "!", "--max-tokens", "40",
                "--temperature", "0.9", "--seed", "3", "--num-samples", "2");
        assertEquals(0, again.exit(), again.err());
        assertEquals(again.out(), run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "!",
                "--max-tokens", "40", "--temperature", "0.9", "--seed", "3", "--num-samples", "2").out());
    }

    @Test
    void generateRejectsBadOptionsInOneLine() {
        Run dtype = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "!", "--dtype", "fp16");
        assertEquals(1, dtype.exit());
        assertTrue(dtype.err().contains("--dtype") && dtype.err().contains("fp16") && dtype.err().lines().count() == 1, dtype.err());
        Run vocab = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "hello world");
        assertEquals(1, vocab.exit());
        assertTrue(vocab.err().contains("vocabulary"), vocab.err());
    }
}
