package dev.jgpt.serve;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jgpt.cli.Main;
import dev.jgpt.generate.LanguageModel;
import dev.jgpt.generate.TestModels;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.model.Inference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The server over real HTTP: exactness against jgpt generate, batching, streaming, limits, bad requests. */
class ServerTest {
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @TempDir
    static Path dir;
    static Path modelDir;
    static LanguageModel model;
    static Server server;
    static String base;

    @BeforeAll
    static void start() throws IOException {
        modelDir = dir.resolve("tiny");
        ModelFiles.save(TestModels.random(64, 42), modelDir);
        model = LanguageModel.load(modelDir, Inference.Precision.BF16, 4);
        server = new Server(model, "tiny", "127.0.0.1", 0, new Server.Limits(4, 100_000, 1 << 16));
        base = "http://127.0.0.1:" + server.port();
    }

    @AfterAll
    static void stop() {
        server.close();
        model.close();
    }

    record Reply(int status, JsonObject json, String body) {
    }

    static Reply post(String path, String body) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(base + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), parse(r.body()), r.body());
    }

    static Reply get(String path) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).GET().build(), HttpResponse.BodyHandlers.ofString());
        return new Reply(r.statusCode(), parse(r.body()), r.body());
    }

    static JsonObject parse(String body) {
        try {
            JsonElement e = JsonParser.parseString(body);
            return e.isJsonObject() ? e.getAsJsonObject() : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    static String text(Reply r) {
        assertEquals(200, r.status(), r.body());
        return r.json().getAsJsonArray("choices").get(0).getAsJsonObject().get("text").getAsString();
    }

    static String completion(String prompt, int maxTokens, String extra) throws Exception {
        return text(post("/v1/completions", "{\"prompt\": " + quote(prompt) + ", \"max_tokens\": " + maxTokens + extra + "}"));
    }

    static String quote(String s) {
        return new com.google.gson.Gson().toJson(s);
    }

    /** The data lines of a server-sent event stream, [DONE] included. */
    static List<String> events(String prompt, String extra) throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": " + quote(prompt) + ", \"stream\": true" + extra + "}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<String> data = new ArrayList<>();
        for (String line : r.body().split("\n")) if (line.startsWith("data: ")) data.add(line.substring(6));
        return data;
    }

    @Test
    void aLoneGreedyRequestReturnsWhatGeneratePrints() throws Exception {
        String prompt = "The meaning of life is";
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int exit;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            exit = Main.commandLine().execute("generate", "--model", modelDir.toString(), "--prompt", prompt,
                    "--temperature", "0", "--max-tokens", "40");
        } finally {
            System.setOut(old);
        }
        assertEquals(0, exit);
        String printed = out.toString(StandardCharsets.UTF_8);
        String served = completion(prompt, 40, ", \"temperature\": 0");
        assertEquals(printed, prompt + served + "\n");
        assertTrue(served.length() > 20, served);
    }

    /**
     * Requests decoded together get the tokens they get alone: greedy and seeded sampling, prompts
     * of different lengths, and they did overlap (the health endpoint saw several active at once).
     */
    @Test
    void concurrentRequestsGetTheTokensTheyGetAlone() throws Exception {
        int requests = 6;
        List<Callable<String>> calls = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            String prompt = "Request " + i + " asks: " + "why ".repeat(i);
            String extra = i % 2 == 0 ? ", \"temperature\": 0" : ", \"temperature\": 0.9, \"seed\": " + (100 + i);
            calls.add(() -> completion(prompt, 80, extra));
        }
        List<String> alone = new ArrayList<>();
        for (Callable<String> c : calls) alone.add(c.call());

        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger mostActive = new AtomicInteger();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<?> watcher = pool.submit(() -> {
                while (running.get()) {
                    mostActive.accumulateAndGet(get("/health").json().get("active").getAsInt(), Math::max);
                    Thread.sleep(5);
                }
                return null;
            });
            List<Future<String>> together = pool.invokeAll(calls);
            running.set(false);
            watcher.get();
            for (int i = 0; i < requests; i++) assertEquals(alone.get(i), together.get(i).get(), "request " + i);
        }
        assertTrue(mostActive.get() >= 2, "the requests were never decoded together");
    }

    @Test
    void streamingGivesTheSameTextPieceByPiece() throws Exception {
        String whole = completion("Once upon a time", 30, ", \"seed\": 7");
        List<String> data = events("Once upon a time", ", \"max_tokens\": 30, \"seed\": 7, \"stream_options\": {\"include_usage\": true}");
        assertEquals("[DONE]", data.getLast());
        StringBuilder streamed = new StringBuilder();
        int pieces = 0;
        for (String d : data.subList(0, data.size() - 3)) {
            JsonObject chunk = JsonParser.parseString(d).getAsJsonObject();
            assertEquals("text_completion", chunk.get("object").getAsString());
            JsonObject choice = chunk.getAsJsonArray("choices").get(0).getAsJsonObject();
            assertTrue(choice.get("finish_reason").isJsonNull());
            streamed.append(choice.get("text").getAsString());
            pieces++;
        }
        assertEquals(whole, streamed.toString());
        assertTrue(pieces > 10, "streamed in " + pieces + " pieces");
        JsonObject last = JsonParser.parseString(data.get(data.size() - 3)).getAsJsonObject();
        assertEquals("length", last.getAsJsonArray("choices").get(0).getAsJsonObject().get("finish_reason").getAsString());
        JsonObject usage = JsonParser.parseString(data.get(data.size() - 2)).getAsJsonObject().getAsJsonObject("usage");
        assertEquals(30, usage.get("completion_tokens").getAsInt());
    }

    @Test
    void nChoicesAreSeededOneAfterAnother() throws Exception {
        Reply r = post("/v1/completions", "{\"prompt\": \"Three ways\", \"max_tokens\": 12, \"n\": 3, \"seed\": 5, \"temperature\": 1.2}");
        assertEquals(200, r.status(), r.body());
        JsonArray choices = r.json().getAsJsonArray("choices");
        assertEquals(3, choices.size());
        for (int i = 0; i < 3; i++) {
            assertEquals(i, choices.get(i).getAsJsonObject().get("index").getAsInt());
            assertEquals(completion("Three ways", 12, ", \"seed\": " + (5 + i) + ", \"temperature\": 1.2"),
                    choices.get(i).getAsJsonObject().get("text").getAsString());
        }
        assertNotEquals(choices.get(0), choices.get(1));
        assertEquals(36, r.json().getAsJsonObject("usage").get("completion_tokens").getAsInt());
        assertEquals(2, r.json().getAsJsonObject("usage").get("prompt_tokens").getAsInt());
    }

    @Test
    void aStopStringEndsTheText() throws Exception {
        String full = completion("Stop me", 40, ", \"temperature\": 0");
        String stop = full.substring(10, 14);
        Reply r = post("/v1/completions", "{\"prompt\": \"Stop me\", \"max_tokens\": 40, \"temperature\": 0, \"stop\": [" + quote(stop) + "]}");
        assertEquals(full.substring(0, full.indexOf(stop)), text(r));
        assertEquals("stop", r.json().getAsJsonArray("choices").get(0).getAsJsonObject().get("finish_reason").getAsString());
    }

    @Test
    void chatUsesThePlainTemplate() throws Exception {
        JsonArray messages = JsonParser.parseString("[{\"role\": \"system\", \"content\": \"Be brief.\"},"
                + " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Hi\"}]}]").getAsJsonArray();
        assertEquals("System: Be brief.\n\nUser: Hi\n\nAssistant:", Server.chatPrompt(messages));
        Reply r = post("/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": " + messages + ", \"max_tokens\": 10, \"temperature\": 0}");
        assertEquals(200, r.status(), r.body());
        assertEquals("chat.completion", r.json().get("object").getAsString());
        JsonObject message = r.json().getAsJsonArray("choices").get(0).getAsJsonObject().getAsJsonObject("message");
        assertEquals("assistant", message.get("role").getAsString());
        String reply = message.get("content").getAsString();
        // the reply is the completion of the template, without its leading space, cut at a next turn
        String raw = completion("System: Be brief.\n\nUser: Hi\n\nAssistant:", 10, ", \"temperature\": 0");
        for (String stop : Server.CHAT_STOPS) if (raw.contains(stop)) raw = raw.substring(0, raw.indexOf(stop));
        assertEquals(raw.stripLeading(), reply);
    }

    @Test
    void badRequestsGetOpenAiErrorsAndTheServerGoesOn() throws Exception {
        String[][] cases = {
                // body, status, param
                {"{bad json", "400", null},
                {"[1, 2]", "400", null},
                {"{}", "400", "prompt"},
                {"{\"prompt\": 5}", "400", "prompt"},
                {"{\"prompt\": [1, 2, 99999]}", "400", "prompt"},
                {"{\"prompt\": \"" + "word ".repeat(100) + "\"}", "400", "prompt"},
                {"{\"prompt\": \"\"}", "400", "prompt"},
                {"{\"prompt\": \"x\", \"max_tokens\": 0}", "400", "max_tokens"},
                {"{\"prompt\": \"x\", \"max_tokens\": 100001}", "400", "max_tokens"},
                {"{\"prompt\": \"x\", \"max_tokens\": \"ten\"}", "400", "max_tokens"},
                {"{\"prompt\": \"x\", \"max_tokens\": 1.5}", "400", "max_tokens"},
                {"{\"prompt\": \"x\", \"temperature\": -1}", "400", "temperature"},
                {"{\"prompt\": \"x\", \"top_p\": 1.5}", "400", "top_p"},
                {"{\"prompt\": \"x\", \"top_p\": -0.5}", "400", "top_p"},
                {"{\"prompt\": \"x\", \"n\": 5}", "400", "n"},
                {"{\"prompt\": \"x\", \"stop\": 3}", "400", "stop"},
                {"{\"prompt\": \"x\", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", "400", "stop"},
                {"{\"prompt\": \"x\", \"stop\": \"\"}", "400", "stop"},
                {"{\"prompt\": \"x\", \"seed\": \"s\"}", "400", "seed"},
                {"{\"prompt\": \"x\", \"stream\": \"yes\"}", "400", "stream"},
                {"{\"prompt\": \"x\", \"logprobs\": 3}", "400", "logprobs"},
                {"{\"prompt\": \"x\", \"top_logprobs\": 5}", "400", "top_logprobs"},
                {"{\"prompt\": \"x\", \"model\": \"gpt-4\"}", "404", "model"},
                {"{\"prompt\": \"x\", \"model\": 7}", "400", "model"},
        };
        for (String[] c : cases) {
            Reply r = post("/v1/completions", c[0]);
            assertEquals(Integer.parseInt(c[1]), r.status(), c[0] + " -> " + r.body());
            JsonObject error = r.json().getAsJsonObject("error");
            assertTrue(error.get("message").getAsString().length() > 5, r.body());
            assertEquals("invalid_request_error", error.get("type").getAsString());
            assertEquals(c[2], error.get("param").isJsonNull() ? null : error.get("param").getAsString(), c[0]);
        }
        String[][] chat = {
                {"{\"messages\": []}", "messages"},
                {"{\"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}", "messages[0].role"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}", "messages[0].content"},
                // not implemented: refused unless neutral (below), never answered as if they were
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"top_logprobs\": 5}", "top_logprobs"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"logprobs\": true, \"top_logprobs\": 2}", "logprobs"},
                {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"echo\": true}", "echo"},
        };
        for (String[] c : chat) {
            Reply r = post("/v1/chat/completions", c[0]);
            assertEquals(400, r.status(), r.body());
            assertEquals(c[1], r.json().getAsJsonObject("error").get("param").getAsString());
        }
        // their neutral values, and fields clients send that change nothing here, are taken
        Reply neutral = post("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 2,"
                + " \"logprobs\": false, \"top_logprobs\": 0, \"echo\": false, \"user\": \"u1\", \"stream_options\": null}");
        assertEquals(200, neutral.status(), neutral.body());
        // the two ends of top_p's range say the same range
        assertEquals("top_p must be in [0, 1], got 1.5", post("/v1/completions", "{\"prompt\": \"x\", \"top_p\": 1.5}")
                .json().getAsJsonObject("error").get("message").getAsString());
        assertEquals("top_p must be in [0, 1], got -0.5", post("/v1/completions", "{\"prompt\": \"x\", \"top_p\": -0.5}")
                .json().getAsJsonObject("error").get("message").getAsString());
        // a token id past what an int holds is named as it was sent
        for (String id : new String[]{"-5", "1e30", "99999"}) {
            assertEquals("token " + id + " of the prompt is outside the model's vocabulary of 50257 tokens",
                    post("/v1/completions", "{\"prompt\": [1, " + id + "]}").json().getAsJsonObject("error").get("message").getAsString());
        }
        assertEquals(413, post("/v1/completions", "{\"prompt\": \"" + "x".repeat(70_000) + "\"}").status());
        assertEquals(405, get("/v1/completions").status());
        assertEquals(404, get("/v2/anything").status());
        assertEquals(404, get("/v1/models/other").status());
        assertEquals("tiny", get("/v1/models/tiny").json().get("id").getAsString());
        assertEquals("tiny", get("/v1/models").json().getAsJsonArray("data").get(0).getAsJsonObject().get("id").getAsString());

        // not HTTP at all, and a connection dropped half-way through a body
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.getOutputStream().write("\u0000\u0001garbage\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
        }
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"prompt\":").getBytes(StandardCharsets.US_ASCII));
        }
        assertEquals("ok", get("/health").json().get("status").getAsString());
        assertTrue(completion("Still here", 3, "").length() > 0);
    }

    /** Bodies that are not JSON: one message of ours, with the position when there is one. */
    @Test
    void aBodyThatIsNotJsonGetsOurMessage() throws Exception {
        String[][] cases = {
                {"not json", "the request body is not valid JSON: malformed JSON at line 1 column "},
                {"{bad json", "the request body is not valid JSON: "},
                {"{\"prompt\": \"x\"", "the request body is not valid JSON: End of input at line 1 column "},
                {"{\"prompt\": \"x\"} {}", "the request body is not valid JSON: "},
        };
        for (String[] c : cases) {
            Reply r = post("/v1/completions", c[0]);
            assertEquals(400, r.status(), r.body());
            String message = r.json().getAsJsonObject("error").get("message").getAsString();
            assertTrue(message.startsWith(c[1]) && !message.contains("\n"), c[0] + " -> " + message);
            for (String library : new String[]{"Gson", "gson", "http", "JsonReader", "Strictness", "LENIENT", "Exception"}) {
                assertTrue(!message.contains(library), c[0] + " -> " + message);
            }
        }
    }

    /** top_p 0, or too small for a float, is the smallest nucleus: the most likely token, as greedy picks. */
    @Test
    void aTinyTopPKeepsTheMostLikelyToken() throws Exception {
        String greedy = completion("Nucleus", 24, ", \"temperature\": 0");
        for (String topP : new String[]{"1e-300", "0", "1e-9"}) {
            assertEquals(greedy, completion("Nucleus", 24, ", \"temperature\": 1.5, \"seed\": 9, \"top_p\": " + topP), "top_p " + topP);
        }
        assertNotEquals(greedy, completion("Nucleus", 24, ", \"temperature\": 1.5, \"seed\": 9, \"top_p\": 1"));
    }

    /** A body declared larger than the limit is answered 413 at once, without waiting for it. */
    @Test
    void aDeclaredLengthPastTheLimitIs413BeforeTheBody() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(10_000); // without the check the server waits for 99999999999 bytes
            s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 99999999999\r\n\r\n{\"prompt\":").getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            String response = new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
            assertEquals("HTTP/1.1 413", response);
        }
        assertEquals("ok", get("/health").json().get("status").getAsString());
    }

    /**
     * A chunked body (no Content-Length) past the limit is answered 413 with Connection: close: the
     * rest of it is never read, and a client that sent its next request on the connection had it reset.
     */
    @Test
    void aChunkedBodyPastTheLimitIs413AndClosesTheConnection() throws Exception {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            // far past the 64 KiB limit: more than the server drains of an unread body before it gives up,
            // so the server may close while the body is still being sent: sent from another thread, as a
            // client that reads its answer while uploading does, and a reset of that upload is no failure
            byte[] chunk = ("{\"prompt\": \"" + "x".repeat(300_000) + "\"}").getBytes(StandardCharsets.US_ASCII);
            Thread upload = Thread.ofVirtual().start(() -> {
                try {
                    out.write((Integer.toHexString(chunk.length) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.write(chunk);
                    out.write("\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                } catch (IOException resetByTheServer) {
                    // the server stopped reading, as it should
                }
            });
            // the response's head, read as it comes: a reset after it may end the connection at any byte
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            InputStream in = s.getInputStream();
            try {
                for (int b; !received.toString(StandardCharsets.US_ASCII).contains("\r\n\r\n") && (b = in.read()) >= 0; ) received.write(b);
            } catch (IOException reset) {
                // what arrived before it is the answer
            }
            String head = received.toString(StandardCharsets.US_ASCII).toLowerCase(java.util.Locale.ROOT);
            upload.join(10_000);
            assertTrue(head.startsWith("http/1.1 413"), head);
            assertTrue(head.contains("\r\nconnection: close\r\n"), head);
        }
        assertEquals("ok", get("/health").json().get("status").getAsString());
    }

    /**
     * HEAD answers as GET does without the body (health checks, curl -I); a web page on another origin
     * may call the API, as with vLLM's and llama.cpp's servers: its preflight is answered, and every
     * answer allows any origin.
     */
    @Test
    void headRequestsAndCallsFromAWebPageAreAnswered() throws Exception {
        HttpResponse<String> head = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/health"))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, head.statusCode());
        assertEquals("", head.body());
        assertEquals("application/json", head.headers().firstValue("Content-Type").orElse(null));
        assertEquals(200, HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/models/tiny"))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        HttpResponse<String> headPost = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(405, headPost.statusCode());
        assertEquals("POST, OPTIONS", headPost.headers().firstValue("Allow").orElse(null));
        HttpResponse<String> postGet = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/health"))
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(405, postGet.statusCode());
        assertEquals("GET, HEAD, OPTIONS", postGet.headers().firstValue("Allow").orElse(null));

        // what a browser sends before a cross-origin POST with a JSON body and an API key
        HttpResponse<String> preflight = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", "http://localhost:5173").header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "authorization,content-type").build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(204, preflight.statusCode(), preflight.body());
        assertEquals("*", preflight.headers().firstValue("Access-Control-Allow-Origin").orElse(null));
        assertTrue(preflight.headers().firstValue("Access-Control-Allow-Methods").orElse("").contains("POST"));
        assertEquals("authorization,content-type", preflight.headers().firstValue("Access-Control-Allow-Headers").orElse(null));
        assertEquals(404, HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v2/nothing")).method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .build(), HttpResponse.BodyHandlers.ofString()).statusCode());

        // the answers themselves, streamed and not, and errors, may be read by the page
        for (String body : new String[]{"{\"prompt\": \"x\", \"max_tokens\": 2}", "{\"prompt\": \"x\", \"max_tokens\": 2, \"stream\": true}",
                "{\"prompt\": \"x\", \"max_tokens\": -1}"}) {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions")).header("Origin", "http://localhost:5173")
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals("*", r.headers().firstValue("Access-Control-Allow-Origin").orElse(null), body + " -> " + r.statusCode());
        }
    }

    /** A client that goes away frees its slot at once, streaming or not; with every slot and the queue taken, 429. */
    @Test
    void aClientThatGoesAwayFreesItsSlotAndAFullServerAnswers429() throws Exception {
        try (LanguageModel one = LanguageModel.load(modelDir, Inference.Precision.BF16, 1);
             Server small = new Server(one, "tiny", "127.0.0.1", 0, new Server.Limits(0, 1_000_000, 1 << 16))) {
            String url = "http://127.0.0.1:" + small.port();
            for (boolean stream : new boolean[]{false, true}) {
                // a million tokens: minutes of work unless the server notices the client leaving (past
                // <|endoftext|> too: a random model samples it now and then, which would end the request early)
                Socket s = new Socket("127.0.0.1", small.port());
                String body = "{\"prompt\": \"Go on\", \"max_tokens\": 1000000, \"ignore_eos\": true, \"stream\": " + stream + "}";
                OutputStream out = s.getOutputStream();
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                        + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = s.getInputStream();
                byte[] first = new byte[12];
                int got = in.readNBytes(first, 0, first.length); // the response has begun
                assertEquals("HTTP/1.1 200", new String(first, 0, got, StandardCharsets.US_ASCII), "stream " + stream);
                long t0 = System.nanoTime();
                while (health(url).get("active").getAsInt() != 1) {
                    assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "the request never started decoding");
                    Thread.sleep(5);
                }

                HttpResponse<String> busy = HTTP.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"me too\"}")).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(429, busy.statusCode(), busy.body());
                assertEquals("rate_limit_exceeded", JsonParser.parseString(busy.body()).getAsJsonObject().getAsJsonObject("error").get("code").getAsString());
                assertEquals("1", busy.headers().firstValue("Retry-After").orElse(null));

                s.close();
                t0 = System.nanoTime();
                while (health(url).get("active").getAsInt() != 0) {
                    assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "the slot was not freed");
                    Thread.sleep(10);
                }
                HttpResponse<String> next = HTTP.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"my turn\", \"max_tokens\": 4}")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, next.statusCode(), next.body());
            }
            // one request after another, each sent the moment the last answer is read: the place of a
            // finished request is free before its answer is written, so none of them is told 429
            for (int i = 0; i < 30; i++) {
                HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"again\", \"max_tokens\": 1}")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), "request " + i + ": " + r.body());
            }
        }
    }

    /**
     * Closing the server (what SIGTERM does) ends the requests in progress with a whole answer: an
     * error event that closes a stream, OpenAI's error JSON for a plain request; not a cut connection.
     */
    @Test
    void closingAnswersTheRequestsInProgress() throws Exception {
        try (LanguageModel two = LanguageModel.load(modelDir, Inference.Precision.BF16, 2)) {
            Server closing = new Server(two, "tiny", "127.0.0.1", 0, new Server.Limits(0, 1_000_000, 1 << 16));
            String url = "http://127.0.0.1:" + closing.port();
            List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> replies = new ArrayList<>();
            for (boolean stream : new boolean[]{true, false}) {
                replies.add(HTTP.sendAsync(HttpRequest.newBuilder(URI.create(url + "/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(
                        "{\"prompt\": \"Go on\", \"max_tokens\": 1000000, \"ignore_eos\": true, \"stream\": " + stream + "}")).build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            long t0 = System.nanoTime();
            while (health(url).get("active").getAsInt() != 2) {
                assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "the requests never started decoding");
                Thread.sleep(5);
            }
            Thread.sleep(300); // the plain request has sent its headers
            closing.close();

            HttpResponse<String> streamed = replies.get(0).get(10, java.util.concurrent.TimeUnit.SECONDS);
            List<String> data = new ArrayList<>();
            for (String line : streamed.body().split("\n")) if (line.startsWith("data: ")) data.add(line.substring(6));
            JsonObject last = JsonParser.parseString(data.getLast()).getAsJsonObject();
            assertEquals("server_shutting_down", last.getAsJsonObject("error").get("code").getAsString(), streamed.body());
            assertTrue(data.size() > 1, "tokens came before the end");

            HttpResponse<String> plain = replies.get(1).get(10, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals("server_shutting_down", JsonParser.parseString(plain.body()).getAsJsonObject()
                    .getAsJsonObject("error").get("code").getAsString(), plain.body());

            t0 = System.nanoTime();
            while (two.active() + two.waiting() != 0) {
                assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "the sequences were not cancelled");
                Thread.sleep(5);
            }
            assertThrows(IOException.class, () -> health(url), "no new connections");
        }
    }

    static JsonObject health(String url) throws Exception {
        return JsonParser.parseString(HTTP.send(HttpRequest.newBuilder(URI.create(url + "/health")).build(),
                HttpResponse.BodyHandlers.ofString()).body()).getAsJsonObject();
    }
}
