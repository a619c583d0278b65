package dev.jgpt.data;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.jgpt.JgptException;
import dev.jgpt.io.Download;
import dev.jgpt.io.Downloads;
import dev.jgpt.io.HuggingFaceHub;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code fineweb-edu} from a local stand-in for the HuggingFace Hub (the JDK's HTTP server answering
 * the Hub's listing and file addresses with two small parquet files): the plan shown before the
 * download, the refusal of a disk too small, the message offline, and a prepare that a lost
 * connection cut short going on after its last whole shard.
 */
class PrepareFinewebTest {
    private static final String LISTING = "/api/datasets/HuggingFaceFW/fineweb-edu/tree/main/sample/10BT";
    private static final String FILES = "/datasets/HuggingFaceFW/fineweb-edu/resolve/main/sample/10BT/";
    private static final long PLENTY = 1L << 40;

    HttpServer server;
    /** What the server answers, by path; a missing path is HTTP 404. */
    final Map<String, byte[]> served = new ConcurrentHashMap<>();
    final List<String> requests = new CopyOnWriteArrayList<>();
    final Map<String, byte[]> parquet = new LinkedHashMap<>();

    @BeforeEach
    void start() throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
        parquet.put("000_00000.parquet", Files.readAllBytes(ShardFormatTest.fixture("docs-snappy.parquet")));
        parquet.put("001_00000.parquet", Files.readAllBytes(ShardFormatTest.fixture("docs-zstd.parquet")));
        List<String> entries = new ArrayList<>();
        for (var e : parquet.entrySet()) {
            String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(e.getValue()));
            entries.add("{\"type\":\"file\",\"oid\":\"1\",\"size\":" + e.getValue().length + ",\"path\":\"sample/10BT/" + e.getKey()
                    + "\",\"lfs\":{\"oid\":\"" + sha + "\",\"size\":" + e.getValue().length + ",\"pointerSize\":134}}");
            served.put(FILES + e.getKey(), e.getValue());
        }
        served.put(LISTING, ("[" + String.join(",", entries) + "]").getBytes(StandardCharsets.UTF_8));
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath();
        requests.add(path);
        byte[] body = served.get(path);
        if (body == null) {
            ex.sendResponseHeaders(404, -1);
        } else {
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
        ex.close();
    }

    private Prepare.Environment environment(long freeBytes) {
        HuggingFaceHub hub = new HuggingFaceHub(URI.create("http://127.0.0.1:" + server.getAddress().getPort()));
        return new Prepare.Environment(hub, new Download(1, Duration.ZERO, Duration.ofSeconds(10), null, false), p -> freeBytes);
    }

    private static Prepare.Options options(Path out, Path downloads) {
        return new Prepare.Options(Corpus.FINEWEB_EDU, out, ShardFormat.BIN, 1000, 100, 0, false, 2, "text", downloads, false);
    }

    @Test
    void thePlanShowsTheDownloadTheShardsTheDiskAndTheTime(@TempDir Path tmp) {
        Path downloads = tmp.resolve("downloads");
        Corpus corpus = Corpus.resolve(Corpus.FINEWEB_EDU, "text", downloads, environment(PLENTY).hub(), environment(PLENTY).download());
        long parquetBytes = parquet.values().stream().mapToLong(b -> b.length).sum();
        PreparePlan plan = PreparePlan.of(Corpus.FINEWEB_EDU, corpus, tmp.resolve("edufineweb"), 0, 0, 2);
        assertEquals(2, plan.files());
        assertEquals(parquetBytes, plan.downloadBytes());
        assertEquals(parquetBytes / Corpus.PARQUET_BYTES_PER_TOKEN, plan.tokens());
        assertEquals(2 * plan.tokens(), plan.shardBytes());
        String[] lines = plan.describe(p -> 123_450_000_000L).split("\n");
        assertEquals(2, lines.length);
        assertEquals("fineweb-edu: 2 files, " + kB(parquetBytes) + " to download into " + downloads.resolve("fineweb-edu-10BT")
                + ", then ~" + String.format("%,d", plan.tokens()) + " tokens, " + kB(plan.shardBytes()) + " of shards into "
                + tmp.resolve("edufineweb") + "; " + kB(parquetBytes + plan.shardBytes()) + " of disk needed, 123.45 GB free", lines[0]);
        assertEquals("fineweb-edu: expected time ~1 s to download at 50.0 MB/s, ~1 s to tokenize on 2 cores", lines[1]);
        assertTrue(requests.stream().allMatch(LISTING::equals), requests.toString()); // planned, nothing fetched
        assertEquals(List.of("~30 s", "~10 min", "~5.3 h", "~3.0 days"), List.of(PreparePlan.duration(30), PreparePlan.duration(600),
                PreparePlan.duration(5.3 * 3600), PreparePlan.duration(3 * 86400)));
    }

    @Test
    void aDiskTooSmallIsRefusedBeforeAnythingIsDownloaded(@TempDir Path tmp) {
        Path out = tmp.resolve("edufineweb");
        JgptException e = assertThrows(JgptException.class,
                () -> Prepare.run(options(out, tmp.resolve("downloads")), environment(5000), true));
        assertTrue(e.getMessage().startsWith("not enough disk space to prepare fineweb-edu: it needs "), e.getMessage());
        assertTrue(e.getMessage().contains(" of downloads into " + tmp.resolve("downloads/fineweb-edu-10BT"))
                && e.getMessage().contains(" of shards into " + out) && e.getMessage().endsWith(", 5.0 kB is free; make room, or prepare onto a bigger disk"),
                e.getMessage());
        assertEquals(List.of(LISTING), requests);
        assertFalse(Files.exists(out));
        assertFalse(Files.exists(tmp.resolve("downloads")));
    }

    @Test
    void offlineTrainingSaysHowToGetTheDataOrWhatToUseInstead(@TempDir Path tmp) {
        server.stop(0); // nothing answers at the Hub's address now
        Path dir = tmp.resolve("edufineweb");
        JgptException e = assertThrows(JgptException.class, () -> Prepare.ensureShards(dir, "fineweb-edu", environment(PLENTY)));
        String m = e.getMessage();
        assertEquals(1, m.lines().count(), m);
        assertTrue(m.startsWith("data.source fineweb-edu: cannot download http://127.0.0.1:"), m);
        assertTrue(m.contains("run `jgpt download fineweb-edu` on a machine with network, copy its folder "
                + Path.of("data/downloads/fineweb-edu-10BT") + " (its hidden file list included) to the same place here and run again"), m);
        assertTrue(m.contains("--set data.source=jdk-src --set data.dir=data/jdk"), m);
        assertFalse(Files.exists(dir));
    }

    @Test
    void aDownloadFolderCopiedToAMachineOfflineIsPreparedFromItsKeptFileList(@TempDir Path tmp) throws Exception {
        Path downloads = tmp.resolve("downloads");
        Prepare.Summary online = Prepare.run(options(tmp.resolve("online"), downloads), environment(PLENTY), true);
        Path folder = downloads.resolve(Downloads.FINEWEB_FOLDER);
        assertTrue(Files.isRegularFile(folder.resolve(Download.LISTING)));

        // elsewhere, without network: the same folder, copied
        server.stop(0);
        Path copied = tmp.resolve("elsewhere/downloads");
        dev.jgpt.TestFiles.copyTree(downloads, copied);
        Prepare.Summary offline = Prepare.run(options(tmp.resolve("offline"), copied), environment(PLENTY), true);
        assertEquals(online.shards(), offline.shards());
        for (Prepare.Shard s : online.shards()) {
            assertArrayEquals(Files.readAllBytes(tmp.resolve("online").resolve(s.file())), Files.readAllBytes(tmp.resolve("offline").resolve(s.file())));
        }
        // a listed file gone missing is fetched, and offline that fails with the usual message
        Files.delete(copied.resolve(Downloads.FINEWEB_FOLDER).resolve("001_00000.parquet"));
        JgptException e = assertThrows(JgptException.class, () -> Prepare.run(options(tmp.resolve("again"), copied), environment(PLENTY), true));
        assertTrue(e.getMessage().contains("001_00000.parquet"), e.getMessage());
    }

    @Test
    void aPrepareCutShortByALostConnectionGoesOnAfterItsLastWholeShard(@TempDir Path tmp) throws IOException {
        Path downloads = tmp.resolve("downloads");
        Prepare.Summary whole = Prepare.run(options(tmp.resolve("whole"), tmp.resolve("downloads-whole")), environment(PLENTY), true);
        assertTrue(whole.shards().size() >= 3, whole.describe());

        // the connection is lost before the second file: the first file's whole shards stay, with the journal
        Path out = tmp.resolve("edufineweb");
        byte[] second = served.remove(FILES + "001_00000.parquet");
        JgptException lost = assertThrows(JgptException.class, () -> Prepare.run(options(out, downloads), environment(PLENTY), true));
        assertTrue(lost.getMessage().contains("001_00000.parquet: HTTP 404"), lost.getMessage());
        assertTrue(Files.isRegularFile(out.resolve(Prepare.JOURNAL)));
        List<String> kept = names(out).stream().filter(n -> n.endsWith(".bin")).toList();
        assertTrue(kept.size() >= 2, kept.toString());
        String lastDone = Files.readAllLines(out.resolve(Prepare.JOURNAL)).getLast();
        ShardWriter.Done done = new com.google.gson.Gson().fromJson(lastDone, ShardWriter.Done.class);
        assertEquals(String.format("edufineweb_train_%06d.bin", kept.size() - 1), done.file());
        FileTime keptTime = Files.getLastModifiedTime(out.resolve(done.file()));
        assertTrue(done.next().skip() > 0, lastDone); // the next shard begins inside a document: its first tokens are in this one
        // as if killed while writing the next shard: its name is in the journal, its temporary file on disk (the killed process's),
        // and the line saying it is whole was cut off half-way
        String unfinished = String.format("edufineweb_train_%06d.bin", kept.size());
        Files.writeString(out.resolve(Prepare.JOURNAL), unfinished + "\n{\"file\":\"" + unfinished + "\",\"spl",
                java.nio.file.StandardOpenOption.APPEND);
        Files.writeString(out.resolve("." + unfinished + ".tmp999999942"), "half a shard");

        // still offline: the next try keeps the whole shards again, and leaves the journal whole for the lines to come
        assertThrows(JgptException.class, () -> Prepare.run(options(out, downloads), environment(PLENTY), true));
        List<String> journal = Files.readAllLines(out.resolve(Prepare.JOURNAL));
        assertEquals(lastDone, journal.getLast());
        assertFalse(journal.contains(unfinished), journal.toString());
        assertFalse(Files.exists(out.resolve("." + unfinished + ".tmp999999942")));

        served.put(FILES + "001_00000.parquet", second);
        requests.clear();
        Prepare.Summary resumed = Prepare.run(options(out, downloads), environment(PLENTY), true);
        assertEquals(List.of(LISTING, FILES + "001_00000.parquet"), requests); // the first file is not fetched again
        assertEquals(keptTime, Files.getLastModifiedTime(out.resolve(done.file())), "a kept shard is not written again");
        assertEquals(whole.shards(), resumed.shards());
        assertEquals(whole.tokens(), resumed.tokens());
        assertEquals(whole.documents(), resumed.documents());
        for (Prepare.Shard s : whole.shards()) {
            assertArrayEquals(Files.readAllBytes(tmp.resolve("whole").resolve(s.file())), Files.readAllBytes(out.resolve(s.file())), s.file());
        }
        assertTrue(Prepare.isPrepared(out));
        assertFalse(Files.exists(out.resolve(Prepare.JOURNAL)));
        assertFalse(Files.exists(out.resolve("." + unfinished + ".tmp999999942")));
    }

    @Test
    void aPrepareCutShortWithOtherSettingsOrOverwriteStartsOver(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("edufineweb");
        Path downloads = tmp.resolve("downloads");
        byte[] second = served.remove(FILES + "001_00000.parquet");
        assertThrows(JgptException.class, () -> Prepare.run(options(out, downloads), environment(PLENTY), true));
        served.put(FILES + "001_00000.parquet", second);
        Prepare.Options o = options(out, downloads);
        // a different shard size cannot continue those shards: jgpt prepare refuses without --overwrite ...
        Prepare.Options bigger = new Prepare.Options(o.source(), out, o.format(), 2000, o.valTokens(), 0, false, 2, "text", downloads, false);
        JgptException e = assertThrows(JgptException.class, () -> Prepare.run(bigger, environment(PLENTY), true));
        assertTrue(e.getMessage().contains("holds a prepare that was cut short; pass --overwrite"), e.getMessage());
        // ... and with it starts over
        Prepare.Options over = new Prepare.Options(o.source(), out, o.format(), 2000, o.valTokens(), 0, true, 2, "text", downloads, false);
        Prepare.Summary s = Prepare.run(over, environment(PLENTY), false);
        assertEquals(2000, s.shards().get(1).tokens());
        assertEquals(s.shards().size() + 1, names(out).size()); // the shards and prepare.json, nothing of the first try
    }

    private static String kB(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f kB", bytes / 1e3);
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
