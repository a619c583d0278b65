package dev.jgpt.data;

import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** jgpt never deletes a file it did not write: shards from llm.c or build-nanogpt, and whatever lies beside them. */
class ForeignShardsTest {
    static final short[] TOKENS = new short[3000];

    static {
        for (int i = 0; i < TOKENS.length; i++) TOKENS[i] = (short) (i % 5000);
    }

    /** Every file of a folder and its bytes' hash. */
    static Map<String, Integer> snapshot(Path dir) throws IOException {
        Map<String, Integer> m = new TreeMap<>();
        try (var files = Files.list(dir)) {
            for (Path p : files.toList()) m.put(p.getFileName().toString(), java.util.Arrays.hashCode(Files.readAllBytes(p)));
        }
        return m;
    }

    static Path corpus(Path dir) throws IOException {
        Path text = dir.resolve("corpus.txt");
        Files.writeString(text, "int x = 1;\n".repeat(3000));
        return text;
    }

    @Test
    void shardsAreToldByTheirHeaders(@TempDir Path dir) throws IOException {
        for (ShardFormat f : ShardFormat.values()) {
            Path shard = dir.resolve("fineweb_train_000001." + f.extension);
            f.write(shard, TOKENS, TOKENS.length);
            assertEquals(f, ShardFormat.sniff(shard), f.extension);
        }
        Path model = dir.resolve("gpt2_124M.bin"); // an llm.c model checkpoint (magic 20240326)
        Files.write(model, new byte[]{(byte) 0x5e, (byte) 0xd8, 0x34, 0x01, 3, 0, 0, 0, 0, 0});
        assertNull(ShardFormat.sniff(model));
        Path text = dir.resolve("notes.npy");
        Files.writeString(text, "not numpy at all");
        assertNull(ShardFormat.sniff(text));
        Path renamed = dir.resolve("x_train.h5"); // an .npy by its bytes
        Files.copy(dir.resolve("fineweb_train_000001.npy"), renamed);
        assertNull(ShardFormat.sniff(renamed));
    }

    @Test
    void aFolderOfForeignShardsIsReadAsItIs(@TempDir Path dir) throws IOException {
        Path data = Files.createDirectories(dir.resolve("fineweb10B"));
        ShardFormat.NPY.write(data.resolve("edufineweb_val_000000.npy"), TOKENS, TOKENS.length);
        ShardFormat.NPY.write(data.resolve("edufineweb_train_000001.npy"), TOKENS, TOKENS.length);
        Files.writeString(data.resolve("README"), "mine");
        Files.writeString(data.resolve("edufineweb_train_000002.npy.tmp"), "half written by another tool");
        var before = snapshot(data);
        assertEquals(data, Prepare.ensureShards(data, Corpus.JDK_SRC));
        assertEquals(before, snapshot(data));
        // and the dataset reads exactly the two shards: not the .tmp, not a hidden file
        Files.copy(data.resolve("edufineweb_train_000001.npy"), data.resolve(".edufineweb_train_000003.npy"));
        assertEquals(List.of(data.resolve("edufineweb_train_000001.npy")), TokenDataset.findShards(data, "train"));
        assertEquals(List.of(data.resolve("edufineweb_val_000000.npy")), TokenDataset.findShards(data, "val"));
    }

    @Test
    void whatCannotBeTrainedOnIsOneClearLine(@TempDir Path dir) throws IOException {
        Path noVal = Files.createDirectories(dir.resolve("noval"));
        ShardFormat.BIN.write(noVal.resolve("tiny_shakespeare_train.bin"), TOKENS, TOKENS.length);
        JgptException e = assertThrows(JgptException.class, () -> Prepare.ensureShards(noVal, Corpus.JDK_SRC));
        assertEquals("data.dir " + noVal + ": 1 shard but no validation shard (a file with 'val' in its name, like fineweb_val_000000.bin)",
                e.getMessage());

        // a validation shard that is not one (damaged, or another file by that name) is named, not passed over
        Path badVal = Files.createDirectories(dir.resolve("badval"));
        ShardFormat.BIN.write(badVal.resolve("x_train_000001.bin"), TOKENS, TOKENS.length);
        Files.write(badVal.resolve("x_val_000000.bin"), new byte[4096]);
        e = assertThrows(JgptException.class, () -> Prepare.ensureShards(badVal, Corpus.JDK_SRC));
        assertEquals("data.dir " + badVal + ": x_val_000000.bin is named as a token shard but is not one: its first bytes are not"
                + " a .bin shard's header (damaged, or another kind of file)", e.getMessage());

        Path other = Files.createDirectories(dir.resolve("other"));
        Files.writeString(other.resolve("book.txt"), "text");
        e = assertThrows(JgptException.class, () -> Prepare.ensureShards(other, Corpus.JDK_SRC));
        assertTrue(e.getMessage().startsWith("data.dir " + other + ": holds no token shards"), e.getMessage());
        assertEquals(List.of(other.resolve("book.txt")), Files.list(other).toList());
    }

    @Test
    void anInterruptedPrepareIsRedoneRemovingOnlyItsOwnFiles(@TempDir Path dir) throws IOException {
        Path text = corpus(dir);
        Path data = Files.createDirectories(dir.resolve("data"));
        // as a prepare killed while writing its second shard leaves it, beside a file of the user's
        Files.writeString(data.resolve(Prepare.JOURNAL), "corpus_val_000000.bin\ncorpus_train_000001.bin\n");
        ShardFormat.BIN.write(data.resolve("corpus_val_000000.bin"), TOKENS, 10);
        Files.writeString(data.resolve(".corpus_train_000001.bin.tmp999999942"), "half");
        Files.writeString(data.resolve("mine.txt"), "keep me");

        Prepare.ensureShards(data, text.toString());
        assertTrue(Prepare.isPrepared(data));
        assertFalse(Files.exists(data.resolve(Prepare.JOURNAL)));
        assertFalse(Files.exists(data.resolve(".corpus_train_000001.bin.tmp999999942")));
        assertEquals("keep me", Files.readString(data.resolve("mine.txt")));
        assertTrue(ShardFormat.BIN.tokenCount(data.resolve("corpus_val_000000.bin")) > 10, "the cut-short shard was written again");
    }

    @Test
    void overwriteReplacesOnlyWhatPrepareWrote(@TempDir Path dir) throws IOException {
        Path text = corpus(dir);
        Path out = dir.resolve("out");
        var d = Prepare.Options.defaults(text.toString(), out);
        var options = new Prepare.Options(d.source(), out, ShardFormat.BIN, 5000, 1000, 0, true, 1, "text", dir, false);
        Prepare.run(options);
        Files.writeString(out.resolve("notes.txt"), "mine");
        Files.writeString(out.resolve("scratch.tmp"), "mine too");
        Prepare.run(options);
        assertEquals("mine", Files.readString(out.resolve("notes.txt")));
        assertEquals("mine too", Files.readString(out.resolve("scratch.tmp")));

        // a shard it did not write: refused, and nothing is deleted
        ShardFormat.BIN.write(out.resolve("fineweb_train_000009.bin"), TOKENS, TOKENS.length);
        var before = snapshot(out);
        JgptException e = assertThrows(JgptException.class, () -> Prepare.run(options));
        assertTrue(e.getMessage().contains("holds shards jgpt prepare did not write (fineweb_train_000009.bin)"), e.getMessage());
        assertEquals(before, snapshot(out));
    }
}
