package dev.jgpt.http;

import com.sun.net.httpserver.HttpExchange;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A server-sent event stream (text/event-stream, as the HTML standard defines it) on one response of
 * the JDK's HttpServer: the dashboard's live updates, and the shape of a streamed completion.
 * Every event is flushed as it is sent. A client that went away shows as an IOException from
 * {@link #send}, which ends the stream.
 */
public final class ServerSentEvents implements AutoCloseable {
    private final OutputStream out;

    private ServerSentEvents(OutputStream out) {
        this.out = out;
    }

    /** Answers {@code exchange} with 200 and an open event stream (chunked: no length is known). */
    public static ServerSentEvents open(HttpExchange exchange) throws IOException {
        var h = exchange.getResponseHeaders();
        h.set("Content-Type", "text/event-stream; charset=utf-8");
        h.set("Cache-Control", "no-cache");
        h.set("X-Accel-Buffering", "no"); // a proxy in front must not hold events back
        exchange.sendResponseHeaders(200, 0);
        return new ServerSentEvents(exchange.getResponseBody());
    }

    /** An event named {@code event} (null: the default "message"); a newline in {@code data} splits it over data lines. */
    public synchronized void send(String event, String data) throws IOException {
        StringBuilder sb = new StringBuilder();
        if (event != null) {
            if (event.contains("\n") || event.contains("\r")) throw new IllegalArgumentException("event name with a line break");
            sb.append("event: ").append(event).append('\n');
        }
        for (String line : data.split("\r\n|\r|\n", -1)) sb.append("data: ").append(line).append('\n');
        sb.append('\n');
        write(sb.toString());
    }

    /** An unnamed event: the client's onmessage gets it (what OpenAI's streaming API sends). */
    public void send(String data) throws IOException {
        send(null, data);
    }

    /** How long the client waits before reconnecting after the stream breaks. */
    public synchronized void retry(int millis) throws IOException {
        write("retry: " + millis + "\n\n");
    }

    /** A comment line, which clients ignore: keeps idle connections (and proxies) from timing out. */
    public synchronized void comment(String text) throws IOException {
        write(": " + text.replace('\n', ' ') + "\n\n");
    }

    private void write(String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }
}
