package dev.jgpt.track;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jgpt.JgptException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The dashboard's server over real HTTP: its API, its live events, and that it serves the runs directory only. */
class DashboardTest {
    @TempDir
    Path tmp;
    Path runs;
    Dashboard dashboard;
    final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void start() throws IOException {
        runs = tmp.resolve("runs");
        RunInfoTest.trainedRun(runs, "alpha");
        Files.writeString(tmp.resolve("secret.txt"), "outside the runs directory");
        dashboard = Dashboard.start(runs, "127.0.0.1", 0);
    }

    @AfterEach
    void stop() {
        dashboard.close();
    }

    HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(dashboard.url().resolve(path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A request sent byte for byte, so no client normalizes the path first. */
    String raw(String requestLine, String host) throws IOException {
        try (Socket s = new Socket("127.0.0.1", dashboard.url().getPort())) {
            OutputStream out = s.getOutputStream();
            out.write((requestLine + "\r\nHost: " + host + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void servesThePageItsAssetsAndTheRuns() throws Exception {
        HttpResponse<String> page = get("/");
        assertEquals(200, page.statusCode());
        assertTrue(page.body().contains("<script src=\"/assets/uPlot.iife.min.js\">"), page.body());
        assertTrue(page.headers().firstValue("Content-Security-Policy").orElse("").contains("default-src 'self'"));
        for (String asset : List.of("uPlot.iife.min.js", "uPlot.min.css", "dashboard.js", "dashboard.css")) {
            HttpResponse<String> a = get("/assets/" + asset);
            assertEquals(200, a.statusCode(), asset);
            assertTrue(a.body().length() > 1000, asset);
        }
        JsonObject list = JsonParser.parseString(get("/api/runs").body()).getAsJsonObject();
        assertEquals("alpha", list.getAsJsonArray("runs").get(0).getAsJsonObject().get("name").getAsString());
        JsonObject alpha = JsonParser.parseString(get("/api/runs/alpha").body()).getAsJsonObject();
        assertEquals(1000, alpha.getAsJsonObject("config").getAsJsonObject("train").get("max_steps").getAsInt());
        assertEquals(404, get("/api/runs/nope").statusCode());
        HttpResponse<String> config = get("/files/alpha/config.yaml");
        assertEquals(200, config.statusCode());
        assertEquals(Files.readString(runs.resolve("alpha/config.yaml")), config.body());
        assertEquals("text/plain; charset=utf-8", config.headers().firstValue("Content-Type").orElse(""));
    }

    @Test
    void nothingOutsideTheRunsDirectoryCanBeNamed() throws Exception {
        Path link = runs.resolve("alpha/escape.txt");
        Files.createSymbolicLink(link, tmp.resolve("secret.txt"));
        for (String path : List.of("/files/alpha/../../secret.txt", "/files/alpha/%2e%2e/%2e%2e/secret.txt",
                "/files/alpha/%2E%2E/%2E%2E/secret.txt", "/files/alpha/..%2f..%2fsecret.txt", "/files/alpha/%2e%2e%2f%2e%2e%2fsecret.txt",
                "/files/..%2fsecret.txt", "/files/%2e%2e/secret.txt", "/files/alpha/..%5c..%5csecret.txt", "/files/alpha/%252e%252e/secret.txt",
                "/files/alpha//secret.txt", "/files/alpha/escape.txt", "/files/alpha/%00", "/files/alpha/%c0%ae%c0%ae/secret.txt",
                "/files/alpha/" + tmp.resolve("secret.txt"), "/api/runs/..", "/api/runs/%2e%2e")) {
            String response = raw("GET " + path + " HTTP/1.1", "127.0.0.1");
            assertTrue(response.startsWith("HTTP/1.1 400") || response.startsWith("HTTP/1.1 404"), path + " -> " + response.lines().findFirst().orElse(""));
            assertTrue(!response.contains("outside the runs directory"), path);
        }
        assertTrue(raw("GET /files/alpha/config.yaml HTTP/1.1", "127.0.0.1").startsWith("HTTP/1.1 200"));
    }

    @Test
    void itIsReadOnlyAndAnswersLocalhostOnly() throws Exception {
        for (String method : List.of("POST", "PUT", "DELETE", "PATCH")) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(dashboard.url().resolve("/files/alpha/config.yaml"))
                    .method(method, HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, r.statusCode(), method);
        }
        assertTrue(Files.readString(runs.resolve("alpha/config.yaml")).contains("max_steps"));
        // a page on another site that renames itself to this address (DNS rebinding) is turned away
        assertTrue(raw("GET /api/runs HTTP/1.1", "evil.example:8080").startsWith("HTTP/1.1 403"));
        assertTrue(raw("GET /api/runs HTTP/1.1", "localhost:8080").startsWith("HTTP/1.1 200"));
        assertTrue(raw("GET /api/runs HTTP/1.1", "[::1]:8080").startsWith("HTTP/1.1 200"));
        // a taken port is one line naming it
        int port = dashboard.url().getPort();
        String message = assertThrows(JgptException.class, () -> Dashboard.start(runs, "127.0.0.1", port)).getMessage();
        assertTrue(message.startsWith("--port " + port + ": cannot listen on 127.0.0.1:" + port), message);
        assertEquals("--port 70000: must be between 0 and 65535", assertThrows(JgptException.class, () -> Dashboard.start(runs, "127.0.0.1", 70000)).getMessage());
    }

    @Test
    void eventsStreamTheRunsAndNewMetricsLinesAsTheyAreWritten() throws Exception {
        HttpRequest request = HttpRequest.newBuilder(dashboard.url().resolve("/api/events?watch=alpha")).build();
        HttpResponse<java.io.InputStream> r = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
        assertEquals("text/event-stream; charset=utf-8", r.headers().firstValue("Content-Type").orElse(""));
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            JsonObject runsEvent = nextEvent(in, "runs");
            assertEquals("alpha", runsEvent.getAsJsonArray("runs").get(0).getAsJsonObject().get("name").getAsString());
            JsonObject first = nextEvent(in, "metrics");
            assertTrue(first.get("reset").getAsBoolean());
            assertEquals(15, first.getAsJsonArray("entries").size());

            // the run goes on: a new line, then half of one (a writer caught mid-line) that is sent once it is whole
            Path metrics = runs.resolve("alpha/metrics.jsonl");
            try (RunDirectory run = RunDirectory.open(runs.resolve("alpha"), new PrintStream(new ByteArrayOutputStream()))) {
                run.logTrain(10, 5.25, 1e-3, 1, 1, 1);
            }
            Files.writeString(metrics, "{\"type\":\"val\",\"step\":11,", java.nio.file.StandardOpenOption.APPEND);
            JsonObject next = nextEvent(in, "metrics");
            assertTrue(!next.get("reset").getAsBoolean());
            assertEquals(1, next.getAsJsonArray("entries").size());
            assertEquals(5.25, next.getAsJsonArray("entries").get(0).getAsJsonObject().get("loss").getAsDouble());
            Files.writeString(metrics, "\"loss\":NaN}\n", java.nio.file.StandardOpenOption.APPEND);
            JsonObject whole = nextEvent(in, "metrics");
            // JSON has no NaN: the browser gets the string
            assertEquals("NaN", whole.getAsJsonArray("entries").get(0).getAsJsonObject().get("loss").getAsString());
        }
    }

    /** The data of the next event named {@code name}, skipping others; fails after 20 s. */
    static JsonObject nextEvent(BufferedReader in, String name) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        String event = null;
        List<String> data = new ArrayList<>();
        String line;
        while ((line = in.readLine()) != null) {
            if (System.nanoTime() > deadline) break;
            if (line.startsWith("event: ")) event = line.substring(7);
            else if (line.startsWith("data: ")) data.add(line.substring(6));
            else if (line.isEmpty()) {
                if (name.equals(event) && !data.isEmpty()) return JsonParser.parseString(String.join("\n", data)).getAsJsonObject();
                event = null;
                data.clear();
            }
        }
        throw new AssertionError("no " + name + " event");
    }

    @Test
    void pathsAreDecodedOneSegmentAtATime() {
        assertEquals(List.of("files", "a b", "x.txt"), Dashboard.segments("/files/a%20b/x.txt"));
        assertEquals(List.of(), Dashboard.segments("/"));
        for (String bad : List.of("/files/..", "/files/%2e%2e", "/a/%2f", "/a//b", "/a/%", "/a/%zz", "/a/%c3", "relative", "/a/./b")) {
            assertEquals(null, Dashboard.segments(bad), bad);
        }
        assertNotNull(Dashboard.query("watch=a&watch=b%20c").get("watch"));
        assertEquals(List.of("a", "b c"), Dashboard.query("watch=a&watch=b%20c").get("watch"));
        assertTrue(Dashboard.isLocalHost("localhost:8080") && Dashboard.isLocalHost("127.0.0.1") && !Dashboard.isLocalHost("example.com"));
        assertEquals(URI.create("http://127.0.0.1:" + dashboard.url().getPort() + "/"), dashboard.url());
    }
}
