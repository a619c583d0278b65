package dev.jgpt.data;

import dev.jgpt.JgptException;
import dev.jgpt.io.Download;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

public class PrepareTest {
    private static final Gpt2Tokenizer TOK = Gpt2Tokenizer.get();

    static Prepare.Options options(String source, Path out, ShardFormat format, long shard, long val) {
        return new Prepare.Options(source, out, format, shard, val, 0, false, 2, "text", out.resolveSibling("downloads"), false);
    }

    /** What prepare should produce: EOT then the document's tokens, for each document in order. */
    static int[] expectedStream(List<String> docs) {
        List<Integer> all = new ArrayList<>();
        for (String d : docs) {
            all.add(Gpt2Tokenizer.EOT);
            for (int id : TOK.encode(d)) all.add(id);
        }
        return all.stream().mapToInt(Integer::intValue).toArray();
    }

    /** All tokens of the shards in a directory, val first. */
    static int[] readAll(Path dir, List<Prepare.Shard> shards) {
        long n = shards.stream().mapToLong(Prepare.Shard::tokens).sum();
        int[] out = new int[(int) n];
        int at = 0;
        for (Prepare.Shard s : shards) {
            TokenShard shard = TokenShard.open(dir.resolve(s.file()));
            shard.read(0, out, at, (int) shard.size());
            at += (int) shard.size();
        }
        return out;
    }

    private static List<String> folderOfTexts(Path dir) throws IOException {
        Files.createDirectories(dir.resolve("sub"));
        List<String> docs = List.of(
                "The first document.\nIt has two lines.",
                "Second: caf\u00e9, \u4e2d\u6587, \uD83D\uDC4D\uD83C\uDFFD and numbers 12345.",
                "public class A {\n    int x = 42;\n}\n",
                "x".repeat(300_000) + "\nlong document\n" + "word ".repeat(60_000));
        Files.writeString(dir.resolve("a.txt"), docs.get(0));
        Files.writeString(dir.resolve("b.md"), docs.get(1));
        Files.writeString(dir.resolve("sub/c.java"), docs.get(2));
        Files.writeString(dir.resolve("sub/d.txt"), docs.get(3));
        Files.write(dir.resolve("sub/e.bin"), new byte[] {1, 0, 2, 0});       // binary: skipped
        Files.writeString(dir.resolve(".hidden.txt"), "not me");               // hidden: skipped
        return docs;
    }

    @Test
    void foldersOfTextBecomeShardsInEveryFormat(@TempDir Path tmp) throws IOException {
        List<String> docs = folderOfTexts(tmp.resolve("corpus"));
        int[] expected = expectedStream(docs);
        for (ShardFormat format : ShardFormat.values()) {
            Path out = tmp.resolve("out-" + format.extension);
            Prepare.Summary s = Prepare.run(options(tmp.resolve("corpus").toString(), out, format, 30_000, 1000));
            assertEquals(4, s.documents());
            assertEquals(expected.length, s.tokens());
            assertEquals("corpus_val_000000." + format.extension, s.shards().getFirst().file());
            assertEquals(1000, s.shards().getFirst().tokens());
            assertEquals("corpus_train_000001." + format.extension, s.shards().get(1).file());
            assertEquals(30_000, s.shards().get(1).tokens());
            assertArrayEquals(expected, readAll(out, s.shards()), format.toString());
            assertTrue(Prepare.isPrepared(out));
            try (var files = Files.list(out)) {
                assertTrue(files.noneMatch(p -> p.toString().contains(".tmp")));
            }
        }
    }

    @Test
    void resultDoesNotDependOnThreads(@TempDir Path tmp) throws IOException {
        folderOfTexts(tmp.resolve("corpus"));
        Prepare.Options two = options(tmp.resolve("corpus").toString(), tmp.resolve("two"), ShardFormat.BIN, 50_000, 0);
        Prepare.Options one = new Prepare.Options(two.source(), tmp.resolve("one"), two.format(), two.shardTokens(), 0, 0,
                false, 1, "text", tmp, false);
        Prepare.Summary a = Prepare.run(two);
        Prepare.Summary b = Prepare.run(one);
        assertEquals(a.shards(), b.shards());
        for (Prepare.Shard s : a.shards()) {
            assertArrayEquals(Files.readAllBytes(tmp.resolve("two").resolve(s.file())),
                    Files.readAllBytes(tmp.resolve("one").resolve(s.file())));
        }
    }

