package dev.jgpt.track;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.jgpt.JgptException;
import dev.jgpt.http.ServerSentEvents;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The runs of a runs directory as a local web page, on the JDK's HttpServer. Read-only: it answers
 * GET and HEAD, and serves
 *
 * <pre>
 * /                      the page (dashboard.html, .js, .css and uPlot, all from the jar: no network needed)
 * /api/runs              every run's summary, as jgpt runs --json prints it
 * /api/runs/NAME         one run in full, as jgpt runs show NAME --json prints it
 * /api/events?watch=NAME server-sent events: "runs" (the summaries, whenever they change) and
 *                        "metrics" (the watched runs' metrics lines, all at first, then each new one)
 * /files/NAME/PATH       a file of a run (config.yaml, metrics.jsonl, console.log, ...)
 * </pre>
 *
 * Paths are decoded one segment at a time and a segment that is empty, "." or "..", or decodes to
 * something holding a slash, is refused, so nothing outside the runs directory can be named (nor
 * reached through a link: the real path is checked too). Bound to the loopback address it answers
 * only requests addressed to localhost, so a web page elsewhere cannot read it by renaming itself.
 */
public final class Dashboard implements AutoCloseable {
    /** How often an event stream looks at the files for news. */
    static final int POLL_MILLIS = 500;
    private static final int KEEP_ALIVE_MILLIS = 15_000;
    private static final int ENTRIES_PER_EVENT = 4000;
    private static final Gson GSON = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();

    /** The page's files: URL name -> classpath resource and content type. */
    private static final Map<String, String[]> ASSETS = Map.of(
            "dashboard.js", new String[] {"/dev/jgpt/track/dashboard/dashboard.js", "text/javascript; charset=utf-8"},
            "dashboard.css", new String[] {"/dev/jgpt/track/dashboard/dashboard.css", "text/css; charset=utf-8"},
            "uPlot.iife.min.js", new String[] {"/META-INF/resources/webjars/uplot/1.6.30/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"},
            "uPlot.min.css", new String[] {"/META-INF/resources/webjars/uplot/1.6.30/dist/uPlot.min.css", "text/css; charset=utf-8"});

    private final Path runsDir;
    private final String shownDir; // as the user named it: the page shows no more of the machine than that
    private final RunIndex index;
    private final HttpServer server;
    private final ExecutorService executor;
    private final boolean loopbackOnly;
    private volatile boolean stopped;

    private Dashboard(Path runsDir, HttpServer server, ExecutorService executor, boolean loopbackOnly) {
        this.runsDir = runsDir.toAbsolutePath().normalize();
        this.shownDir = runsDir.toString();
        this.index = new RunIndex(runsDir);
        this.server = server;
        this.executor = executor;
        this.loopbackOnly = loopbackOnly;
    }

    /** Serves {@code runsDir} on {@code host}:{@code port} (port 0: any free one). The folder may not exist yet. */
    public static Dashboard start(Path runsDir, String host, int port) {
        if (port < 0 || port > 65535) throw new JgptException("--port " + port + ": must be between 0 and 65535");
        if (Files.exists(runsDir) && !Files.isDirectory(runsDir)) throw new JgptException("--dir " + runsDir + ": not a directory");
        InetAddress address;
        try {
            address = InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new JgptException("--host " + host + ": unknown host");
        }
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(address, port), 0);
        } catch (BindException e) {
            throw new JgptException("--port " + port + ": cannot listen on " + host + ":" + port + " (" + e.getMessage()
                    + "); is another dashboard running? choose another --port");
        } catch (IOException e) {
            throw new JgptException("cannot listen on " + host + ":" + port + " (" + e.getMessage() + ")", e);
        }
        // an event stream holds its thread for as long as the page is open: virtual threads cost nothing to hold
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        Dashboard d = new Dashboard(runsDir, server, executor, address.isLoopbackAddress());
        server.createContext("/", d::handle);
        server.setExecutor(executor);
        server.start();
        return d;
    }

    /** The address the page is at. */
    public URI url() {
        InetSocketAddress a = server.getAddress();
        String host = a.getAddress().isAnyLocalAddress() ? "localhost" : a.getAddress().getHostAddress();
        if (host.contains(":")) host = "[" + host + "]";
        return URI.create("http://" + host + ":" + a.getPort() + "/");
    }

    @Override
    public void close() {
        stopped = true;
        server.stop(0);
        executor.shutdownNow();
    }

    // ---- requests ------------------------------------------------------------------------------

    private void handle(HttpExchange ex) {
        try (ex) {
            ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
            ex.getResponseHeaders().set("Referrer-Policy", "no-referrer");
            String method = ex.getRequestMethod();
            if (!method.equals("GET") && !method.equals("HEAD")) {
                ex.getResponseHeaders().set("Allow", "GET, HEAD");
                text(ex, 405, "read-only: GET and HEAD only\n");
                return;
            }
            if (loopbackOnly && !isLocalHost(ex.getRequestHeaders().getFirst("Host"))) {
                text(ex, 403, "this dashboard answers requests to localhost only\n");
                return;
            }
            List<String> path = segments(ex.getRequestURI().getRawPath());
            if (path == null) {
                text(ex, 400, "bad path\n");
                return;
            }
            route(ex, path);
        } catch (IOException e) {
            // the browser went away mid-answer: nothing to tell anyone
        } catch (RuntimeException e) {
            try {
                text(ex, 500, "internal error: " + e + "\n");
            } catch (IOException | RuntimeException ignored) {
                // the headers were already sent
            }
        }
    }

    private void route(HttpExchange ex, List<String> p) throws IOException {
        if (p.isEmpty() || (p.size() == 1 && p.getFirst().equals("index.html"))) {
            resource(ex, "/dev/jgpt/track/dashboard/dashboard.html", "text/html; charset=utf-8");
        } else if (p.size() == 2 && p.get(0).equals("assets") && ASSETS.containsKey(p.get(1))) {
            String[] a = ASSETS.get(p.get(1));
            resource(ex, a[0], a[1]);
        } else if (p.equals(List.of("api", "runs"))) {
            json(ex, 200, runsJson());
        } else if (p.size() == 3 && p.get(0).equals("api") && p.get(1).equals("runs")) {
            RunInfo r = index.find(p.get(2));
            if (r == null) text(ex, 404, "no run " + p.get(2) + "\n");
            else json(ex, 200, GSON.toJson(r.toJson(true)));
        } else if (p.equals(List.of("api", "events"))) {
            events(ex, query(ex.getRequestURI().getRawQuery()).getOrDefault("watch", List.of()));
        } else if (p.size() >= 3 && p.get(0).equals("files")) {
            file(ex, p.subList(1, p.size()));
        } else {
            text(ex, 404, "not found\n");
        }
    }

    private String runsJson() {
        JsonObject o = new JsonObject();
        o.addProperty("dir", shownDir);
        JsonArray runs = new JsonArray();
        for (RunInfo r : index.list()) runs.add(r.toJson(false));
        o.add("runs", runs);
        return GSON.toJson(o);
    }

    /** A file of a run: only regular files whose real path lies inside the runs directory. */
    private void file(HttpExchange ex, List<String> p) throws IOException {
        if (index.runDir(p.getFirst()) == null) {
            text(ex, 404, "no run " + p.getFirst() + "\n");
            return;
        }
        Path file = runsDir;
        for (String s : p) file = file.resolve(s);
        file = file.normalize();
        Path real;
        try {
            real = file.toRealPath();
            if (!file.startsWith(runsDir) || !real.startsWith(runsDir.toRealPath()) || !Files.isRegularFile(real)) {
                text(ex, 404, "not found\n");
                return;
            }
        } catch (NoSuchFileException e) {
            text(ex, 404, "not found\n");
            return;
        }
        String name = real.getFileName().toString();
        String type = name.endsWith(".json") ? "application/json; charset=utf-8"
                : name.endsWith(".yaml") || name.endsWith(".jsonl") || name.endsWith(".log") || name.endsWith(".txt")
                ? "text/plain; charset=utf-8" : "application/octet-stream";
        ex.getResponseHeaders().set("Content-Type", type);
        if (type.startsWith("application/octet-stream")) {
            ex.getResponseHeaders().set("Content-Disposition", "attachment; filename=\"" + name.replaceAll("[^A-Za-z0-9._-]", "_") + "\"");
        }
        long size = Files.size(real);
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(200, -1);
            return;
        }
        ex.sendResponseHeaders(200, size == 0 ? -1 : size);
        if (size > 0) {
            try (OutputStream out = ex.getResponseBody(); InputStream in = Files.newInputStream(real)) {
                in.transferTo(out);
            }
        }
    }

    // ---- live updates --------------------------------------------------------------------------

    /** Sends the summaries when they change and the watched runs' new metrics lines, until the page closes. */
    private void events(HttpExchange ex, List<String> watch) throws IOException {
        List<Tail> tails = new ArrayList<>();
        for (String name : watch) {
            Path dir = index.runDir(name);
            if (dir != null && tails.stream().noneMatch(t -> t.name.equals(name))) tails.add(new Tail(name, dir.resolve(RunDirectory.METRICS_FILE)));
        }
        try (ServerSentEvents sse = ServerSentEvents.open(ex)) {
            sse.retry(2000);
            String lastRuns = null;
            long lastSent = System.currentTimeMillis();
            while (!stopped) {
                String runs = runsJson();
                if (!runs.equals(lastRuns)) {
                    sse.send("runs", runs);
                    lastRuns = runs;
                    lastSent = System.currentTimeMillis();
                }
                for (Tail t : tails) if (t.poll(sse)) lastSent = System.currentTimeMillis();
                if (System.currentTimeMillis() - lastSent > KEEP_ALIVE_MILLIS) {
                    sse.comment("still here");
                    lastSent = System.currentTimeMillis();
                }
                try {
                    Thread.sleep(POLL_MILLIS);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    /**
     * Follows one metrics.jsonl: remembers how far it has sent (whole lines only, so a line being
     * written is sent once it is complete) and starts over when the file is replaced or shrinks
     * (a resumed run drops the metrics after its checkpoint).
     */
    private static final class Tail {
        final String name;
        final Path file;
        Object fileKey;
        long offset;
        int lines;
        boolean started;

        Tail(String name, Path file) {
            this.name = name;
            this.file = file;
        }

        /** Sends what is new; returns whether anything was sent. */
        boolean poll(ServerSentEvents sse) throws IOException {
            BasicFileAttributes a;
            try {
                a = Files.readAttributes(file, BasicFileAttributes.class);
            } catch (IOException e) {
                a = null; // no metrics yet
            }
            boolean reset = !started;
            long size = a == null ? 0 : a.size();
            Object key = a == null ? null : a.fileKey();
            if (started && (size < offset || !Objects.equals(key, fileKey))) reset = true;
            if (reset) {
                offset = 0;
                lines = 0;
            }
            fileKey = key;
            started = true;
            List<Metrics.Entry> entries = new ArrayList<>();
            if (size > offset) {
                byte[] bytes = readFrom(offset, size);
                int end = MetricsCache.lastNewline(bytes) + 1; // a line still being written waits for its newline
                if (end > 0) {
                    String text = MetricsCache.decode(bytes, end);
                    Metrics.parseLenient(text, file, lines, entries, new Problems()); // problems are in the run's summary
                    offset += end;
                    lines += (int) text.chars().filter(c -> c == '\n').count();
                }
            }
            if (!reset && entries.isEmpty()) return false;
            for (int from = 0; from < Math.max(1, entries.size()); from += ENTRIES_PER_EVENT) {
                JsonObject o = new JsonObject();
                o.addProperty("run", name);
                o.addProperty("reset", reset && from == 0);
                JsonArray list = new JsonArray();
                for (Metrics.Entry e : entries.subList(from, Math.min(entries.size(), from + ENTRIES_PER_EVENT))) {
                    list.add(RunInfo.entryJson(e));
                }
                o.add("entries", list);
                sse.send("metrics", GSON.toJson(o));
            }
            return true;
        }

        private byte[] readFrom(long from, long to) throws IOException {
            try (SeekableByteChannel ch = Files.newByteChannel(file)) {
                return MetricsCache.read(ch, from, (int) Math.min(to - from, 64L << 20));
            }
        }
    }

    // ---- plumbing ------------------------------------------------------------------------------

    /**
     * The path's segments, each percent-decoded on its own; null when one is empty, "." or "..", or
     * decodes to a slash, a backslash or a NUL (so %2e%2e and %2f cannot climb out), or is not UTF-8.
     */
    static List<String> segments(String rawPath) {
        if (rawPath == null || !rawPath.startsWith("/")) return null;
        List<String> out = new ArrayList<>();
        String[] parts = rawPath.substring(1).split("/", -1);
        for (int i = 0; i < parts.length; i++) {
            if (parts[i].isEmpty() && i == parts.length - 1) break; // a trailing slash
            String s = percentDecode(parts[i]);
            if (s == null || s.isEmpty() || s.equals(".") || s.equals("..") || s.contains("/") || s.contains("\\")
                    || s.indexOf('\0') >= 0) {
                return null;
            }
            out.add(s);
        }
        return out;
    }

    private static String percentDecode(String s) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%') {
                if (i + 2 >= s.length()) return null;
                int hi = Character.digit(s.charAt(i + 1), 16), lo = Character.digit(s.charAt(i + 2), 16);
                if (hi < 0 || lo < 0) return null;
                b.write(hi * 16 + lo);
                i += 2;
            } else if (c < 0x80) {
                b.write(c);
            } else {
                return null; // a raw path is ASCII
            }
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(b.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    /** The query's parameters (repeatable), percent-decoded; '+' is a space, as forms write it. */
    static Map<String, List<String>> query(String raw) {
        Map<String, List<String>> q = new LinkedHashMap<>();
        if (raw == null) return q;
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String k = percentDecode(eq < 0 ? pair : pair.substring(0, eq));
            String v = percentDecode((eq < 0 ? "" : pair.substring(eq + 1)).replace("+", "%20"));
            if (k != null && v != null) q.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
        }
        return q;
    }

    static boolean isLocalHost(String hostHeader) {
        if (hostHeader == null) return false;
        String h = hostHeader.toLowerCase(Locale.ROOT);
        if (h.startsWith("[")) h = h.substring(0, h.indexOf(']') + 1);
        else if (h.contains(":")) h = h.substring(0, h.indexOf(':'));
        return h.equals("localhost") || h.equals("127.0.0.1") || h.equals("[::1]");
    }

    private static void resource(HttpExchange ex, String name, String type) throws IOException {
        try (InputStream in = Dashboard.class.getResourceAsStream(name)) {
            if (in == null) {
                text(ex, 500, "missing from the jar: " + name + "\n");
                return;
            }
            byte[] body = in.readAllBytes();
            ex.getResponseHeaders().set("Content-Type", type);
            ex.getResponseHeaders().set("Cache-Control", "no-cache");
            if (type.startsWith("text/html")) {
                ex.getResponseHeaders().set("Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
            }
            send(ex, 200, body);
        }
    }

    private static void json(HttpExchange ex, int status, String json) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        send(ex, status, json.getBytes(StandardCharsets.UTF_8));
    }

    private static void text(HttpExchange ex, int status, String text) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        send(ex, status, text.getBytes(StandardCharsets.UTF_8));
    }

    private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }
}
