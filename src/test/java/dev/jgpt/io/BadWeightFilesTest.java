package dev.jgpt.io;

import dev.jgpt.JgptException;
import dev.jgpt.model.GptConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Weight files that lie: malformed safetensors headers, config.json fields of the wrong type, and
 * headers claiming models far larger than their files. Each is one JgptException naming the file,
 * found before any model is allocated.
 */
class BadWeightFilesTest {
    static final Path TINY_HF = Path.of("src/test/resources/fixtures/tiny/hf");

    /** A safetensors file from a header written as JSON text and a data section of {@code dataBytes} zeros. */
    static Path safetensors(Path file, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.write(file, b.array());
        return file;
    }

    static void assertRefused(Path file, String... words) {
        JgptException e = assertThrows(JgptException.class, () -> Safetensors.open(file).close());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        for (String w : words) assertTrue(e.getMessage().contains(w), "'" + w + "' missing from: " + e.getMessage());
    }

    @Test
    void malformedSafetensorsHeadersAreOneLineEach(@TempDir Path tmp) throws IOException {
        assertRefused(safetensors(tmp.resolve("a.safetensors"), "{\"w\": 5}", 0), "tensor w", "not a JSON object");
        assertRefused(safetensors(tmp.resolve("b.safetensors"), "[1, 2]", 0), "not a JSON object");
        assertRefused(safetensors(tmp.resolve("c.safetensors"), "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4),
                "tensor w", "dtype");
        assertRefused(safetensors(tmp.resolve("d.safetensors"), "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4),
                "tensor w", "data_offsets [-4,0]");
        assertRefused(safetensors(tmp.resolve("e.safetensors"), "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4),
                "tensor w", "data_offsets");
        assertRefused(safetensors(tmp.resolve("f.safetensors"), "{\"w\": {\"dtype\": \"F32\", \"shape\": [\"a\"], \"data_offsets\": [0, 4]}}", 4),
                "tensor w", "shape [\"a\"]");
        assertRefused(safetensors(tmp.resolve("g.safetensors"), "{\"w\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4),
                "tensor w", "shape");
        assertRefused(safetensors(tmp.resolve("h.safetensors"), "{\"w\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4),
                "tensor w", "dtype Q4");
        assertRefused(safetensors(tmp.resolve("i.safetensors"),
                "{\"w\": {\"dtype\": \"F32\", \"shape\": [65536, 65536, 65536, 65536], \"data_offsets\": [0, 4]}}", 4), "tensor w", "shape");
        assertRefused(safetensors(tmp.resolve("j.safetensors"), "{\"__metadata__\": [1], \"w\": {\"dtype\": \"F32\", \"shape\": [1],"
                + " \"data_offsets\": [0, 4]}}", 4), "__metadata__");
    }

    @Test
    void tensorByteRangesMustTileTheDataExactlyAsHuggingFaceRequires(@TempDir Path tmp) throws IOException {
        assertRefused(safetensors(tmp.resolve("overlap.safetensors"), "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12), "a and b overlap");
        assertRefused(safetensors(tmp.resolve("gap.safetensors"), "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                + " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}", 12), "bytes [4, 8)", "no tensor");
        assertRefused(safetensors(tmp.resolve("tail.safetensors"), "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8),
                "bytes [4, 8)", "no tensor");
        // the same bytes, tiled, in any header order; a tensor of a dtype jgpt does not compute in is fine until read
        Path ok = safetensors(tmp.resolve("ok.safetensors"), "{\"b\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [4, 12]},"
                + " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"__metadata__\": {\"format\": \"pt\"}}", 12);
        try (Safetensors st = Safetensors.open(ok)) {
            float[] x = new float[1];
            st.read(st.entries().get("a"), x, 0, false);
            JgptException e = assertThrows(JgptException.class, () -> st.read(st.entries().get("b"), x, 0, false));
            assertTrue(e.getMessage().contains("tensor b has dtype I64"), e.getMessage());
        }
    }

    @Test
    void configFieldsMustBeWholeNumbers(@TempDir Path tmp) throws IOException {
        String config = Files.readString(TINY_HF.resolve("config.json"));
        for (String bad : new String[]{"\"two\"", "2.9", "null", "[2]"}) {
            Path dir = tmp.resolve("m" + bad.hashCode());
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), config.replaceFirst("\"n_layer\": \\d+", "\"n_layer\": " + bad));
            Files.copy(TINY_HF.resolve("model.safetensors"), dir.resolve("model.safetensors"));
            JgptException e = assertThrows(JgptException.class, () -> ModelFiles.load(dir));
            assertTrue(e.getMessage().startsWith(dir.resolve("config.json").toString()) && e.getMessage().contains("n_layer"),
                    e.getMessage());
        }
        Path dir = tmp.resolve("array");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), "[]");
        JgptException e = assertThrows(JgptException.class, () -> HfCheckpoint.readConfig(dir));
        assertTrue(e.getMessage().contains("not a JSON object"), e.getMessage());
    }

    /**
     * Settings that make transformers compute another function from weights of the same shapes are refused,
     * naming the field; those that compute GPT-2's (HF's other names for its GELU, the defaults written out) load.
     */
    @Test
    void configSettingsJgptDoesNotComputeAreRefused(@TempDir Path tmp) throws IOException {
        String config = Files.readString(TINY_HF.resolve("config.json"));
        String[][] refused = {
                {"\"model_type\": \"gptj\"", "model_type \"gptj\""},
                {"\"activation_function\": \"relu\"", "activation_function \"relu\""},
                {"\"activation_function\": \"gelu\"", "activation_function \"gelu\""},
                {"\"layer_norm_epsilon\": 1e-6", "layer_norm_epsilon 1e-6"},
                {"\"layer_norm_epsilon\": \"small\"", "layer_norm_epsilon \"small\""},
                {"\"tie_word_embeddings\": false", "tie_word_embeddings false"},
                {"\"scale_attn_weights\": false", "scale_attn_weights false"},
                {"\"scale_attn_by_inverse_layer_idx\": true", "scale_attn_by_inverse_layer_idx true"},
                {"\"n_inner\": 64", "n_inner 64"}};
        for (String[] r : refused) {
            Path dir = folder(tmp.resolve("refused" + r[0].hashCode()), withField(config, r[0]));
            JgptException e = assertThrows(JgptException.class, () -> ModelFiles.load(dir), r[0]);
            assertTrue(e.getMessage().startsWith(dir.resolve("config.json") + ": " + r[1] + ": "), e.getMessage());
        }
        String[] loads = {"\"activation_function\": \"gelu_pytorch_tanh\"", "\"activation_function\": \"gelu_fast\"",
                "\"layer_norm_epsilon\": 0.00001", "\"tie_word_embeddings\": true", "\"scale_attn_weights\": true",
                "\"scale_attn_by_inverse_layer_idx\": false", "\"n_inner\": null", "\"n_inner\": 128", "\"model_type\": \"gpt2\""};
        float[] expected = ModelFiles.load(TINY_HF).params();
        for (String ok : loads) {
            Path dir = folder(tmp.resolve("loads" + ok.hashCode()), withField(config, ok));
            org.junit.jupiter.api.Assertions.assertArrayEquals(expected, ModelFiles.load(dir).params(), ok);
        }
    }

    /** {@code config} with {@code field} ("name": value) set, replacing the field if it is there. */
    static String withField(String config, String field) {
        com.google.gson.JsonObject o = com.google.gson.JsonParser.parseString(config).getAsJsonObject();
        com.google.gson.JsonObject f = com.google.gson.JsonParser.parseString("{" + field + "}").getAsJsonObject();
        f.entrySet().forEach(e -> o.add(e.getKey(), e.getValue()));
        return o.toString();
    }

    /** A model folder: {@code config} beside the tiny fixture's weights. */
    static Path folder(Path dir, String config) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config);
        Files.copy(TINY_HF.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        return dir;
    }

    @Test
    void aHeaderClaimingAHugeModelIsRefusedFromTheFileSizeBeforeAllocating(@TempDir Path tmp) throws IOException {
        // 1 KB of llm.c header claiming GPT-2 XL's 1.56B parameters (6.2 GB, more than a test JVM's heap)
        ByteBuffer h = ByteBuffer.allocate(1024).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(LlmcCheckpoint.MAGIC).putInt(LlmcCheckpoint.VERSION_FP32).putInt(1024).putInt(50257).putInt(48).putInt(25).putInt(1600).putInt(50304);
        Path bin = tmp.resolve("huge.bin");
        Files.write(bin, h.array());
        JgptException e = assertThrows(JgptException.class, () -> ModelFiles.load(bin));
        assertTrue(e.getMessage().contains("huge.bin") && e.getMessage().contains("truncated")
                && e.getMessage().contains(Long.toString(GptConfig.preset("gpt2-xl").parameterCount())), e.getMessage());

        // a config.json of the same model next to a small model.safetensors
        Path dir = tmp.resolve("hf");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), HfCheckpoint.configJson(GptConfig.preset("gpt2-xl")));
        Files.copy(TINY_HF.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        e = assertThrows(JgptException.class, () -> ModelFiles.load(dir));
        assertTrue(e.getMessage().contains("model.safetensors") && e.getMessage().contains("config.json"), e.getMessage());
    }
}
