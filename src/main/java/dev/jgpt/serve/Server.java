package dev.jgpt.serve;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.jgpt.JgptException;
import dev.jgpt.generate.Generator;
import dev.jgpt.generate.LanguageModel;
import dev.jgpt.http.ServerSentEvents;
import dev.jgpt.tokenizer.Gpt2Tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An OpenAI-compatible HTTP server for one {@link LanguageModel}, on the JDK's own HTTP server:
 * {@code POST /v1/completions}, {@code POST /v1/chat/completions}, {@code GET /v1/models},
 * {@code GET /health}. Requests that arrive together are decoded together by the model.
 *
 * <p>Limits: a prompt of at most block_size tokens, {@code max_tokens} up to {@link Limits#maxTokens},
 * {@code n} up to the model's slots, a body of at most {@link Limits#maxBodyBytes}. Sequences beyond
 * the slots wait, up to {@link Limits#queue} of them; past that a request gets 429 at once. Errors are
 * OpenAI's JSON ({@code {"error": {"message", "type", "param", "code"}}}) with a 4xx status for what
 * the request got wrong.
 *
 * <p>A client that goes away is noticed at the next write, and its sequences are cancelled: their
 * slots go to the next requests at once. A streaming response writes every token; a plain one sends
 * its headers after {@value #HEARTBEAT_MS} ms of work and then a space (JSON allows leading whitespace)
 * every {@value #HEARTBEAT_MS} ms until its body, so a waiting or decoding request is tested as often.
 */
public final class Server implements AutoCloseable {
    /** Silence after which a response writes something, to learn whether its client is still there. */
    static final int HEARTBEAT_MS = 100;
    /** How long close() waits for the requests in progress to write their last words. */
    private static final int CLOSE_GRACE_S = 2;
    /** What a chat reply stops at besides the request's own stop strings: the template's next turn. */
    static final List<String> CHAT_STOPS = List.of("\nUser:", "\nSystem:", "\nAssistant:");
    private static final int MAX_STOP_STRINGS = 4;
    private static final int DEFAULT_COMPLETION_TOKENS = 16; // OpenAI's default for /v1/completions
    private static final Gson JSON = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();

    /**
     * Sequences that may wait for a slot ({@code queue}), the largest {@code max_tokens} a request may
     * ask ({@code maxTokens}), the largest request body in bytes.
     */
    public record Limits(int queue, int maxTokens, int maxBodyBytes) {
        public Limits {
            if (queue < 0) throw new JgptException("the queue must be >= 0, got " + queue);
            if (maxTokens < 1) throw new JgptException("the max_tokens limit must be >= 1, got " + maxTokens);
            if (maxBodyBytes < 1024) throw new JgptException("the body limit must be >= 1024 bytes, got " + maxBodyBytes);
        }

        public static Limits defaults() {
            return new Limits(32, 1024, 1 << 20);
        }
    }

    /** A request that cannot be served, and how to say so. */
    static final class ApiError extends RuntimeException {
        final int status;
        final String type, param, code;

        ApiError(int status, String type, String param, String code, String message) {
            super(message);
            this.status = status;
            this.type = type;
            this.param = param;
            this.code = code;
        }

        static ApiError invalid(String param, String message) {
            return new ApiError(400, "invalid_request_error", param, null, message);
        }
    }

    private final LanguageModel model;
    private final String name;
    private final Limits limits;
    private final Semaphore sequences; // slots + queue: a request takes n
    private final HttpServer http;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final long created = System.currentTimeMillis() / 1000;
    private final AtomicLong nextId = new AtomicLong();
    /** The event queues of the requests being answered: close() tells each that the server is going away. */
    private final Set<LinkedBlockingQueue<Object>> answering = ConcurrentHashMap.newKeySet();
    private volatile boolean closing;

    /** Starts serving {@code model} as {@code name} on host:port (port 0: any free port, see {@link #port()}). */
    public Server(LanguageModel model, String name, String host, int port, Limits limits) throws IOException {
        this(model, name, listen(host, port), limits);
    }

    /**
     * Takes host:port (port 0: any free port) before there is anything to serve, so that a taken port
     * is known before a model is loaded; {@link #Server(LanguageModel, String, HttpServer, Limits)}
     * then serves on it. A SocketException says the address cannot be listened on.
     */
    public static HttpServer listen(String host, int port) throws IOException {
        return HttpServer.create(new InetSocketAddress(host, port), 64);
    }

    /** Starts serving {@code model} as {@code name} on an address taken by {@link #listen}. */
    public Server(LanguageModel model, String name, HttpServer http, Limits limits) {
        this.model = model;
        this.name = name;
        this.limits = limits;
        this.sequences = new Semaphore(model.slots() + limits.queue());
        this.http = http;
        http.createContext("/", this::handle);
        http.setExecutor(executor);
        http.start();
    }

    public int port() {
        return http.getAddress().getPort();
    }

    /**
     * Stops accepting connections and ends the requests in progress, each with a complete answer: a
     * 503 error (OpenAI's JSON; in a stream, an error event that OpenAI's clients raise), never a
     * connection cut in the middle of a response. Their sequences are cancelled.
     */
    @Override
    public void close() {
        closing = true;
        for (LinkedBlockingQueue<Object> events : answering) events.add(SHUTTING_DOWN);
        http.stop(CLOSE_GRACE_S); // returns once those answers are written
        executor.shutdownNow();
    }

    private void handle(HttpExchange ex) {
        try (ex) {
            try {
                route(ex);
            } catch (ApiError e) {
                sendError(ex, e);
            } catch (JgptException e) {
                sendError(ex, ApiError.invalid(null, e.getMessage()));
            } catch (IOException e) {
                // the client went away: nothing to answer
            } catch (RuntimeException | Error e) {
                sendError(ex, new ApiError(500, "server_error", null, null, "internal error: " + e));
            }
        } catch (RuntimeException e) {
            // closing an exchange whose client is gone
        }
    }

    private void route(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath(), method = ex.getRequestMethod();
        // any web page may call the API, as with vLLM's and llama.cpp's servers: it takes no
        // credentials, and what a page can ask here any program on the machine can ask too
        ex.getResponseHeaders().set("Access-Control-Allow-Origin", "*");
        String allowed = switch (path) {
            case "/health", "/v1/models" -> "GET";
            case "/v1/completions", "/v1/chat/completions" -> "POST";
            default -> path.startsWith("/v1/models/") ? "GET" : null;
        };
        if (allowed == null) {
            throw new ApiError(404, "invalid_request_error", null, "not_found", "no such endpoint: " + method + " " + path
                    + " (this server has POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health)");
        }
        String allow = allowed.equals("GET") ? "GET, HEAD, OPTIONS" : "POST, OPTIONS";
        if (method.equals("OPTIONS")) { // a browser's preflight before a cross-origin POST with a JSON body
            preflight(ex, allow);
            return;
        }
        if (!method.equals(allowed) && !(method.equals("HEAD") && allowed.equals("GET"))) {
            ex.getResponseHeaders().set("Allow", allow);
            throw new ApiError(405, "invalid_request_error", null, "method_not_allowed", method + " is not allowed here; use " + allowed);
        }
        switch (path) {
            case "/health" -> {
                JsonObject o = new JsonObject();
                o.addProperty("status", "ok");
                o.addProperty("model", name);
                o.addProperty("slots", model.slots());
                o.addProperty("active", model.active());
                o.addProperty("waiting", model.waiting());
                sendJson(ex, 200, o);
            }
            case "/v1/models" -> {
                JsonObject list = new JsonObject();
                list.addProperty("object", "list");
                JsonArray data = new JsonArray();
                data.add(modelObject());
                list.add("data", data);
                sendJson(ex, 200, list);
            }
            case "/v1/completions" -> completions(ex, body(ex), false);
            case "/v1/chat/completions" -> completions(ex, body(ex), true);
            default -> {
                String id = path.substring("/v1/models/".length());
                if (!id.equals(name)) throw modelNotFound(id);
                sendJson(ex, 200, modelObject());
            }
        }
    }

    /** Answers an OPTIONS request: the methods the path takes, and for a browser's preflight, the headers it asked to send. */
    private static void preflight(HttpExchange ex, String allow) throws IOException {
        var h = ex.getResponseHeaders();
        h.set("Allow", allow);
        h.set("Access-Control-Allow-Methods", allow);
        // "*" would not cover Authorization, which OpenAI's clients send: name what was asked for
        String asked = ex.getRequestHeaders().getFirst("Access-Control-Request-Headers");
        if (asked != null) h.set("Access-Control-Allow-Headers", asked);
        h.set("Access-Control-Max-Age", "600");
        ex.sendResponseHeaders(204, -1);
    }

    private JsonObject modelObject() {
        JsonObject m = new JsonObject();
        m.addProperty("id", name);
        m.addProperty("object", "model");
        m.addProperty("created", created);
        m.addProperty("owned_by", "jgpt");
        return m;
    }

    private ApiError modelNotFound(String id) {
        return new ApiError(404, "invalid_request_error", "model", "model_not_found",
                "The model '" + id + "' does not exist; this server has '" + name + "'");
    }

    /** One completion or chat request, checked. */
    private record Job(int[] prompt, String echo, LanguageModel.Options options, int n, boolean stream, boolean usageChunk,
                       boolean chat) {
    }

    private void completions(HttpExchange ex, JsonObject req, boolean chat) throws IOException {
        if (closing) throw shuttingDown();
        Job job = parse(req, chat);
        if (!sequences.tryAcquire(job.n())) {
            throw new ApiError(429, "rate_limit_error", null, "rate_limit_exceeded", "the server is busy: " + model.slots()
                    + " sequences are decoding and " + limits.queue() + " may wait; try again shortly");
        }
        run(ex, job);
    }

    private Job parse(JsonObject req, boolean chat) {
        JsonElement m = req.get("model");
        if (m != null && !m.isJsonNull()) {
            String id = string(req, "model");
            if (!id.equals(name)) throw modelNotFound(id);
        }
        int[] prompt;
        String echo = null;
        List<String> stop = new ArrayList<>(stops(req.get("stop")));
        if (chat) {
            prompt = tokenize(chatPrompt(req.get("messages")), "messages");
            stop.addAll(CHAT_STOPS);
        } else {
            prompt = prompt(req.get("prompt"));
            if (bool(req, "echo", false)) echo = Gpt2Tokenizer.get().decode(prompt);
        }
        int defaultTokens = chat ? limits.maxTokens() : Math.min(DEFAULT_COMPLETION_TOKENS, limits.maxTokens());
        String tokensKey = chat && present(req, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        int maxTokens = integer(req, tokensKey, defaultTokens, 1, limits.maxTokens(), " (this server's limit)");
        double temperature = number(req, "temperature", 1, 0, 2);
        // OpenAI takes top_p in [0, 1]; 0, and any value too small for a float, keeps only the most
        // likely token (the smallest nucleus there is), so a tiny top_p does not become an invalid 0
        float topP = (float) Math.max(number(req, "top_p", 1, 0, 1), Float.MIN_VALUE);
        int topK = integer(req, "top_k", 50, 0, Integer.MAX_VALUE, " (0 = no limit)");
        int n = integer(req, "n", 1, 1, model.slots(), " (the sequences this server decodes together)");
        Long seed = present(req, "seed") ? longInteger(req, "seed") : null;
        boolean stream = bool(req, "stream", false);
        boolean usageChunk = false;
        if (stream && present(req, "stream_options")) {
            JsonElement so = req.get("stream_options");
            if (!so.isJsonObject()) throw ApiError.invalid("stream_options", "stream_options must be an object");
            usageChunk = bool(so.getAsJsonObject(), "include_usage", false);
        }
        unsupported(req, "logprobs", "top_logprobs", "best_of", "suffix", "logit_bias", "presence_penalty", "frequency_penalty",
                "tools", "functions", "response_format");
        if (chat) unsupported(req, "echo"); // echo is a completions parameter: a chat reply never repeats the prompt
        boolean ignoreEos = bool(req, "ignore_eos", false); // vLLM's name: go on past <|endoftext|> (benchmarks)
        LanguageModel.Options options = new LanguageModel.Options(maxTokens, (float) temperature, topK, topP, seed, stop, !ignoreEos);
        return new Job(prompt, echo, options, n, stream, usageChunk, chat);
    }

    /** Events from the decoding thread to the request's thread. */
    private record Piece(int choice, String text) {
    }

    private record Done(int choice, LanguageModel.Completion completion, Throwable error) {
    }

    /** The event close() sends every request in progress. */
    private static final Object SHUTTING_DOWN = new Object();

    private static ApiError shuttingDown() {
        return new ApiError(503, "server_error", null, "server_shutting_down", "the server is shutting down; the request was not completed");
    }

    /** Submits the job's n sequences and writes what they produce, streaming or at the end. */
    private void run(HttpExchange ex, Job job) throws IOException {
        String id = (job.chat() ? "chatcmpl-" : "cmpl-") + created + "-" + nextId.incrementAndGet();
        LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        List<LanguageModel.Pending> pending = new ArrayList<>();
        answering.add(events);
        if (closing) events.add(SHUTTING_DOWN); // close() may have told the others before this one was listed
        try {
            for (int i = 0; i < job.n(); i++) {
                int choice = i;
                LanguageModel.Options options = job.options().seed() == null ? job.options() : job.options().withSeed(job.options().seed() + i);
                LanguageModel.Pending p = model.submit(job.prompt(), options, text -> events.add(new Piece(choice, text)));
                // the sequence's place is free the moment it ends, before its answer is written: a
                // client that sends its next request as soon as it has read this one is not told 429
                p.future().whenComplete((c, e) -> {
                    sequences.release(1);
                    events.add(new Done(choice, c, e));
                });
                pending.add(p);
            }
            if (job.stream()) stream(ex, job, id, events);
            else whole(ex, job, id, events);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            answering.remove(events);
            for (LanguageModel.Pending p : pending) p.cancel(); // a no-op for those that ended
            sequences.release(job.n() - pending.size()); // places taken for sequences never submitted
        }
    }

    private void stream(HttpExchange ex, Job job, String id, LinkedBlockingQueue<Object> events) throws IOException, InterruptedException {
        ServerSentEvents sse = ServerSentEvents.open(ex);
        boolean[] begun = new boolean[job.n()];
        int completionTokens = 0;
        for (int i = 0; i < job.n(); i++) {
            if (job.chat()) sse.send(chunk(job, id, i, "", true, null));
            else if (job.echo() != null) sse.send(chunk(job, id, i, job.echo(), false, null));
        }
        for (int left = job.n(); left > 0; ) {
            Object e = events.poll(HEARTBEAT_MS, TimeUnit.MILLISECONDS);
            switch (e) {
                case null -> sse.comment("keep-alive");
                case Object o when o == SHUTTING_DOWN -> {
                    sse.send(JSON.toJson(errorBody(shuttingDown())));
                    return;
                }
                case Piece p -> {
                    String text = job.chat() && !begun[p.choice()] ? p.text().stripLeading() : p.text();
                    if (text.isEmpty()) continue;
                    begun[p.choice()] = true;
                    sse.send(chunk(job, id, p.choice(), text, false, null));
                }
                case Done d -> {
                    left--;
                    if (d.error() != null) {
                        sse.send(JSON.toJson(errorBody(failure(d.error()))));
                        return;
                    }
                    completionTokens += d.completion().tokens().length;
                    sse.send(chunk(job, id, d.choice(), null, false, finishReason(d.completion())));
                }
                default -> throw new IllegalStateException(String.valueOf(e));
            }
        }
        if (job.usageChunk()) {
            JsonObject last = head(job, id, true);
            last.add("choices", new JsonArray());
            last.add("usage", usage(job.prompt().length, completionTokens));
            sse.send(JSON.toJson(last));
        }
        sse.send("[DONE]");
    }

    private void whole(HttpExchange ex, Job job, String id, LinkedBlockingQueue<Object> events) throws IOException, InterruptedException {
        LanguageModel.Completion[] done = new LanguageModel.Completion[job.n()];
        OutputStream body = null;
        long lastWrite = System.nanoTime();
        for (int left = job.n(); left > 0; ) {
            Object e = events.poll(HEARTBEAT_MS, TimeUnit.MILLISECONDS);
            ApiError error = e == SHUTTING_DOWN ? shuttingDown() : e instanceof Done d && d.error() != null ? failure(d.error()) : null;
            if (error != null) {
                if (body == null) throw error;
                body.write(JSON.toJson(errorBody(error)).getBytes(StandardCharsets.UTF_8));
                return;
            }
            if (e instanceof Done d) {
                left--;
                done[d.choice()] = d.completion();
            }
            if (left > 0 && System.nanoTime() - lastWrite >= HEARTBEAT_MS * 1_000_000L) {
                if (body == null) {
                    ex.getResponseHeaders().set("Content-Type", "application/json");
                    ex.sendResponseHeaders(200, 0);
                    body = ex.getResponseBody();
                }
                body.write(' ');
                body.flush();
                lastWrite = System.nanoTime();
            }
        }
        JsonObject r = head(job, id, false);
        JsonArray choices = new JsonArray();
        int completionTokens = 0;
        for (int i = 0; i < job.n(); i++) {
            LanguageModel.Completion c = done[i];
            completionTokens += c.tokens().length;
            JsonObject choice = new JsonObject();
            choice.addProperty("index", i);
            if (job.chat()) {
                JsonObject message = new JsonObject();
                message.addProperty("role", "assistant");
                message.addProperty("content", c.text().stripLeading());
                choice.add("message", message);
            } else {
                choice.addProperty("text", job.echo() != null ? job.echo() + c.text() : c.text());
            }
            choice.add("logprobs", JsonNull.INSTANCE);
            choice.addProperty("finish_reason", finishReason(c));
            choices.add(choice);
        }
        r.add("choices", choices);
        r.add("usage", usage(job.prompt().length, completionTokens));
        byte[] bytes = JSON.toJson(r).getBytes(StandardCharsets.UTF_8);
        if (body == null) {
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, bytes.length);
            body = ex.getResponseBody();
        }
        body.write(bytes);
        body.flush();
    }

    private static ApiError failure(Throwable t) {
        return new ApiError(500, "server_error", null, null, "generation failed: " + t.getMessage());
    }

    private JsonObject head(Job job, String id, boolean chunk) {
        JsonObject o = new JsonObject();
        o.addProperty("id", id);
        o.addProperty("object", job.chat() ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion");
        o.addProperty("created", System.currentTimeMillis() / 1000);
        o.addProperty("model", name);
        return o;
    }

    /** A streamed chunk of one choice: its text (null: none), for chat the role first, or its finish reason. */
    private String chunk(Job job, String id, int choice, String text, boolean role, String finish) {
        JsonObject o = head(job, id, true);
        JsonObject c = new JsonObject();
        c.addProperty("index", choice);
        if (job.chat()) {
            JsonObject delta = new JsonObject();
            if (role) delta.addProperty("role", "assistant");
            if (text != null) delta.addProperty("content", text);
            c.add("delta", delta);
        } else {
            c.addProperty("text", text == null ? "" : text);
        }
        c.add("logprobs", JsonNull.INSTANCE);
        c.add("finish_reason", finish == null ? JsonNull.INSTANCE : new JsonPrimitive(finish));
        JsonArray choices = new JsonArray();
        choices.add(c);
        o.add("choices", choices);
        return JSON.toJson(o);
    }

    private static String finishReason(LanguageModel.Completion c) {
        return c.finish() == Generator.Finish.LENGTH ? "length" : "stop";
    }

    private static JsonObject usage(int promptTokens, int completionTokens) {
        JsonObject u = new JsonObject();
        u.addProperty("prompt_tokens", promptTokens);
        u.addProperty("completion_tokens", completionTokens);
        u.addProperty("total_tokens", promptTokens + completionTokens);
        return u;
    }

    // ---- request fields ----

    private JsonObject body(HttpExchange ex) throws IOException {
        // a declared length past the limit is refused before reading: the answer does not wait for
        // (or depend on) a body the client may never finish sending
        String declared = ex.getRequestHeaders().getFirst("Content-Length"); // a long >= 0: the JDK's server refuses others
        if (declared != null && Long.parseLong(declared) > limits.maxBodyBytes()) throw tooLarge(ex);
        byte[] bytes;
        try (InputStream in = ex.getRequestBody()) {
            bytes = in.readNBytes(limits.maxBodyBytes() + 1);
        }
        if (bytes.length > limits.maxBodyBytes()) throw tooLarge(ex); // a chunked body, read up to the limit
        JsonElement e;
        try {
            e = JsonParser.parseString(new String(bytes, StandardCharsets.UTF_8));
        } catch (JsonParseException ex2) {
            throw ApiError.invalid(null, "the request body is not valid JSON: " + JgptException.jsonReason(ex2));
        }
        if (!e.isJsonObject()) throw ApiError.invalid(null, "the body must be a JSON object");
        return e.getAsJsonObject();
    }

    private ApiError tooLarge(HttpExchange ex) {
        // the rest of the body is never read: it must not be taken for a next request, and a client
        // that meant to send one on this connection is told to open another (it was reset instead)
        ex.getResponseHeaders().set("Connection", "close");
        return new ApiError(413, "invalid_request_error", null, "request_too_large",
                "the request body is larger than " + limits.maxBodyBytes() + " bytes");
    }

    private int[] prompt(JsonElement p) {
        if (p == null || p.isJsonNull()) throw ApiError.invalid("prompt", "prompt is required");
        if (p.isJsonPrimitive() && p.getAsJsonPrimitive().isString()) return tokenize(p.getAsString(), "prompt");
        if (p.isJsonArray()) {
            JsonArray a = p.getAsJsonArray();
            if (a.size() == 1 && (a.get(0).isJsonArray() || a.get(0).isJsonPrimitive() && a.get(0).getAsJsonPrimitive().isString())) {
                return prompt(a.get(0)); // a batch of one prompt
            }
            int[] ids = new int[a.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonElement t = a.get(i);
                if (!t.isJsonPrimitive() || !t.getAsJsonPrimitive().isNumber() || !isInteger(t.getAsDouble())) {
                    throw ApiError.invalid("prompt", "prompt must be a string, a list of token ids or a list of one of those"
                            + " (this server takes one prompt per request; use n for several completions)");
                }
                double v = t.getAsDouble();
                if (v < 0 || v > Integer.MAX_VALUE) { // named as sent: an int would not hold it
                    throw ApiError.invalid("prompt", "token " + t + " of the prompt is outside the model's vocabulary of "
                            + model.config().vocabSize() + " tokens");
                }
                ids[i] = (int) v;
            }
            return checked(ids, "prompt");
        }
        throw ApiError.invalid("prompt", "prompt must be a string or a list of token ids");
    }

    private int[] tokenize(String text, String param) {
        return checked(Gpt2Tokenizer.get().encodeWithSpecial(text), param);
    }

    private int[] checked(int[] ids, String param) {
        try {
            model.checkPrompt(ids);
            return ids;
        } catch (JgptException e) {
            throw ApiError.invalid(param, e.getMessage());
        }
    }

    /**
     * The plain chat template: each message as "Role: content", separated by a blank line, then
     * "Assistant:" for the reply. Roles: system (developer is the same), user, assistant.
     */
    static String chatPrompt(JsonElement messages) {
        if (messages == null || !messages.isJsonArray() || messages.getAsJsonArray().isEmpty()) {
            throw ApiError.invalid("messages", "messages must be a non-empty list of {role, content}");
        }
        StringBuilder sb = new StringBuilder();
        int i = 0;
        for (JsonElement e : messages.getAsJsonArray()) {
            String at = "messages[" + i++ + "]";
            if (!e.isJsonObject()) throw ApiError.invalid(at, at + " must be an object with role and content");
            JsonObject m = e.getAsJsonObject();
            String role = m.has("role") && m.get("role").isJsonPrimitive() ? m.get("role").getAsString() : null;
            String label = switch (role == null ? "" : role) {
                case "system", "developer" -> "System";
                case "user" -> "User";
                case "assistant" -> "Assistant";
                default -> throw ApiError.invalid(at + ".role", at + ".role must be system, developer, user or assistant, got " + role);
            };
            sb.append(label).append(": ").append(content(m.get("content"), at + ".content")).append("\n\n");
        }
        return sb.append("Assistant:").toString();
    }

    /** A message's content: a string, or a list of {type: "text", text} parts. */
    private static String content(JsonElement c, String at) {
        if (c != null && c.isJsonPrimitive() && c.getAsJsonPrimitive().isString()) return c.getAsString();
        if (c != null && c.isJsonArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonElement part : c.getAsJsonArray()) {
                if (!part.isJsonObject() || !"text".equals(stringOrNull(part.getAsJsonObject().get("type")))
                        || stringOrNull(part.getAsJsonObject().get("text")) == null) {
                    throw ApiError.invalid(at, at + ": only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
                }
                sb.append(part.getAsJsonObject().get("text").getAsString());
            }
            return sb.toString();
        }
        throw ApiError.invalid(at, at + " must be a string or a list of text parts");
    }

    private static String stringOrNull(JsonElement e) {
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isString() ? e.getAsString() : null;
    }

    private static List<String> stops(JsonElement s) {
        if (s == null || s.isJsonNull()) return List.of();
        List<String> out = new ArrayList<>();
        if (s.isJsonPrimitive() && s.getAsJsonPrimitive().isString()) {
            out.add(s.getAsString());
        } else if (s.isJsonArray()) {
            for (JsonElement e : s.getAsJsonArray()) {
                if (stringOrNull(e) == null) throw ApiError.invalid("stop", "stop must be a string or a list of strings");
                out.add(e.getAsString());
            }
        } else {
            throw ApiError.invalid("stop", "stop must be a string or a list of strings");
        }
        if (out.size() > MAX_STOP_STRINGS) throw ApiError.invalid("stop", "stop takes at most " + MAX_STOP_STRINGS + " strings, got " + out.size());
        for (String x : out) if (x.isEmpty()) throw ApiError.invalid("stop", "a stop string must not be empty");
        return out;
    }

    private static boolean present(JsonObject o, String key) {
        return o.has(key) && !o.get(key).isJsonNull();
    }

    private static String string(JsonObject o, String key) {
        String s = stringOrNull(o.get(key));
        if (s == null) throw ApiError.invalid(key, key + " must be a string, got " + o.get(key));
        return s;
    }

    private static boolean bool(JsonObject o, String key, boolean fallback) {
        if (!present(o, key)) return fallback;
        JsonElement e = o.get(key);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) throw ApiError.invalid(key, key + " must be true or false, got " + e);
        return e.getAsBoolean();
    }

    private static double number(JsonObject o, String key, double fallback, double min, double max) {
        if (!present(o, key)) return fallback;
        JsonElement e = o.get(key);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw ApiError.invalid(key, key + " must be a number, got " + e);
        double v = e.getAsDouble();
        if (!(v >= min && v <= max)) throw ApiError.invalid(key, key + " must be in [" + fmt(min) + ", " + fmt(max) + "], got " + e);
        return v;
    }

    private static int integer(JsonObject o, String key, int fallback, int min, int max, String why) {
        if (!present(o, key)) return fallback;
        JsonElement e = o.get(key);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber() || !isInteger(e.getAsDouble())) {
            throw ApiError.invalid(key, key + " must be an integer, got " + e);
        }
        double v = e.getAsDouble();
        if (v < min || v > max) throw ApiError.invalid(key, key + " must be in [" + min + ", " + max + "]" + why + ", got " + e);
        return (int) v;
    }

    private static long longInteger(JsonObject o, String key) {
        JsonElement e = o.get(key);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) throw ApiError.invalid(key, key + " must be an integer, got " + e);
        try {
            return new java.math.BigDecimal(e.getAsString()).longValueExact();
        } catch (ArithmeticException | NumberFormatException x) {
            throw ApiError.invalid(key, key + " must be a 64-bit integer, got " + e);
        }
    }

    private static boolean isInteger(double v) {
        return v == Math.rint(v) && !Double.isInfinite(v);
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }

    /** Fields this server does not implement: refused when set to anything but their neutral value. */
    private static void unsupported(JsonObject req, String... keys) {
        for (String key : keys) {
            if (!present(req, key)) continue;
            JsonElement e = req.get(key);
            boolean neutral = e.isJsonPrimitive() && (e.getAsJsonPrimitive().isBoolean() && !e.getAsBoolean()
                    || e.getAsJsonPrimitive().isNumber() && e.getAsDouble() == 0
                    || key.equals("best_of") && e.getAsJsonPrimitive().isNumber() && e.getAsDouble() == 1)
                    || e.isJsonObject() && e.getAsJsonObject().isEmpty() && !key.equals("response_format")
                    || e.isJsonArray() && e.getAsJsonArray().isEmpty()
                    || key.equals("response_format") && e.isJsonObject() && "text".equals(stringOrNull(e.getAsJsonObject().get("type")));
            if (!neutral) throw ApiError.invalid(key, key + " is not supported by this server");
        }
    }

    // ---- responses ----

    private static JsonObject errorBody(ApiError e) {
        JsonObject err = new JsonObject();
        err.addProperty("message", e.getMessage());
        err.addProperty("type", e.type);
        err.add("param", e.param == null ? JsonNull.INSTANCE : new JsonPrimitive(e.param));
        err.add("code", e.code == null ? JsonNull.INSTANCE : new JsonPrimitive(e.code));
        JsonObject o = new JsonObject();
        o.add("error", err);
        return o;
    }

    private static void sendError(HttpExchange ex, ApiError e) {
        try {
            if (e.status == 429) ex.getResponseHeaders().set("Retry-After", "1");
            sendJson(ex, e.status, errorBody(e));
        } catch (IOException | RuntimeException ignored) {
            // headers already sent, or the client is gone
        }
    }

    private static void sendJson(HttpExchange ex, int status, JsonObject o) throws IOException {
        byte[] bytes = JSON.toJson(o).getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        if (ex.getRequestMethod().equals("HEAD")) { // the headers a GET would get, without its body
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }
}
