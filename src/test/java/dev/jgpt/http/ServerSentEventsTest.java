package dev.jgpt.http;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The event stream's wire format, as the HTML standard's parser reads it. */
class ServerSentEventsTest {
    @Test
    void eventsCommentsAndRetryOnTheWire() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            try (ex; ServerSentEvents sse = ServerSentEvents.open(ex)) {
                sse.retry(1500);
                sse.send("metrics", "{\"a\":1}");
                sse.comment("keep\nalive");
                sse.send("two\nlines\r\nand\rmore"); // every kind of line break starts a new data line
                assertThrows(IllegalArgumentException.class, () -> sse.send("bad\nname", "x"));
            }
        });
        server.start();
        try {
            HttpResponse<String> r = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals("text/event-stream; charset=utf-8", r.headers().firstValue("Content-Type").orElse(""));
            assertEquals("no-cache", r.headers().firstValue("Cache-Control").orElse(""));
            assertEquals("retry: 1500\n\n"
                    + "event: metrics\ndata: {\"a\":1}\n\n"
                    + ": keep alive\n\n"
                    + "data: two\ndata: lines\ndata: and\ndata: more\n\n", r.body());
        } finally {
            server.stop(0);
        }
    }
}
