package dev.jgpt.serve;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jgpt.generate.LanguageModel;
import dev.jgpt.generate.TestModels;
import dev.jgpt.model.Inference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** OpenAI's official Node client (the npm package openai, tools/js) against jgpt serve. */
class OpenAiNodeClientTest {
    static final Path OPENAI_JS = Path.of("tools", "js", "node_modules", "openai");

    @Test
    void officialClientCompletesStreamsChatsAndGetsErrors(@TempDir Path tmp) throws Exception {
        String node = onPath("node");
        assumeTrue(node != null, "node is not installed (apt-get install nodejs npm)");
        assumeTrue(Files.isDirectory(OPENAI_JS), "the openai npm package is not installed: cd tools/js && npm ci --ignore-scripts");

        try (LanguageModel model = new LanguageModel(TestModels.random(64, 31), Inference.Precision.BF16, 4);
             Server server = new Server(model, "tiny", "127.0.0.1", 0, new Server.Limits(4, 256, 1 << 16))) {
            Process p = new ProcessBuilder(node, "tools/js/openai-client.mjs", "http://127.0.0.1:" + server.port() + "/v1", "tiny")
                    .redirectError(tmp.resolve("node.err").toFile()).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "node did not finish");
            assertEquals(0, p.exitValue(), () -> "node failed: " + read(tmp.resolve("node.err")));
            JsonObject r = JsonParser.parseString(out).getAsJsonObject();

            LanguageModel.Options greedy = LanguageModel.Options.defaults().withTemperature(0).withMaxTokens(20);
            String want = model.generate("public static int", greedy);
            JsonObject completion = r.getAsJsonObject("completion");
            assertEquals(want, completion.get("text").getAsString());
            assertEquals("length", completion.get("finish").getAsString());
            assertEquals(20, completion.getAsJsonObject("usage").get("completion_tokens").getAsInt());
            assertEquals(3, completion.getAsJsonObject("usage").get("prompt_tokens").getAsInt());

            JsonArray pieces = r.getAsJsonObject("stream").getAsJsonArray("pieces");
            StringBuilder streamed = new StringBuilder();
            for (JsonElement piece : pieces) streamed.append(piece.getAsString());
            assertEquals(want, streamed.toString());
            assertTrue(pieces.size() >= 10, "streamed in " + pieces.size() + " pieces");
            assertEquals("length", r.getAsJsonObject("stream").get("finish").getAsString());

            String reply = model.generate("User: Hello there\n\nAssistant:", greedy.withMaxTokens(12)
                    .withStop(Server.CHAT_STOPS.toArray(String[]::new))).stripLeading();
            assertEquals(reply, r.getAsJsonObject("chat").get("content").getAsString());
            assertEquals("assistant", r.getAsJsonObject("chat").get("role").getAsString());
            assertEquals(reply, r.get("chatStreamed").getAsString());

            JsonObject tooLong = r.getAsJsonObject("tooLong");
            assertEquals("BadRequestError", tooLong.get("name").getAsString());
            assertEquals(400, tooLong.get("status").getAsInt());
            assertEquals("max_tokens", tooLong.get("param").getAsString());
            assertTrue(tooLong.get("message").getAsString().contains("max_tokens must be in [1, 256]"), tooLong.toString());

            JsonObject noSuchModel = r.getAsJsonObject("noSuchModel");
            assertEquals("NotFoundError", noSuchModel.get("name").getAsString());
            assertEquals(404, noSuchModel.get("status").getAsInt());
            assertEquals("model_not_found", noSuchModel.get("code").getAsString());
        }
    }

    static String onPath(String program) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(d, program);
            if (Files.isExecutable(p)) return p.toString();
        }
        return null;
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return "(" + e + ")";
        }
    }
}
