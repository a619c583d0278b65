package dev.jgpt.io;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.jgpt.JgptException;
import dev.jgpt.model.Gpt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The downloader against a real HTTP server (the JDK's), which drops connections, ignores Range
 * requests, corrupts bodies and answers like the HuggingFace Hub's file API.
 */
class DownloadTest {
    /** How the server serves one path. */
    static final class Served {
        final byte[] body;
        boolean ranges = true;       // answer "Range: bytes=N-" with 206 and the rest
        int drops;                   // this many responses end after dropAt bytes
        int dropAt;
        int failures;                // this many responses are HTTP 503
        int flipByte = -1;           // send this byte wrong
        String contentType = "application/octet-stream";
        String redirect;             // answer 302 to this path instead, as the Hub does for LFS files

        Served(String redirect) {
            this.body = null;
            this.redirect = redirect;
        }

        Served(byte[] body) {
            this.body = body;
        }
    }

    HttpServer server;
    final Map<String, Served> served = new ConcurrentHashMap<>();
    /** "PATH RANGE-HEADER" of every request, in order. */
    final List<String> requests = new CopyOnWriteArrayList<>();
    final ByteArrayOutputStream log = new ByteArrayOutputStream();
    Download download;

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
        download = new Download(4, Duration.ZERO, Duration.ofSeconds(10), new PrintStream(log, true, StandardCharsets.UTF_8), false);
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + path);
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath() + (ex.getRequestURI().getRawQuery() == null ? "" : "?" + ex.getRequestURI().getRawQuery());
        String range = ex.getRequestHeaders().getFirst("Range");
        requests.add(path + " " + range);
        Served s = served.get(path);
        if (s == null) {
            ex.sendResponseHeaders(404, -1);
            ex.close();
            return;
        }
        if (s.redirect != null) {
            ex.getResponseHeaders().add("Location", s.redirect);
            ex.sendResponseHeaders(302, -1);
            ex.close();
            return;
        }
        if (s.failures > 0) {
            s.failures--;
            ex.sendResponseHeaders(503, -1);
            ex.close();
            return;
        }
        byte[] body = s.body.clone();
        if (s.flipByte >= 0) body[s.flipByte] ^= 0x5A;
        int from = 0;
        ex.getResponseHeaders().add("Content-Type", s.contentType);
        if (range != null && s.ranges) {
            from = Integer.parseInt(range.substring("bytes=".length(), range.length() - 1));
            if (from >= body.length) {
                ex.getResponseHeaders().add("Content-Range", "bytes */" + body.length);
                ex.sendResponseHeaders(416, -1);
                ex.close();
                return;
            }
            ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
            ex.sendResponseHeaders(206, body.length - from);
        } else {
            ex.sendResponseHeaders(200, body.length);
        }
        OutputStream out = ex.getResponseBody();
        if (s.drops > 0) {
            s.drops--;
            out.write(body, from, Math.max(0, s.dropAt - from));
            out.flush();
            ex.close(); // fewer bytes than Content-Length: the server drops the connection
            return;
        }
        out.write(body, from, body.length - from);
        ex.close();
    }

    static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    static Set<String> files(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return Set.of();
        try (Stream<Path> s = Files.list(dir)) {
            return new TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void resumesWithARangeRequestAfterTheConnectionDrops(@TempDir Path tmp) throws Exception {
        byte[] body = randomBytes(700_000, 1);
        Served s = new Served(body);
        s.drops = 1;
        s.dropAt = 300_000;
        served.put("/big.bin", s);
        Path dest = tmp.resolve("big.bin");
        download.fetch(new Download.Remote(url("/big.bin"), dest, body.length, sha256(body)));
        assertArrayEquals(body, Files.readAllBytes(dest));
        assertEquals(List.of("/big.bin null", "/big.bin bytes=300000-"), requests);
        assertEquals(Set.of("big.bin"), files(tmp));
        assertTrue(log.toString().contains("trying again"), log.toString());
    }

    @Test
    void startsOverWhenTheServerIgnoresRange(@TempDir Path tmp) throws Exception {
        byte[] body = randomBytes(500_000, 2);
        Served s = new Served(body);
        s.ranges = false;
        s.drops = 1;
        s.dropAt = 200_000;
        served.put("/norange.bin", s);
        Path dest = tmp.resolve("norange.bin");
        download.fetch(new Download.Remote(url("/norange.bin"), dest, body.length, sha256(body)));
        assertArrayEquals(body, Files.readAllBytes(dest));
        assertEquals(List.of("/norange.bin null", "/norange.bin bytes=200000-"), requests); // asked to resume, got it all
        assertTrue(log.toString().contains("does not resume downloads; starting over"), log.toString());
        assertEquals(Set.of("norange.bin"), files(tmp));
    }

    @Test
    void aPartLeftByAnEarlierRunIsContinuedByTheNext(@TempDir Path tmp) throws Exception {
        byte[] body = randomBytes(400_000, 3);
        Served s = new Served(body);
        s.drops = 1;
        s.dropAt = 123_456;
        served.put("/f.bin", s);
        Path dest = tmp.resolve("f.bin");
        Download once = new Download(1, Duration.ZERO, Duration.ofSeconds(10), null, false);
        Download.Remote remote = new Download.Remote(url("/f.bin"), dest); // size and sha256 unknown, as on GitHub
        JgptException e = assertThrows(JgptException.class, () -> once.fetch(remote));
        assertTrue(e.getMessage().startsWith("cannot download " + url("/f.bin") + ": "), e.getMessage());
        assertFalse(Files.exists(dest), "nothing under the final name unless complete");
        assertEquals(123_456, Files.size(AtomicFiles.partFile(dest)));

        download.fetch(remote);
        assertArrayEquals(body, Files.readAllBytes(dest));
        assertEquals("/f.bin bytes=123456-", requests.getLast());
        assertEquals(Set.of("f.bin"), files(tmp));
        // complete: a second fetch asks nothing
        download.fetch(remote);
        assertEquals(2, requests.size());
    }

    @Test
    void aCorruptBodyIsDeletedAndNamed(@TempDir Path tmp) throws Exception {
        byte[] body = randomBytes(100_000, 4);
        Served s = new Served(body);
        s.flipByte = 54_321;
        served.put("/model.safetensors", s);
        Path dest = tmp.resolve("model.safetensors");
        JgptException e = assertThrows(JgptException.class,
                () -> download.fetch(new Download.Remote(url("/model.safetensors"), dest, body.length, sha256(body))));
        assertTrue(e.getMessage().startsWith("cannot download " + url("/model.safetensors") + ": its sha256 is "), e.getMessage());
        assertTrue(e.getMessage().contains("expected " + sha256(body)), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        assertEquals(Set.of(), files(tmp), "neither the file nor its part is kept");
        assertEquals(1, requests.size(), "a corrupt fresh download is not fetched again");
    }

    @Test
    void aCorruptResumedFileIsFetchedOnceMoreFromTheStart(@TempDir Path tmp) throws Exception {
        byte[] body = randomBytes(100_000, 5);
        served.put("/r.bin", new Served(body));
        Path dest = tmp.resolve("r.bin");
        byte[] stale = randomBytes(30_000, 6); // an old part of some other file
        Files.write(AtomicFiles.partFile(dest), stale);
        download.fetch(new Download.Remote(url("/r.bin"), dest, body.length, sha256(body)));
        assertArrayEquals(body, Files.readAllBytes(dest));
        assertEquals(List.of("/r.bin bytes=30000-", "/r.bin null"), requests);
    }

    @Test
    void theSizeIsChecked(@TempDir Path tmp) throws Exception {
        byte[] body = randomBytes(10_000, 7);
        served.put("/s.bin", new Served(body));
        Path dest = tmp.resolve("s.bin");
        JgptException e = assertThrows(JgptException.class,
                () -> download.fetch(new Download.Remote(url("/s.bin"), dest, body.length + 5, null)));
        assertEquals("cannot download " + url("/s.bin") + ": the server sends 10000 bytes, expected 10005", e.getMessage());
        assertEquals(Set.of(), files(tmp));
    }

    @Test
    void busyServersAreTriedAgainMissingFilesAreNot(@TempDir Path tmp) throws Exception {
        byte[] body = "{\"ok\": true}".getBytes(StandardCharsets.UTF_8);
        Served s = new Served(body);
        s.failures = 2;
        served.put("/busy.json", s);
        assertEquals("{\"ok\": true}", download.text(url("/busy.json")));
        assertEquals(3, requests.size());

        JgptException e = assertThrows(JgptException.class, () -> download.fetch(new Download.Remote(url("/gone.bin"), tmp.resolve("gone.bin"))));
        assertEquals("cannot download " + url("/gone.bin") + ": HTTP 404 Not Found", e.getMessage());
        assertEquals(4, requests.size());
        assertEquals(Set.of(), files(tmp));
    }

    @Test
    void offlineIsOneLineNamingTheUrl(@TempDir Path tmp) throws IOException {
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort(); // closed again: nothing listens there
        }
        URI url = URI.create("http://127.0.0.1:" + port + "/openai-community/gpt2/resolve/main/model.safetensors");
        JgptException e = assertThrows(JgptException.class, () -> download.fetch(new Download.Remote(url, tmp.resolve("m"))));
        assertTrue(e.getMessage().startsWith("cannot download " + url + ": "), e.getMessage());
        assertTrue(e.getMessage().endsWith("(4 tries; offline?)"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        assertEquals(Set.of(), files(tmp));
        // the folders made for the file go too (prepare --source shakespeare offline left an empty data/downloads)
        assertThrows(JgptException.class, () -> download.fetch(new Download.Remote(url, tmp.resolve("data/downloads/m"))));
        assertEquals(Set.of(), files(tmp));
    }

    @Test
    void aDownloadLargerThanTheFreeDiskIsRefusedBeforeItStarts(@TempDir Path tmp) {
        served.put("/huge.bin", new Served(new byte[10]));
        Path dir = tmp.resolve("models/huge");
        long petabyte = 1L << 50;
        JgptException e = assertThrows(JgptException.class, () -> download.fetchAll("huge", dir,
                List.of(new Download.Remote(url("/huge.bin"), dir.resolve("huge.bin"), petabyte, null))));
        assertTrue(e.getMessage().startsWith("not enough disk space for huge in " + dir + ": it needs 1125899.91 GB, "), e.getMessage());
        assertTrue(log.toString().startsWith("huge: 1 file, 1125899.91 GB to download into " + dir + " ("), log.toString());
        assertTrue(requests.isEmpty());
        assertFalse(Files.exists(dir));
    }

    /** The Hub's file API as the real one answers: a tree listing with sizes and LFS sha256, files under resolve/main. */
    @Test
    void aGpt2FolderFromTheHub(@TempDir Path tmp) throws Exception {
        Path fixture = Path.of("src/test/resources/fixtures/tiny/hf");
        byte[] config = Files.readAllBytes(fixture.resolve("config.json"));
        byte[] weights = Files.readAllBytes(fixture.resolve("model.safetensors"));
        byte[] other = randomBytes(1000, 8);
        String listing = "[" + String.join(",",
                "{\"type\":\"file\",\"oid\":\"4a8f\",\"size\":" + config.length + ",\"path\":\"config.json\"}",
                "{\"type\":\"directory\",\"oid\":\"77aa\",\"size\":0,\"path\":\"onnx\"}",
                "{\"type\":\"file\",\"oid\":\"c0ff\",\"size\":" + weights.length + ",\"path\":\"model.safetensors\","
                        + "\"lfs\":{\"oid\":\"" + sha256(weights) + "\",\"size\":" + weights.length + ",\"pointerSize\":135}}",
                "{\"type\":\"file\",\"oid\":\"beef\",\"size\":1000,\"path\":\"pytorch_model.bin\","
                        + "\"lfs\":{\"oid\":\"" + sha256(other) + "\",\"size\":1000,\"pointerSize\":134}}") + "]";
        served.put("/api/models/openai-community/gpt2/tree/main", new Served(listing.getBytes(StandardCharsets.UTF_8)));
        served.put("/openai-community/gpt2/resolve/main/config.json", new Served(config));
        Served w = new Served(weights);
        w.drops = 1;
        w.dropAt = weights.length / 3;
        // LFS files redirect to a storage host; the resumed request must reach it with its Range too
        served.put("/openai-community/gpt2/resolve/main/model.safetensors", new Served("/storage/c0ff?signed=1"));
        served.put("/storage/c0ff?signed=1", w);
        served.put("/openai-community/gpt2/resolve/main/pytorch_model.bin", new Served(other));

        HuggingFaceHub hub = new HuggingFaceHub(url("/"));
        Path dir = tmp.resolve("models/gpt2");
        List<Download.Remote> files = Downloads.model(hub, download, "gpt2", dir);
        assertEquals(List.of("config.json", "model.safetensors"), files.stream().map(f -> f.dest().getFileName().toString()).toList());
        assertEquals(sha256(weights), files.get(1).sha256());
        assertEquals(null, files.getFirst().sha256()); // a Git file: its size only
        download.fetchAll("gpt2", dir, files);
        assertEquals(Set.of("config.json", "model.safetensors"), files(dir));
        Gpt model = ModelFiles.load(dir);
        assertArrayEquals(ModelFiles.load(fixture).params(), model.params());
        assertFalse(requests.stream().anyMatch(r -> r.contains("pytorch_model.bin")));
        assertTrue(log.toString().startsWith("gpt2: 2 files, "), log.toString());
        assertTrue(requests.contains("/storage/c0ff?signed=1 bytes=" + weights.length / 3 + "-"), requests.toString());

        // again: nothing to do, nothing asked
        int asked = requests.size();
        download.fetchAll("gpt2", dir, Downloads.model(hub, download, "gpt2", dir));
        assertEquals(asked + 1, requests.size()); // the listing only
    }

    /** A mirror that answers the file API with a web page or other JSON is one line naming the URL, without the JSON parser's words. */
    @Test
    void aFileListThatIsNotTheHubsIsOneLineNamingIt(@TempDir Path tmp) throws Exception {
        String tree = "/api/models/openai-community/gpt2/tree/main";
        HuggingFaceHub hub = new HuggingFaceHub(url("/"));
        for (String[] answer : new String[][]{
                {"<html><body>Sign in</body></html>", "not JSON (malformed JSON at line 1 column"},
                {"{\"error\": \"Repository not found\"}", "not a JSON array of files"},
                {"[\"config.json\"]", "an entry is not a JSON object: \"config.json\""},
                {"[{\"type\": \"file\", \"size\": 5}]", "a file without a path"},
                {"[{\"type\": \"file\", \"path\": \"model.safetensors\", \"size\": \"big\"}]", "a file without"},
                {"[{\"type\": \"file\", \"path\": \"model.safetensors\", \"size\": 5, \"lfs\": {\"size\": 5}}]", "oid"}}) {
            served.put(tree, new Served(answer[0].getBytes(StandardCharsets.UTF_8)));
            JgptException e = assertThrows(JgptException.class, () -> Downloads.model(hub, download, "gpt2", tmp));
            assertTrue(e.getMessage().startsWith("cannot read the file list at " + url(tree) + ": "), e.getMessage());
            assertTrue(e.getMessage().contains(answer[1]), answer[1] + " missing from: " + e.getMessage());
            assertFalse(e.getMessage().contains("\n") || e.getMessage().contains("gson") || e.getMessage().contains("Exception")
                    || e.getMessage().contains("null"), e.getMessage());
        }
        assertEquals(Set.of(), files(tmp));
    }

    @Test
    void fineWebEduFilesInNameOrderAndMaxFiles(@TempDir Path tmp) throws Exception {
        List<String> entries = new ArrayList<>();
        for (String name : List.of("001_00000.parquet", "000_00000.parquet", "002_00000.parquet")) {
            byte[] b = name.getBytes(StandardCharsets.UTF_8);
            entries.add("{\"type\":\"file\",\"oid\":\"1\",\"size\":" + b.length + ",\"path\":\"sample/10BT/" + name + "\","
                    + "\"lfs\":{\"oid\":\"" + sha256(b) + "\",\"size\":" + b.length + ",\"pointerSize\":134}}");
            served.put("/datasets/HuggingFaceFW/fineweb-edu/resolve/main/sample/10BT/" + name, new Served(b));
        }
        served.put("/api/datasets/HuggingFaceFW/fineweb-edu/tree/main/sample/10BT",
                new Served(("[" + String.join(",", entries) + "]").getBytes(StandardCharsets.UTF_8)));
        HuggingFaceHub hub = new HuggingFaceHub(url(""));
        Path dir = tmp.resolve("fw");
        List<Download.Remote> two = Downloads.finewebEdu(hub, download, dir, 2);
        download.fetchAll("fineweb-edu", dir, two);
        assertEquals(Set.of("000_00000.parquet", "001_00000.parquet"), files(dir));
        assertEquals("000_00000.parquet", Files.readString(dir.resolve("000_00000.parquet")));
        assertEquals(3, Downloads.finewebEdu(hub, download, dir, 0).size());
    }

    @Test
    void theCommandRefusesWhatItCannotDo() {
        var err = new java.io.StringWriter();
        var cl = dev.jgpt.cli.Main.commandLine();
        cl.setErr(new java.io.PrintWriter(err, true));
        assertEquals(1, cl.execute("download", "gpt3"));
        assertEquals(1, cl.execute("download", "gpt2", "--max-files", "2"));
        assertEquals("jgpt download: no such download 'gpt3' (one of: gpt2, gpt2-medium, gpt2-large, gpt2-xl, hellaswag, fineweb-edu)\n"
                + "jgpt download: --max-files applies to fineweb-edu only\n", err.toString().replace("\r", ""));
    }

    /** {@code jgpt ARGS} in a child JVM in {@code cwd}, with HF_ENDPOINT set as a user sets it. */
    record Cli(int exit, String out, String err) {
        /** stderr without the JVM's note on the incubating Vector API. */
        List<String> errLines() {
            return err.lines().filter(l -> !l.contains("incubator modules")).toList();
        }
    }

    static Cli jgpt(Path cwd, String endpoint, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "-cp", System.getProperty("java.class.path"), dev.jgpt.cli.Main.class.getName()));
        cmd.addAll(List.of(args));
        Path logs = Files.createTempDirectory("jgpt-cli");
        try {
            ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile())
                    .redirectOutput(logs.resolve("out").toFile()).redirectError(logs.resolve("err").toFile());
            pb.environment().put("HF_ENDPOINT", endpoint);
            pb.environment().remove("JGPT_TTY");
            Process p = pb.start();
            assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "jgpt " + String.join(" ", args) + " did not finish");
            return new Cli(p.exitValue(), Files.readString(logs.resolve("out")), Files.readString(logs.resolve("err")));
        } finally {
            AtomicFiles.deleteTree(logs);
        }
    }

    /** The stand-in Hub serves openai-community/gpt2 as the tiny fixture: config, weights and a card of the Hub's. */
    void serveGpt2(boolean weightsThere) throws Exception {
        Path fixture = Path.of("src/test/resources/fixtures/tiny/hf");
        byte[] config = Files.readAllBytes(fixture.resolve("config.json"));
        byte[] weights = Files.readAllBytes(fixture.resolve("model.safetensors"));
        byte[] card = "# gpt2 from the Hub\n".getBytes(StandardCharsets.UTF_8);
        served.put("/api/models/openai-community/gpt2/tree/main", new Served(("[" + String.join(",",
                "{\"type\":\"file\",\"size\":" + config.length + ",\"path\":\"config.json\"}",
                "{\"type\":\"file\",\"size\":" + weights.length + ",\"path\":\"model.safetensors\","
                        + "\"lfs\":{\"oid\":\"" + sha256(weights) + "\",\"size\":" + weights.length + "}}",
                "{\"type\":\"file\",\"size\":" + card.length + ",\"path\":\"README.md\"}") + "]").getBytes(StandardCharsets.UTF_8)));
        served.put("/openai-community/gpt2/resolve/main/config.json", new Served(config));
        served.put("/openai-community/gpt2/resolve/main/README.md", new Served(card));
        if (weightsThere) served.put("/openai-community/gpt2/resolve/main/model.safetensors", new Served(weights));
        else served.remove("/openai-community/gpt2/resolve/main/model.safetensors");
    }

    /** Files jgpt did not write are never replaced; a model folder it (or the Hub) wrote is downloaded into again. */
    @Test
    void aFolderOfOtherFilesIsRefusedAModelFolderIsRewritten(@TempDir Path tmp) throws Exception {
        serveGpt2(true);
        String hub = url("/").toString();
        Path notes = Files.createDirectories(tmp.resolve("notes"));
        Files.writeString(notes.resolve("README.md"), "notes\n");
        Cli refused = jgpt(tmp, hub, "download", "gpt2", "--out", "notes");
        assertEquals(1, refused.exit(), refused.err());
        assertEquals(List.of("jgpt download: --out notes: not empty and not a GPT-2 model folder (it holds README.md), so jgpt"
                + " will not write over it: give a new or empty folder"), refused.errLines());
        assertEquals(Set.of("README.md"), files(notes));
        assertEquals("notes\n", Files.readString(notes.resolve("README.md")));
        assertTrue(requests.isEmpty(), requests.toString());

        // a folder jgpt wrote: downloaded once, then again, and over a model convert wrote
        Cli first = jgpt(tmp, hub, "download", "gpt2", "--out", "m");
        assertEquals(0, first.exit(), first.err());
        assertEquals(Set.of("README.md", "config.json", "model.safetensors"), files(tmp.resolve("m")));
        Cli again = jgpt(tmp, hub, "download", "gpt2", "--out", "m");
        assertEquals(0, again.exit(), again.err());
        Path converted = tmp.resolve("converted");
        ModelFiles.save(ModelFiles.load(Path.of("src/test/resources/fixtures/tiny/model.bin")), converted);
        Cli over = jgpt(tmp, hub, "download", "gpt2", "--out", "converted");
        assertEquals(0, over.exit(), over.err());
        assertEquals("# gpt2 from the Hub\n", Files.readString(converted.resolve("README.md")));

        Files.writeString(tmp.resolve("README.md"), "mine\n");
        Cli file = jgpt(tmp, hub, "download", "gpt2", "--out", "README.md");
        assertEquals(1, file.exit());
        assertEquals(List.of("jgpt download: --out README.md: exists and is not a folder"), file.errLines());
        assertEquals("mine\n", Files.readString(tmp.resolve("README.md")));
    }

    /** The command a download suggests runs when pasted into a shell: a folder with a space or a quote in its name is quoted. */
    @Test
    void theSuggestedCommandQuotesAFolderAShellWouldSplit(@TempDir Path tmp) throws Exception {
        serveGpt2(true);
        Cli plain = jgpt(tmp, url("/").toString(), "download", "gpt2", "--out", "models/gpt2-é");
        assertEquals(0, plain.exit(), plain.err());
        assertTrue(plain.out().contains("try: jgpt generate --model models/gpt2-é --prompt "), plain.out());
        Cli spaced = jgpt(tmp, url("/").toString(), "download", "gpt2", "--out", "my models/Bob's gpt2");
        assertEquals(0, spaced.exit(), spaced.err());
        var suggested = java.util.regex.Pattern.compile("try: jgpt generate --model (.*) --prompt ").matcher(spaced.out());
        assertTrue(suggested.find(), spaced.out());
        assertEquals("'my models/Bob'\\''s gpt2'", suggested.group(1));
        // the shell reads the word back as the folder
        Process shell = new ProcessBuilder("bash", "-c", "printf %s " + suggested.group(1)).start();
        assertEquals("my models/Bob's gpt2", new String(shell.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }

    /** A download that fails removes the folders it created and left empty, and only those. */
    @Test
    void aFailedDownloadLeavesNoFolderItCreated(@TempDir Path tmp) throws Exception {
        serveGpt2(false); // the listing names model.safetensors, which is not there: HTTP 404
        String hub = url("/").toString();
        Cli failed = jgpt(tmp, hub, "download", "gpt2", "--out", tmp.resolve("new/a/b").toString());
        assertEquals(1, failed.exit());
        assertTrue(failed.errLines().getLast().endsWith("model.safetensors: HTTP 404 Not Found"), failed.err());
        // config.json came before the failure: kept for the next run to go on from
        assertEquals(Set.of("config.json"), files(tmp.resolve("new/a/b")));
        AtomicFiles.deleteTree(tmp.resolve("new"));

        served.remove("/openai-community/gpt2/resolve/main/config.json");
        Files.createDirectories(tmp.resolve("kept"));
        Cli nothing = jgpt(tmp, hub, "download", "gpt2", "--out", "kept/x/y");
        assertEquals(1, nothing.exit());
        assertEquals(Set.of(), files(tmp.resolve("kept")));
        assertTrue(Files.isDirectory(tmp.resolve("kept")), "a folder that was there before stays");
        Cli byDefault = jgpt(tmp, hub, "download", "gpt2");
        assertEquals(1, byDefault.exit());
        assertEquals(Set.of("kept"), files(tmp));
    }

    /** A bad HF_ENDPOINT is one line naming it, whatever is wrong with it; no stack trace. */
    @Test
    void aBadHfEndpointIsOneLineNamingIt(@TempDir Path tmp) throws Exception {
        for (String[] bad : new String[][]{{"notaurl", "not a URL"}, {"ftp://127.0.0.1", "its scheme is ftp"},
                {"http://a b", "not a URL: Illegal character in authority at character 9"}, {"http:///x", "no host"}}) {
            JgptException e = assertThrows(JgptException.class, () -> HuggingFaceHub.fromEndpoint(bad[0]));
            assertEquals("HF_ENDPOINT '" + bad[0] + "': " + bad[1] + "; it must be an http(s) URL, like https://huggingface.co",
                    e.getMessage());
        }
        Cli cli = jgpt(tmp, "ftp://127.0.0.1", "download", "gpt2");
        assertEquals(1, cli.exit());
        assertEquals(List.of("jgpt download: HF_ENDPOINT 'ftp://127.0.0.1': its scheme is ftp; it must be an http(s) URL,"
                + " like https://huggingface.co"), cli.errLines());
        assertEquals(Set.of(), files(tmp));
        // the downloader itself takes http(s) only: an ftp address is one error, not a failed cast
        JgptException ftp = assertThrows(JgptException.class, () -> download.text(URI.create("ftp://127.0.0.1/x")));
        assertEquals("cannot download ftp://127.0.0.1/x: not an http(s) URL", ftp.getMessage());
    }
}
