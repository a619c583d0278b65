package dev.jgpt.serve;

import dev.jgpt.generate.LanguageModel;
import dev.jgpt.generate.TestModels;
import dev.jgpt.model.Inference;
import dev.langchain4j.exception.ModelNotFoundException;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** LangChain4j's OpenAI module, a client written for OpenAI's servers, against jgpt serve. */
class LangChain4jClientTest {
    static LanguageModel model;
    static Server server;
    static String baseUrl;

    @BeforeAll
    static void start() throws Exception {
        model = new LanguageModel(TestModels.random(64, 21), Inference.Precision.BF16, 4);
        server = new Server(model, "tiny", "127.0.0.1", 0, new Server.Limits(4, 64, 1 << 16));
        baseUrl = "http://127.0.0.1:" + server.port() + "/v1";
    }

    @AfterAll
    static void stop() {
        server.close();
        model.close();
    }

    /** What the server's chat template makes of one user message, greedy, as the model itself continues it. */
    static String expectedReply(String user, int maxTokens) throws InterruptedException {
        String raw = model.generate("User: " + user + "\n\nAssistant:",
                LanguageModel.Options.defaults().withTemperature(0).withMaxTokens(maxTokens).withStop(Server.CHAT_STOPS.toArray(String[]::new)));
        return raw.stripLeading();
    }

    @Test
    void chatModelGetsTheTemplatesGreedyReply() throws Exception {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(baseUrl).apiKey("not-needed").modelName("tiny")
                .temperature(0.0).maxTokens(12).maxRetries(0).build();
        String reply = chat.chat("Hello there");
        assertEquals(expectedReply("Hello there", 12), reply);
        assertTrue(!reply.isEmpty());
    }

    @Test
    void streamingChatModelStreamsTheSameReply() throws Exception {
        OpenAiStreamingChatModel chat = OpenAiStreamingChatModel.builder().baseUrl(baseUrl).apiKey("not-needed").modelName("tiny")
                .temperature(0.0).maxTokens(12).build();
        StringBuilder partial = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        chat.chat("Hello there", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                partial.append(text);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse response = done.get(60, TimeUnit.SECONDS);
        assertEquals(expectedReply("Hello there", 12), response.aiMessage().text());
        assertEquals(response.aiMessage().text(), partial.toString());
        assertEquals(FinishReason.LENGTH, response.finishReason());
        assertEquals(12, response.tokenUsage().outputTokenCount());
    }

    @Test
    void languageModelUsesCompletions() throws Exception {
        OpenAiLanguageModel lm = OpenAiLanguageModel.builder().baseUrl(baseUrl).apiKey("not-needed").modelName("tiny")
                .temperature(0.0).maxRetries(0).build();
        Response<String> r = lm.generate("public static int");
        // the server's default max_tokens for completions is OpenAI's 16
        assertEquals(model.generate("public static int", LanguageModel.Options.defaults().withTemperature(0).withMaxTokens(16)), r.content());
        assertEquals(16, r.tokenUsage().outputTokenCount());
        assertEquals(FinishReason.LENGTH, r.finishReason());
    }

    @Test
    void anUnknownModelIsModelNotFound() {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(baseUrl).apiKey("not-needed").modelName("gpt-4o")
                .maxRetries(0).build();
        ModelNotFoundException e = assertThrows(ModelNotFoundException.class, () -> chat.chat("Hello"));
        assertTrue(e.getMessage().contains("tiny"), e.getMessage());
    }
}
