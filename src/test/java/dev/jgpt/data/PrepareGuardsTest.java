package dev.jgpt.data;

import com.github.luben.zstd.ZstdOutputStream;
import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static dev.jgpt.data.PrepareTest.expectedStream;
import static dev.jgpt.data.PrepareTest.options;
import static dev.jgpt.data.PrepareTest.readAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** What prepare refuses or repairs before it tokenizes: compressed and binary inputs, bad JSONL values, tiny shards, a full disk. */
class PrepareGuardsTest {
    static final String TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n".repeat(40);

    static Path compressed(Path file, byte[] bytes, boolean zstd) throws IOException {
        try (OutputStream out = zstd ? new ZstdOutputStream(Files.newOutputStream(file)) : new GZIPOutputStream(Files.newOutputStream(file))) {
            out.write(bytes);
        }
        return file;
    }

    static JgptException refused(Path source, Path out) {
        return assertThrows(JgptException.class, () -> Prepare.run(options(source.toString(), out, ShardFormat.BIN, 1000, 0)));
    }

    @Test
    void gzipAndZstdInputsAreDecompressed(@TempDir Path tmp) throws IOException {
        byte[] text = TEXT.getBytes(StandardCharsets.UTF_8);
        int[] expected = expectedStream(List.of(TEXT));
        for (Path file : List.of(compressed(tmp.resolve("play.txt.gz"), text, false), compressed(tmp.resolve("play.txt.zst"), text, true))) {
            Prepare.Summary s = Prepare.run(options(file.toString(), tmp.resolve("out-" + file.getFileName()), ShardFormat.BIN, 1000, 100));
            assertEquals(1, s.documents(), file.toString());
            assertArrayEquals(expected, readAll(tmp.resolve("out-" + file.getFileName()), s.shards()), file.toString());
        }
        String jsonl = "{\"text\": \"first document\"}\n{\"text\": \"second document\"}\n";
        Path zst = compressed(tmp.resolve("docs.jsonl.zst"), jsonl.getBytes(StandardCharsets.UTF_8), true);
        Prepare.Summary s = Prepare.run(options(zst.toString(), tmp.resolve("out-jsonl"), ShardFormat.BIN, 1000, 5));
        assertArrayEquals(expectedStream(List.of("first document", "second document")), readAll(tmp.resolve("out-jsonl"), s.shards()));
    }

    /**
     * The default folder and the shard names keep a file name's letters in any script: two files named in
     * Japanese and Chinese used to share data/-- (the second refused as a folder of prepared shards), and
     * a shard name began with '-'.
     */
    @Test
    void theDefaultFolderAndShardNamesKeepLettersOfAnyScript(@TempDir Path tmp) throws IOException {
        assertEquals(Path.of("data", "日本"), Prepare.defaultOut("日本.txt"));
        assertEquals(Path.of("data", "中文"), Prepare.defaultOut(tmp.resolve("中文.jsonl.gz").toString()));
        assertEquals(Path.of("data", "my-text-é"), Prepare.defaultOut("my text é.txt"));
        assertEquals(Path.of("data", "cafe\u0301"), Prepare.defaultOut("cafe\u0301.txt")); // é as macOS spells it: e and a combining accent
        assertEquals(Path.of("data", "tiny-shakespeare-v2"), Prepare.defaultOut("--tiny_shakespeare (v2).txt"));
        assertEquals(Path.of("data", "input"), Prepare.defaultOut("some/dir/input.txt"));
        assertEquals(Path.of("data", "corpus"), Prepare.defaultOut("__.txt"));

        Path source = Files.writeString(tmp.resolve("日本.txt"), TEXT);
        Prepare.Summary s = Prepare.run(options(source.toString(), tmp.resolve("out"), ShardFormat.BIN, 1000, 100));
        assertEquals("日本_val_000000.bin", s.shards().getFirst().file());
        assertTrue(Files.isRegularFile(tmp.resolve("out").resolve("日本_train_000001.bin")));
    }