    @Test
    void jsonlAndParquetGiveTheSameDocuments(@TempDir Path tmp) throws IOException {
        List<String> docs = new ArrayList<>();
        for (String line : Files.readAllLines(ShardFormatTest.fixture("docs.jsonl"), StandardCharsets.UTF_8)) {
            docs.add(com.google.gson.JsonParser.parseString(line).getAsJsonObject().get("text").getAsString());
        }
        int[] expected = expectedStream(docs);
        for (String name : new String[] {"docs.jsonl", "docs-snappy.parquet", "docs-zstd.parquet"}) {
            Path out = tmp.resolve(name);
            Prepare.Summary s = Prepare.run(options(ShardFormatTest.fixture(name).toString(), out, ShardFormat.BIN, 1_000_000, 100));
            assertEquals(docs.size(), s.documents(), name);
            assertArrayEquals(expected, readAll(out, s.shards()), name);
        }
        JgptException e = assertThrows(JgptException.class, () -> Prepare.run(new Prepare.Options(
                ShardFormatTest.fixture("docs-snappy.parquet").toString(), tmp.resolve("x"), ShardFormat.BIN, 1000, 0, 0,
                false, 1, "body", tmp, false)));
        assertTrue(e.getMessage().contains("no column 'body'"), e.getMessage());
    }

