package dev.jgpt.cli;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import dev.jgpt.eval.Sampler;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.kernels.Bf16;
import dev.jgpt.model.Gpt;
import dev.jgpt.tensor.View;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** debug-step, convert and generate as a user runs them: exit codes, output, errors. */
class EngineCommandsTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");
    static final Path TINY = FIXTURES.resolve("tiny");

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
    void versionIsTheBuildsTheOneEachRunRecords() {
        Run r = run("--version");
        assertEquals(0, r.exit());
        assertEquals("jgpt " + dev.jgpt.track.RunRecord.version() + "\n", r.out());
        assertTrue(r.out().matches("jgpt \\d+\\.\\d+\\.\\d+.*\n"), r.out()); // stamped by the build, not "unknown"
    }

    @Test
    void generatePrintsTheSeedItDrewOnlyWhenItSamples() {
        java.io.PrintStream oldErr = System.err;
        for (String temperature : new String[]{"0", "1"}) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            try {
                System.setErr(new PrintStream(err, true));
                Run r = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "!", "--max-tokens", "2",
                        "--temperature", temperature);
                assertEquals(0, r.exit(), r.err());
            } finally {
                System.setErr(oldErr);
            }
            boolean seedLine = err.toString().lines().anyMatch(l -> l.matches("seed -?\\d+"));
            assertEquals(!temperature.equals("0"), seedLine, "temperature " + temperature + ":\n" + err);
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
        for (int i = 0; i < 3; i++) {
            assertEquals(expected.getAsJsonArray("losses").get(i).getAsDouble(), o.getAsJsonArray("losses").get(i).getAsDouble(), 1e-4);
        }
        assertEquals(7, o.getAsJsonArray("logits_row0").size());
        assertEquals(97, o.getAsJsonArray("logits_row0").get(0).getAsJsonArray().size());
        assertEquals(expected.getAsJsonObject("grad_norms").keySet(), o.getAsJsonObject("grad_norms").keySet());
        assertEquals(expected.get("grad_norm").getAsDouble(), o.get("grad_norm").getAsDouble(), 1e-4);
    }

    @Test
    void debugStepAccumulatesMicroBatches() throws Exception {
        Path accum = FIXTURES.resolve("accum");
        JsonObject expected = new Gson().fromJson(Files.readString(accum.resolve("expected.json")), JsonObject.class);
        Run r = run("debug-step", "--model", accum.resolve("model.bin").toString(), "--batch", accum.resolve("batch.json").toString(),
                "--steps", "2", "--micro-batches", "2", "--json");
        assertEquals(0, r.exit(), r.err());
        JsonObject o = new Gson().fromJson(r.out(), JsonObject.class);
        for (String key : new String[]{"loss", "grad_norm"}) {
            double want = expected.get(key).getAsDouble();
            assertEquals(want, o.get(key).getAsDouble(), 1e-5 * want, key);
        }
        double step1 = expected.getAsJsonArray("losses").get(1).getAsDouble();
        assertEquals(step1, o.getAsJsonArray("losses").get(1).getAsDouble(), 1e-5 * step1);

        Run uneven = run("debug-step", "--model", accum.resolve("model.bin").toString(), "--batch", accum.resolve("batch.json").toString(),
                "--micro-batches", "3");
        assertEquals(1, uneven.exit());
        assertEquals("jgpt debug-step: --micro-batches 3 does not divide the 4 rows of " + accum.resolve("batch.json"),
                uneven.err().strip());
    }

    /** convert writes what PyTorch wrote: the llm.c file byte for byte, the safetensors tensor for tensor. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"tiny", "odd_heads", "wider", "vocab128", "long", "accum"})
    void convertWritesWhatPyTorchWrote(String fixture, @TempDir Path tmp) throws Exception {
        Path dir = FIXTURES.resolve(fixture);
        Run toBin = run("convert", "--in", dir.resolve("hf").toString(), "--out", tmp.resolve("m.bin").toString());
        assertEquals(0, toBin.exit(), toBin.err());
        assertArrayEquals(Files.readAllBytes(dir.resolve("model.bin")), Files.readAllBytes(tmp.resolve("m.bin")));

        Run toHf = run("convert", "--in", dir.resolve("model.bin").toString(), "--out", tmp.resolve("hf").toString());
        assertEquals(0, toHf.exit(), toHf.err());
        Map<String, StoredTensor> want = SafetensorsFile.read(dir.resolve("hf/model.safetensors"));
        Map<String, StoredTensor> got = SafetensorsFile.read(tmp.resolve("hf/model.safetensors"));
        // odd_heads is an old-style checkpoint: a "transformer." prefix, an lm_head copy of wte and the
        // attention mask buffers, none of them parameters
        Map<String, StoredTensor> parameters = new TreeMap<>();
        want.forEach((name, t) -> {
            if (!name.equals("lm_head.weight") && !name.endsWith(".attn.bias")) parameters.put(name.replaceFirst("^transformer\\.", ""), t);
        });
        assertEquals(parameters.keySet(), new TreeMap<>(got).keySet());
        for (var e : parameters.entrySet()) {
            StoredTensor g = got.get(e.getKey());
            assertEquals(e.getValue().dtype() + " " + Arrays.toString(e.getValue().shape()), g.dtype() + " " + Arrays.toString(g.shape()), e.getKey());
            assertArrayEquals(e.getValue().bytes(), g.bytes(), e.getKey());
        }
        JsonObject wantConfig = new Gson().fromJson(Files.readString(dir.resolve("hf/config.json")), JsonObject.class);
        JsonObject gotConfig = new Gson().fromJson(Files.readString(tmp.resolve("hf/config.json")), JsonObject.class);
        for (String key : new String[]{"model_type", "n_layer", "n_head", "n_embd", "n_positions", "vocab_size", "activation_function"}) {
            assertEquals(wantConfig.get(key), gotConfig.get(key), key);
        }
        assertEquals(wantConfig.get("layer_norm_epsilon").getAsDouble(), gotConfig.get("layer_norm_epsilon").getAsDouble());
    }

    record StoredTensor(String dtype, int[] shape, byte[] bytes) {
    }

    /** A safetensors reader of its own: header, then each tensor's bytes, contiguous and nothing after. */
    static final class SafetensorsFile {
        static Map<String, StoredTensor> read(Path file) throws IOException {
            byte[] all = Files.readAllBytes(file);
            long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            JsonObject header = new Gson().fromJson(new String(all, 8, (int) n, StandardCharsets.UTF_8), JsonObject.class);
            int body = 8 + (int) n;
            Map<String, StoredTensor> out = new TreeMap<>();
            long covered = 0;
            for (var e : header.entrySet()) {
                if (e.getKey().equals("__metadata__")) continue;
                JsonObject t = e.getValue().getAsJsonObject();
                long begin = t.getAsJsonArray("data_offsets").get(0).getAsLong(), end = t.getAsJsonArray("data_offsets").get(1).getAsLong();
                int[] shape = new Gson().fromJson(t.get("shape"), int[].class);
                long elements = 1;
                for (int d : shape) elements *= d;
                assertEquals(4 * elements, end - begin, file + ": " + e.getKey() + " size");
                covered += end - begin;
                out.put(e.getKey(), new StoredTensor(t.get("dtype").getAsString(), shape,
                        Arrays.copyOfRange(all, body + (int) begin, body + (int) end)));
            }
            assertEquals(all.length - body, covered, file + ": the tensors cover the data section exactly");
            return out;
        }
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
        assertEquals("jgpt debug-step: " + batch + ": \"inputs\" row 0 column 2: id 500 is outside the model's vocabulary [0, 97)",
                range.err().strip());

        // Ids are read exactly: no narrowing to int, no truncated fractions, no empty rows.
        String[][] bad = {
                {"[[1, 2, 4294967301]]", "[[2, 3, 4]]", "\"inputs\" row 0 column 2: 4294967301 is not a token id"},
                {"[[1, 2, 3], [4, 5, 99999999999]]", "[[2, 3, 4], [5, 6, 7]]", "\"inputs\" row 1 column 2: 99999999999 is not a token id"},
                {"[[1, 2, 2.5]]", "[[2, 3, 4]]", "\"inputs\" row 0 column 2: 2.5 is not an integer token id"},
                {"[[1, 2, \"3\"]]", "[[2, 3, 4]]", "\"inputs\" row 0 column 2: \"3\" is not an integer token id"},
                {"[[1, -1, 3]]", "[[2, 3, 4]]", "\"inputs\" row 0 column 1: -1 is not a token id (ids are 0 or more)"},
                {"[[1, 2, 3]]", "[[2, -2, 4]]", "\"targets\" row 0 column 1: -2 is not a token id (ids are 0 or more, or -1 to ignore"},
                {"[[]]", "[[]]", "\"inputs\" row 0 is empty"},
                {"[[1, 2, 3]]", "[[2, 3, 97]]", "\"targets\" row 0 column 2: id 97 is outside the model's vocabulary [0, 97)"},
                {"[[1, 2, 3]]", "[1, 2, 3]", "\"targets\" row 0 is not a list of ids: 1"},
        };
        for (String[] c : bad) {
            Files.writeString(batch, "{\"inputs\": " + c[0] + ", \"targets\": " + c[1] + "}");
            Run r = run("debug-step", "--model", TINY.resolve("model.bin").toString(), "--batch", batch.toString(), "--steps", "0");
            assertEquals(1, r.exit(), c[0] + " " + r.out());
            assertTrue(r.err().startsWith("jgpt debug-step: " + batch + ": " + c[2]) && r.err().strip().lines().count() == 1, r.err());
        }
        // valid JSON that is not an object says what a batch is, not which parser class it wanted
        for (String notAnObject : new String[] {"[[1, 2, 3]]", "42", "{\"inputs\": [[1, 2, 3]]}"}) {
            Files.writeString(batch, notAnObject);
            Run r = run("debug-step", "--model", TINY.resolve("model.bin").toString(), "--batch", batch.toString(), "--steps", "0");
            assertEquals("jgpt debug-step: " + batch + ": expected an object with \"inputs\" and \"targets\" (B rows of T ids each)",
                    r.err().strip(), notAnObject);
        }
        Files.writeString(batch, "{\"inputs\": [[1, 2, 3]], \"targets\": [[2, -1, 4]]}");
        assertEquals(0, run("debug-step", "--model", TINY.resolve("model.bin").toString(), "--batch", batch.toString(), "--steps", "0").exit());
        Run dir = run("debug-step", "--model", TINY.resolve("model.bin").toString(), "--batch", tmp.toString());
        assertEquals("jgpt debug-step: " + tmp + ": is a directory, not a batch file", dir.err().strip());

        Run option = run("debug-step", "--model", TINY.resolve("model.bin").toString(), "--batch", TINY.resolve("batch.json").toString(), "--bogus");
        assertEquals(2, option.exit());
        assertTrue(option.err().contains("--bogus") && option.err().contains("Usage"), option.err());
    }

    @Test
    void greedyGenerateIsTheArgmaxOfTheFullForwardAtEveryStep() throws IOException {
        // the tiny fixture knows GPT-2's first 97 tokens, single characters: "!" is 0
        for (String dtype : new String[]{"fp32", "bf16"}) {
            Run r = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "!", "--max-tokens", "40",
                    "--temperature", "0", "--ignore-eot", "--dtype", dtype);
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.err().isEmpty(), r.err()); // the speed line goes to System.err, not picocli's writer
            Gpt model = ModelFiles.load(TINY.resolve("hf"));
            if (dtype.equals("bf16")) roundMatricesToBf16(model);
            // 40 tokens overrun block_size 16, so the context slides twice
            String want = "!" + Gpt2Tokenizer.get().decode(greedy(model, new int[]{0}, 40)) + System.lineSeparator();
            assertEquals(want, r.out(), dtype);
        }
        Run again = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "!", "--max-tokens", "40",
                "--temperature", "0.9", "--seed", "3", "--num-samples", "2");
        assertEquals(0, again.exit(), again.err());
        assertEquals(again.out(), run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "!",
                "--max-tokens", "40", "--temperature", "0.9", "--seed", "3", "--num-samples", "2").out());
    }

    /**
     * Greedy decoding without a key/value cache: the whole window's forward at every step, the window
     * sliding as generate's does (when it holds block_size tokens, it restarts from the last half).
     */
    static int[] greedy(Gpt model, int[] prompt, int n) {
        int block = model.config.blockSize(), Vp = model.config.paddedVocabSize();
        int V = Math.min(model.config.vocabSize(), Gpt2Tokenizer.VOCAB_SIZE);
        int[] tokens = Arrays.copyOf(prompt, prompt.length + n);
        int length = prompt.length, start = 0;
        for (int i = 0; i < n; i++) {
            int T = length - start;
            model.forward(Arrays.copyOfRange(tokens, start, length), null, 1, T);
            tokens[length++] = Sampler.argmax(model.logits(), (T - 1) * Vp, V);
            if (length - 1 - start == block) start = length - Math.max(1, block / 2);
        }
        return Arrays.copyOfRange(tokens, prompt.length, length);
    }

    /** The weights generate --dtype bf16 reads: every matrix rounded to bfloat16. */
    static void roundMatricesToBf16(Gpt model) {
        float[] p = model.params();
        for (View v : model.layout.layout.views()) {
            if (v.rank() < 2) continue;
            for (int i = v.start(); i < v.end(); i++) p[i] = Bf16.toFloat(Bf16.round(p[i]));
        }
    }

    @Test
    void generateRejectsBadOptionsInOneLine() {
        Run dtype = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "!", "--dtype", "fp16");
        assertEquals(1, dtype.exit());
        assertTrue(dtype.err().contains("--dtype") && dtype.err().contains("fp16") && dtype.err().lines().count() == 1, dtype.err());
        Run vocab = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt", "hello world");
        assertEquals(1, vocab.exit());
        assertTrue(vocab.err().contains("vocabulary"), vocab.err());
        Run folder = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt-file", TINY.toString());
        assertEquals(1, folder.exit());
        assertEquals("jgpt generate: --prompt-file " + TINY + ": is a directory, not a text file", folder.err().strip());
        Path missing = TINY.resolve("no-such-prompt.txt");
        Run absent = run("generate", "--model", TINY.resolve("hf").toString(), "--prompt-file", missing.toString());
        assertEquals(1, absent.exit());
        assertEquals("jgpt generate: --prompt-file " + missing + ": no such file", absent.err().strip());
    }

    /** --prompt-file - reads standard input, and a pipe (/dev/stdin, a shell's <(...)) is read like a file, not called missing. */
    @Test
    void generateReadsThePromptFromStandardInputOrAPipe(@TempDir Path tmp) throws Exception {
        String model = TINY.resolve("hf").toString();
        String[] greedy = {"--temperature", "0", "--max-tokens", "8"};
        Run given = run(concat(new String[]{"generate", "--model", model, "--prompt", "!#"}, greedy));
        assertEquals(0, given.exit(), given.err());

        var oldIn = System.in;
        Run stdin;
        try {
            System.setIn(new java.io.ByteArrayInputStream("!#".getBytes(StandardCharsets.UTF_8)));
            stdin = run(concat(new String[]{"generate", "--model", model, "--prompt-file", "-"}, greedy));
        } finally {
            System.setIn(oldIn);
        }
        assertEquals(given, stdin);

        Path fifo = tmp.resolve("prompt.fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        Thread writer = Thread.ofPlatform().start(() -> {
            try {
                Files.writeString(fifo, "!#");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Run pipe = run(concat(new String[]{"generate", "--model", model, "--prompt-file", fifo.toString()}, greedy));
        writer.join();
        assertEquals(given, pipe);
    }

    static String[] concat(String[] a, String[] b) {
        String[] ab = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, ab, a.length, b.length);
        return ab;
    }

    /** An output path under a file names that file and the option, for every command that writes one, before any work. */
    @Test
    void anOutputUnderAFileNamesTheFile(@TempDir Path tmp) throws IOException {
        Path file = Files.writeString(tmp.resolve("notes.txt"), "mine\n");
        String model = TINY.resolve("model.bin").toString(), text = Files.writeString(tmp.resolve("t.txt"), "text\n".repeat(500)).toString();
        String[][] commands = {
                {"prepare", "--source", text, "--out", file.resolve("shards").toString()},
                {"convert", "--in", model, "--out", file.resolve("hf").toString()},
                {"convert", "--in", model, "--out", file.resolve("m.bin").toString()},
                {"download", "hellaswag", "--out", file.resolve("hs").toString()}};
        for (String[] command : commands) {
            Run r = run(command);
            assertEquals(1, r.exit(), String.join(" ", command));
            assertEquals("jgpt " + command[0] + ": --out " + command[command.length - 1] + ": " + file.toAbsolutePath()
                    + " is a file, not a folder\n", r.err());
        }
        assertEquals("mine\n", Files.readString(file));
    }
}