    /**
     * A folder of someone else's files is refused naming them, and the error says that --overwrite keeps
     * them (it used to say "pass --overwrite to replace them", of files --overwrite never touches).
     */
    @Test
    void aFolderOfOtherFilesIsNamedAndOverwriteKeepsThem(@TempDir Path tmp) throws IOException {
        Path source = Files.writeString(tmp.resolve("play.txt"), TEXT);
        Path out = Files.createDirectories(tmp.resolve("notes"));
        Files.writeString(out.resolve("todo.txt"), "mine\n");
        JgptException e = refused(source, out);
        assertEquals("--out " + out + " holds other files (todo.txt); choose another --out, or pass --overwrite to write the shards"
                + " beside them (they are kept)", e.getMessage());
        assertEquals(List.of(out.resolve("todo.txt")), Files.list(out).toList());

        Prepare.Options overwrite = new Prepare.Options(source.toString(), out, ShardFormat.BIN, 1000, 100, 0, true, 2, "text",
                tmp.resolve("downloads"), false);
        Prepare.run(overwrite);
        assertEquals("mine\n", Files.readString(out.resolve("todo.txt")));
        assertTrue(Files.isRegularFile(out.resolve("play_val_000000.bin")));
    }

    @Test
    void aBinaryFileOnItsOwnIsRefusedAsAFolderSkipsIt(@TempDir Path tmp) throws IOException {
        byte[] binary = new byte[4096];
        for (int i = 0; i < binary.length; i++) binary[i] = (byte) (i * 7);
        Path bin = tmp.resolve("program");
        Files.write(bin, binary);
        JgptException e = refused(bin, tmp.resolve("o1"));
        assertTrue(e.getMessage().startsWith(bin + ": looks binary"), e.getMessage());

        Path gz = compressed(tmp.resolve("program.gz"), binary, false);
        e = refused(gz, tmp.resolve("o2"));
        assertTrue(e.getMessage().startsWith(gz + ": looks binary") && e.getMessage().contains("decompressed"), e.getMessage());

        Path bz2 = tmp.resolve("book.txt.bz2");
        Files.write(bz2, "BZh91AY&SY fake".getBytes(StandardCharsets.ISO_8859_1));
        e = refused(bz2, tmp.resolve("o3"));
        assertTrue(e.getMessage().startsWith(bz2 + ": compressed with bzip2"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("o1/prepare.json")));
    }

    @Test
    void aJsonlTextThatIsNotTextNamesTheLine(@TempDir Path tmp) throws IOException {
        Path jsonl = tmp.resolve("docs.jsonl");
        for (String value : new String[]{"{\"a\": 1}", "[\"x\"]", "5"}) {
            Files.writeString(jsonl, "{\"text\": \"fine\"}\n{\"text\": " + value + "}\n");
            JgptException e = refused(jsonl, tmp.resolve("o" + value.hashCode()));
            assertTrue(e.getMessage().startsWith(jsonl + ":2: field 'text' is ") && e.getMessage().endsWith("not text"), e.getMessage());
        }
    }

    @Test
    void aPrepareThatFailsOnItsInputLeavesNothingBehind(@TempDir Path tmp) throws IOException {
        Path jsonl = tmp.resolve("docs.jsonl");
        Files.writeString(jsonl, "{\"text\": \"fine\"}\n{\"text\": \"cut\n");
        Path out = tmp.resolve("new/out");
        JgptException e = refused(jsonl, out);
        assertTrue(e.getMessage().startsWith(jsonl + ":2: bad JSON: "), e.getMessage());
        assertFalse(e.getMessage().contains("\n") || e.getMessage().contains("http"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("new")), "the folders the failed prepare made are gone, those above --out too");
        JgptException missing = refused(tmp.resolve("no-such-corpus.txt"), tmp.resolve("a/b/c"));
        assertTrue(missing.getMessage().contains("no-such-corpus.txt"), missing.getMessage());
        assertFalse(Files.exists(tmp.resolve("a")));

        // a folder that was there stays, as empty as it was
        Path mine = Files.createDirectories(tmp.resolve("mine"));
        refused(jsonl, mine);
        assertEquals(List.of(), Files.list(mine).toList());

        // and the corrected command runs as a first one would: no --overwrite asked for
        Files.writeString(jsonl, "{\"text\": \"" + TEXT.replace("\n", " ") + "\"}\n");
        Prepare.run(options(jsonl.toString(), out, ShardFormat.BIN, 1000, 100));
        assertTrue(Prepare.isPrepared(out));
    }