    @Test
    void existingOutputIsRefusedUnlessOverwrite(@TempDir Path tmp) throws IOException {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "hello world");
        Path out = tmp.resolve("out");
        Prepare.run(options(text.toString(), out, ShardFormat.BIN, 1000, 0));
        Files.writeString(out.resolve("notes.md"), "mine");
        JgptException e = assertThrows(JgptException.class, () -> Prepare.run(options(text.toString(), out, ShardFormat.NPY, 1000, 0)));
        assertTrue(e.getMessage().contains("--overwrite"), e.getMessage());
        Prepare.Options again = options(text.toString(), out, ShardFormat.NPY, 1000, 0);
        Prepare.run(new Prepare.Options(again.source(), out, again.format(), 1000, 0, 0, true, 1, "text", tmp, false));
        try (var files = Files.list(out)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            assertEquals(List.of("notes.md", "prepare.json", "t_train_000001.npy", "t_val_000000.npy"), names);
        }
    }

    @Test
    void maxTokensStopsEarly(@TempDir Path tmp) throws IOException {
        folderOfTexts(tmp.resolve("corpus"));
        Prepare.Options o = options(tmp.resolve("corpus").toString(), tmp.resolve("out"), ShardFormat.BIN, 1000, 100);
        Prepare.Summary s = Prepare.run(new Prepare.Options(o.source(), o.out(), o.format(), 1000, 100, 2234, false, 2, "text", tmp, false));
        assertEquals(2234, s.tokens());
        assertEquals(List.of(100L, 1000L, 1000L, 134L), s.shards().stream().map(Prepare.Shard::tokens).toList());
    }

    @Test
    void automaticValidationShardIsAboutATenthAtMostAShard() {
        Prepare.Options o = options("x", Path.of("y"), ShardFormat.BIN, 100_000_000, 0);
        assertEquals(5_332_500, Prepare.validationTokens(o, 213_300_000));       // jdk-src: ~10% of ~53M
        assertEquals(100_000_000, Prepare.validationTokens(o, 40_000_000_000L)); // FineWeb: one shard
        assertEquals(100_000_000, Prepare.validationTokens(o, 0));               // unknown size: one shard
    }

    @Test
    void offlineDownloadSaysWhatToPassInstead(@TempDir Path tmp) {
        // Nothing listens on port 9 of the loopback address: the same failure as being offline.
        URI url = URI.create("http://127.0.0.1:9/input.txt");
        Download once = new Download(1, java.time.Duration.ZERO, java.time.Duration.ofSeconds(5), null, false);
        JgptException e = assertThrows(JgptException.class, () -> Corpus.fetch(once,
                new Download.Remote(url, tmp.resolve("input.txt")), "Offline, pass a local copy: --source FILE."));
        assertTrue(e.getMessage().startsWith("cannot download " + url + ": "), e.getMessage());
        assertTrue(e.getMessage().contains("offline?"), e.getMessage());
        assertTrue(e.getMessage().endsWith("Offline, pass a local copy: --source FILE."), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("input.txt")));
        assertFalse(Files.exists(tmp.resolve("input.txt.part")));
        JgptException missing = assertThrows(JgptException.class,
                () -> Prepare.run(options(tmp.resolve("nothing-here").toString(), tmp.resolve("o"), ShardFormat.BIN, 1000, 0)));
        assertTrue(missing.getMessage().contains("jdk-src"), missing.getMessage());
    }

    @Test
    void tinyShakespeareFromALocalFile(@TempDir Path tmp) throws IOException {
        Path file = Path.of("src/test/resources/tokenizer/tinyshakespeare.txt");
        Prepare.Summary s = Prepare.run(options(file.toString(), tmp.resolve("out"), ShardFormat.BIN, 100_000_000, 0));
        assertEquals(1, s.documents());
        assertEquals(338_025 + 1, s.tokens()); // OpenAI's count (tokenizer fixture) plus the leading EOT
        assertEquals(2, s.shards().size());
        TokenDataset train = new TokenDataset(tmp.resolve("out"), "train", 4, 64, 0, 1, TokenDataset.Order.SHUFFLED, 1);
        assertEquals(s.shards().get(1).tokens(), train.tokensInSplit());
    }

    @Test
    void commandLinePrepares(@TempDir Path tmp) throws IOException {
        Path text = tmp.resolve("input.txt");
        Files.writeString(text, "To be, or not to be, that is the question:\n".repeat(200));
        java.io.StringWriter err = new java.io.StringWriter();
        java.io.PrintStream oldOut = System.out, oldErr = System.err;
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new java.io.PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new java.io.PrintStream(new java.io.ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            code = dev.jgpt.cli.Main.commandLine().execute("prepare", "--source", text.toString(), "--out",
                    tmp.resolve("out").toString(), "--format", "npy", "--shard-size", "1k", "--val-tokens", "500");
            var cl = dev.jgpt.cli.Main.commandLine();
            cl.setErr(new java.io.PrintWriter(err, true));
            int again = cl.execute("prepare", "--source", text.toString(), "--out", tmp.resolve("out").toString());
            assertEquals(1, again);
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
        assertEquals(0, code);
        assertTrue(out.toString(StandardCharsets.UTF_8).startsWith("prepared " + text + ": 1 document, 2,801 tokens (500 validation), 4 npy shards in "),
                out.toString(StandardCharsets.UTF_8));
        assertTrue(Files.isRegularFile(tmp.resolve("out/input_train_000003.npy")));
        assertTrue(err.toString().startsWith("jgpt prepare: --out " + tmp.resolve("out") + " holds prepared shards; pass --overwrite"), err.toString());
        assertEquals(1, err.toString().lines().count());
    }

    /** Files jgpt wrote, read by numpy and h5py themselves. */
    @Test
    void numpyAndH5pyReadWhatJgptWrote(@TempDir Path tmp) throws Exception {
        assumeTrue(pythonHas("numpy, h5py"), "/usr/bin/python3 with numpy and h5py not available");
        short[] tokens = new short[70_000];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (short) ((i * 7919L + 13) % 50257);
        for (ShardFormat f : ShardFormat.values()) {
            f.write(tmp.resolve("j_train_000001." + f.extension), tokens, tokens.length);
        }
        String script = String.join("\n",
                "import sys, numpy as np, h5py",
                "d = sys.argv[1]",
                "want = ((np.arange(70000, dtype=np.int64) * 7919 + 13) % 50257).astype(np.uint16)",
                "npy = np.load(d + '/j_train_000001.npy')",
                "assert npy.dtype == np.uint16 and np.array_equal(npy, want), 'npy'",
                "with open(d + '/j_train_000001.bin', 'rb') as f:",
                "    header = np.frombuffer(f.read(1024), dtype=np.int32)",
                "    assert header[0] == 20240520 and header[1] == 1 and header[2] == 70000, 'bin header'",
                "    assert np.array_equal(np.frombuffer(f.read(), dtype=np.uint16), want), 'bin'",
                "with h5py.File(d + '/j_train_000001.h5', 'r') as f:",
                "    ds = f['tokens']",
                "    assert ds.dtype == np.uint16 and ds.chunks is not None, 'h5 dtype/chunks'",
                "    assert np.array_equal(ds[:], want) and ds[12345] == want[12345], 'h5'",
                "print('ok')");
        Process p = new ProcessBuilder("/usr/bin/python3", "-c", script, tmp.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertEquals("ok", out.strip());
    }

    public static boolean pythonHas(String modules) {
        try {
            Process p = new ProcessBuilder("/usr/bin/python3", "-c", "import " + modules).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }
}
