package dev.jgpt.io;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import dev.jgpt.JgptException;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.bench.DebugStep;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WeightFilesTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");

    @Test
    void hfAndLlmcFilesHoldTheSameWeights() throws IOException {
        for (String f : new String[]{"tiny", "odd_heads", "wider", "vocab128", "long", "accum"}) {
            Gpt hf = ModelFiles.load(FIXTURES.resolve(f).resolve("hf"));
            Gpt bin = ModelFiles.load(FIXTURES.resolve(f).resolve("model.bin"));
            assertEquals(hf.config, bin.config, f);
            assertArrayEquals(hf.params(), bin.params(), f);
        }
    }

    @Test
    void roundTripsThroughBothFormats(@TempDir Path tmp) throws IOException {
        Gpt model = new Gpt(GptConfig.of(2, 3, 24, 10, 77));
        model.initialize(7);
        ModelFiles.save(model, tmp.resolve("m.bin"));
        ModelFiles.save(model, tmp.resolve("hf"));
        assertArrayEquals(model.params(), ModelFiles.load(tmp.resolve("m.bin")).params());
        Gpt back = ModelFiles.load(tmp.resolve("hf"));
        assertEquals(model.config, back.config);
        assertArrayEquals(model.params(), back.params());
        // no temp files left behind
        try (var files = Files.list(tmp)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().contains(".tmp")));
        }
    }

    @Test
    void readsBf16LlmcCheckpoints() throws IOException {
        Path dir = FIXTURES.resolve("tiny");
        JsonObject expected = new Gson().fromJson(Files.readString(dir.resolve("expected_bf16.json")), JsonObject.class);
        Gpt model = ModelFiles.load(dir.resolve("model_bf16.bin"));
        DebugStep.Batch batch = DebugStep.Batch.read(dir.resolve("batch.json"));
        float loss = model.forward(batch.inputs(), batch.targets(), batch.B(), batch.T());
        double want = expected.get("loss").getAsDouble();
        assertTrue(Math.abs(loss - want) <= 1e-5 * want, "bf16 loss " + loss + " vs " + want);
    }

    /** A run's folder without checkpoints says so, also when it was copied without its checkpoints folder; other folders are no model. */
    @Test
    void aRunWithoutCheckpointsSaysSo(@TempDir Path tmp) throws IOException {
        Path run = Files.createDirectories(tmp.resolve("run"));
        Files.writeString(run.resolve("config.yaml"), "train: {max_steps: 5}\n");
        Files.writeString(run.resolve("metrics.jsonl"), "");
        JgptException copied = assertThrows(JgptException.class, () -> ModelFiles.load(run));
        assertEquals(run + ": the run has no checkpoint (its checkpoints folder is missing)", copied.getMessage());
        Files.createDirectories(run.resolve("checkpoints"));
        JgptException early = assertThrows(JgptException.class, () -> ModelFiles.load(run));
        assertEquals(run + ": the run has no checkpoint yet", early.getMessage());
        Path notes = Files.createDirectories(tmp.resolve("notes"));
        Files.writeString(notes.resolve("config.yaml"), "a: 1\n");
        JgptException other = assertThrows(JgptException.class, () -> ModelFiles.load(notes));
        assertTrue(other.getMessage().startsWith(notes + ": not a model"), other.getMessage());
    }

    @Test
    void truncatedLlmcFileIsOneClearError(@TempDir Path tmp) throws IOException {
        byte[] bytes = Files.readAllBytes(FIXTURES.resolve("tiny/model.bin"));
        Path cut = tmp.resolve("cut.bin");
        Files.write(cut, Arrays.copyOf(bytes, bytes.length - 100));
        JgptException e = assertThrows(JgptException.class, () -> ModelFiles.load(cut));
        assertTrue(e.getMessage().contains("cut.bin") && e.getMessage().contains("truncated"), e.getMessage());

        Path bad = tmp.resolve("bad.bin");
        byte[] wrongMagic = bytes.clone();
        wrongMagic[0] = 1;
        Files.write(bad, wrongMagic);
        e = assertThrows(JgptException.class, () -> ModelFiles.load(bad));
        assertTrue(e.getMessage().contains("magic"), e.getMessage());
    }

    @Test
    void truncatedSafetensorsIsOneClearError(@TempDir Path tmp) throws IOException {
        Path dir = copyHf(tmp);
        Path st = dir.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(st);
        Files.write(st, Arrays.copyOf(bytes, bytes.length - 10));
        JgptException e = assertThrows(JgptException.class, () -> ModelFiles.load(dir));
        assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void missingTensorAndWrongShapeNameTheTensor(@TempDir Path tmp) throws IOException {
        Path dir = copyHf(tmp);
        Path st = dir.resolve("model.safetensors");
        rewriteHeader(st, "\"h.1.ln_2.bias\"", "\"h.1.ln_2.zzzz\"");
        JgptException e = assertThrows(JgptException.class, () -> ModelFiles.load(dir));
        assertTrue(e.getMessage().contains("missing tensor h.1.ln_2.bias"), e.getMessage());

        Path dir2 = copyHf(tmp.resolve("b"));
        // claim the 32-wide ln_f is [16, 2]: same bytes, wrong shape
        rewriteHeader(dir2.resolve("model.safetensors"), "\"ln_f.weight\":{\"dtype\":\"F32\",\"shape\":[32]",
                "\"ln_f.weight\":{\"dtype\":\"F32\",\"shape\":[16,2]");
        e = assertThrows(JgptException.class, () -> ModelFiles.load(dir2));
        assertTrue(e.getMessage().contains("ln_f.weight") && e.getMessage().contains("expected shape [32]")
                && e.getMessage().contains("found [16, 2]"), e.getMessage());
    }

    private static Path copyHf(Path tmp) throws IOException {
        Path dir = tmp.resolve("hf");
        Files.createDirectories(dir);
        for (String f : new String[]{"config.json", "model.safetensors"}) {
            Files.copy(FIXTURES.resolve("tiny/hf").resolve(f), dir.resolve(f));
        }
        return dir;
    }

    /** Replaces text in a safetensors header, keeping its length field right. */
    private static void rewriteHeader(Path file, String from, String to) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8).replace(" ", "");
        String compact = header.replaceAll("\\s", "");
        if (!compact.contains(from)) throw new AssertionError("header lacks " + from + ": " + compact);
        byte[] h = compact.replace(from, to).getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 8 + 7) / 8 * 8 - 8;
        byte[] out = new byte[8 + padded + bytes.length - 8 - (int) n];
        ByteBuffer.wrap(out, 0, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
        System.arraycopy(h, 0, out, 8, h.length);
        Arrays.fill(out, 8 + h.length, 8 + padded, (byte) ' ');
        System.arraycopy(bytes, 8 + (int) n, out, 8 + padded, bytes.length - 8 - (int) n);
        Files.write(file, out);
    }
}