    @Test
    void aCorpusTooSmallForATrainingShardIsRefusedAndLeavesNothing(@TempDir Path tmp) throws IOException {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, TEXT);
        Path out = tmp.resolve("out");
        JgptException e = assertThrows(JgptException.class, () -> Prepare.run(options(text.toString(), out, ShardFormat.BIN, 1000, 100_000)));
        assertTrue(e.getMessage().startsWith("--source " + text + ": ") && e.getMessage().contains("all of them in the validation shard")
                && e.getMessage().endsWith("give more text or a smaller --val-tokens"), e.getMessage());
        assertFalse(Files.exists(out));

        Path empty = tmp.resolve("empty.txt");
        Files.writeString(empty, "");
        e = assertThrows(JgptException.class, () -> Prepare.run(options(empty.toString(), out, ShardFormat.BIN, 1000, 0)));
        assertEquals("--source " + empty + ": no text: its one document is empty", e.getMessage());
        assertFalse(Files.exists(out));
        // documents without text are no corpus either, though their <|endoftext|> tokens fill a training shard
        Path blank = Files.writeString(tmp.resolve("blank.jsonl"), "{\"text\": \"\"}\n".repeat(5));
        e = assertThrows(JgptException.class, () -> Prepare.run(options(blank.toString(), out, ShardFormat.BIN, 1000, 1)));
        assertEquals("--source " + blank + ": no text: all its 5 documents are empty", e.getMessage());
        assertFalse(Files.exists(out));
    }

    @Test
    void aFolderBeingPreparedIsRefusedToASecondPrepareAndAwaitedByATraining(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, TEXT);
        Path out = Files.createDirectories(tmp.resolve("out"));
        List<String> said = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.Future<Path> training;
        try (var other = dev.jgpt.track.RunLock.acquire(out, Prepare.LOCK)) { // another prepare holds the folder
            JgptException e = refused(text, out);
            assertTrue(e.getMessage().startsWith(out + " is in use by process "), e.getMessage());
            training = java.util.concurrent.Executors.newSingleThreadExecutor().submit(
                    () -> Prepare.ensureShards(out, text.toString(), Prepare.Environment.standard(false).reporting(said::add, null)));
            Thread.sleep(600);
            assertFalse(training.isDone(), "the training waits for the folder");
            assertFalse(Files.exists(out.resolve(Prepare.JOURNAL)));
        }
        assertEquals(out, training.get(60, java.util.concurrent.TimeUnit.SECONDS));
        assertTrue(Prepare.isPrepared(out));
        assertTrue(said.getFirst().startsWith("data.dir " + out + ": waiting for process "), said.toString());
        assertFalse(Files.exists(out.resolve(Prepare.LOCK)), "the lock file goes with the prepare");
        // a second training finds the shards made and prepares nothing
        said.clear();
        Prepare.ensureShards(out, text.toString(), Prepare.Environment.standard(false).reporting(said::add, null));
        assertEquals(List.of(), said);
    }

    /** A training prepares a JSONL source from data.text_field, and its errors name the training's settings. */
    @Test
    void aTrainingReadsItsTextFieldAndNamesItsOwnSettings(@TempDir Path tmp) throws IOException {
        Path jsonl = tmp.resolve("docs.jsonl");
        StringBuilder lines = new StringBuilder();
        for (String line : TEXT.split("\n")) lines.append("{\"content\": \"").append(line.replace("'", "\\u0027")).append("\"}\n");
        Files.writeString(jsonl, lines);
        Path out = tmp.resolve("data");
        Prepare.Environment env = Prepare.Environment.standard(false).reporting(s -> { }, null);
        JgptException e = assertThrows(JgptException.class, () -> Prepare.ensureShards(out, jsonl.toString(), "text", env));
        assertEquals(jsonl + ":1: no field 'text' (choose one with data.text_field)", e.getMessage());
        assertFalse(Files.exists(out), "the failed prepare leaves nothing");
        e = assertThrows(JgptException.class, () -> Prepare.ensureShards(out, tmp.resolve("missing").toString(), "text", env));
        assertTrue(e.getMessage().startsWith("data.source: no such file or folder"), e.getMessage());

        assertEquals(out, Prepare.ensureShards(out, jsonl.toString(), "content", env));
        assertTrue(Prepare.isPrepared(out));
    }

    @Test
    void shardsOfFewerThanAThousandTokensAreRefused(@TempDir Path tmp) throws IOException {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, TEXT);
        JgptException e = assertThrows(JgptException.class, () -> Prepare.run(options(text.toString(), tmp.resolve("o"), ShardFormat.BIN, 999, 0)));
        assertTrue(e.getMessage().startsWith("--shard-size: must be between 1000 and"), e.getMessage());
        Prepare.run(options(text.toString(), tmp.resolve("o"), ShardFormat.BIN, 1000, 0));
    }

    @Test
    void aFullDiskNamesTheShardAndTheReason(@TempDir Path tmp) throws IOException {
        Path devFull = Path.of("/dev/full"); // writes to it fail with ENOSPC, as on a full disk
        assumeTrue(Files.exists(devFull), "needs Linux's /dev/full");
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, TEXT);
        Path out = tmp.resolve("out");
        Files.createDirectories(out);
        // the validation shard's temporary file is where the write lands
        Files.createSymbolicLink(AtomicFiles.tempFile(out.resolve("t_val_000000.bin")), devFull);
        Prepare.Options o = options(text.toString(), out, ShardFormat.BIN, 1000, 100);
        JgptException e = assertThrows(JgptException.class, () -> Prepare.run(new Prepare.Options(o.source(), out, o.format(),
                o.shardTokens(), o.valTokens(), 0, true, 1, "text", tmp, false)));
        assertEquals(out.resolve("t_val_000000.bin") + ": cannot write shard: No space left on device", e.getMessage());
        assertFalse(Files.exists(out.resolve("t_val_000000.bin")) || Files.exists(out.resolve(Prepare.MANIFEST)));
    }

    @Test
    void parquetPreparesWithoutTheReadersLogAndItsBarEndsAtAHundredPercent(@TempDir Path tmp) {
        PrintStream old = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            Prepare.Options o = options(ShardFormatTest.fixture("docs-zstd.parquet").toString(), tmp.resolve("out"), ShardFormat.BIN, 1000, 100);
            Prepare.run(new Prepare.Options(o.source(), o.out(), o.format(), o.shardTokens(), o.valTokens(), 0, false, 2, "text", tmp, true));
        } finally {
            System.setErr(old);
        }
        String lines = err.toString(StandardCharsets.UTF_8);
        assertEquals(1, lines.lines().count(), lines);
        assertTrue(lines.startsWith("prepare " + ShardFormatTest.fixture("docs-zstd.parquet") + " 100%"), lines);
        // the parquet reader's INFO lines (e.g. "SIMD support: enabled") are off; its warnings are not
        System.Logger hardwood = System.getLogger("dev.hardwood.internal.encoding.simd.VectorSupport");
        assertFalse(hardwood.isLoggable(System.Logger.Level.INFO));
        assertTrue(hardwood.isLoggable(System.Logger.Level.WARNING));
    }
}
