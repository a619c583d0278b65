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

    /** nanoGPT's data/openwebtext and data/shakespeare prepare.py: the uint16 tokens alone, as numpy's tofile writes them. */
    static void writeNanoGpt(Path file, short[] tokens) throws IOException {
        var bytes = java.nio.ByteBuffer.allocate(2 * tokens.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        bytes.asShortBuffer().put(tokens);
        Files.write(file, bytes.array());
    }

    static void assertReadsTokens(Path shard, short[] tokens) {
        assertEquals(ShardFormat.BIN, ShardFormat.sniff(shard), shard.toString());
        assertEquals(tokens.length, ShardFormat.BIN.tokenCount(shard));
        TokenShard s = TokenShard.open(shard);
        assertEquals(tokens.length, s.size());
        for (int i = 0; i < tokens.length; i++) assertEquals(tokens[i] & 0xFFFF, s.get(i), "token " + i);
    }

    @Test
    void nanoGptsHeaderlessTrainAndValBinAreReadAsTheyAre(@TempDir Path dir) throws IOException {
        Path data = Files.createDirectories(dir.resolve("openwebtext"));
        short[] val = java.util.Arrays.copyOf(TOKENS, 1001);
        val[0] = (short) 50256; // <|endoftext|>, as each of nanoGPT's documents ends
        writeNanoGpt(data.resolve("train.bin"), TOKENS);
        writeNanoGpt(data.resolve("val.bin"), val);
        Files.writeString(data.resolve("prepare.py"), "# nanoGPT's");
        var before = snapshot(data);
        assertEquals(data, Prepare.ensureShards(data, Corpus.JDK_SRC));
        assertEquals(before, snapshot(data));
        assertReadsTokens(data.resolve("train.bin"), TOKENS);
        assertReadsTokens(data.resolve("val.bin"), val);
        var train = new TokenDataset(data, "train", 2, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0, 50257);
        int[] x = new int[16], y = new int[16];
        train.nextBatch(x, y);
        for (int i = 0; i < 16; i++) {
            assertEquals(TOKENS[i], x[i]);
            assertEquals(TOKENS[i + 1], y[i]);
        }
        // as for every shard, token ids are checked against the model's vocabulary
        var small = new TokenDataset(data, "train", 2, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0, 2000);
        JgptException e = assertThrows(JgptException.class, () -> small.nextBatch(x, y));
        assertEquals(data.resolve("train.bin") + ": token 2000 at offset 2000 is outside the model's vocabulary of 2000 tokens"
                + " (a shard of another tokenizer?)", e.getMessage());

        // an empty val.bin is read as empty, and refused as too small, not as a file of another kind
        Files.write(data.resolve("val.bin"), new byte[0]);
        assertEquals(0, ShardFormat.BIN.tokenCount(data.resolve("val.bin")));
        e = assertThrows(JgptException.class, () -> new TokenDataset(data, "val", 1, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0));
        assertTrue(e.getMessage().contains("the val split (0 tokens in 1 shard)"), e.getMessage());
    }

    @Test
    void nanoGptFilesWrittenByNumpyAreReadAsTheyAre(@TempDir Path dir) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(PrepareTest.pythonHas("numpy"), "/usr/bin/python3 with numpy not available");
        // exactly as nanoGPT's data/openwebtext/prepare.py (np.memmap) and data/shakespeare/prepare.py (tofile) write them
        String script = String.join("\n",
                "import sys, os, numpy as np",
                "d = sys.argv[1]",
                "ids = ((np.arange(3000, dtype=np.int64) * 7919 + 13) % 50257)",
                "arr = np.memmap(os.path.join(d, 'train.bin'), dtype=np.uint16, mode='w+', shape=(len(ids),))",
                "arr[:] = ids",
                "arr.flush()",
                "np.array(ids[:700], dtype=np.uint16).tofile(os.path.join(d, 'val.bin'))");
        Process p = new ProcessBuilder("/usr/bin/python3", "-c", script, dir.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        short[] want = new short[3000];
        for (int i = 0; i < want.length; i++) want[i] = (short) ((i * 7919L + 13) % 50257);
        assertReadsTokens(dir.resolve("train.bin"), want);
        assertReadsTokens(dir.resolve("val.bin"), java.util.Arrays.copyOf(want, 700));
        assertEquals(dir, Prepare.ensureShards(dir, Corpus.JDK_SRC));
    }

    @Test
    void aTrainBinWithLlmcsHeaderIsStillAnLlmcShard(@TempDir Path dir) throws IOException {
        ShardFormat.BIN.write(dir.resolve("train.bin"), TOKENS, TOKENS.length);
        assertReadsTokens(dir.resolve("train.bin"), TOKENS); // the 1024-byte header is not read as 512 tokens
        // and a damaged one stays an error, not 1500 odd tokens
        byte[] cut = Files.readAllBytes(dir.resolve("train.bin"));
        Files.write(dir.resolve("val.bin"), java.util.Arrays.copyOf(cut, cut.length - 1000));
        JgptException e = assertThrows(JgptException.class, () -> ShardFormat.BIN.tokenCount(dir.resolve("val.bin")));
        assertTrue(e.getMessage().startsWith(dir.resolve("val.bin") + ": truncated: the header says 3000 tokens"), e.getMessage());
        // an llm.c model checkpoint named train.bin is no token file either
        Path model = Files.createDirectories(dir.resolve("model")).resolve("train.bin");
        byte[] checkpoint = new byte[4096];
        java.nio.ByteBuffer.wrap(checkpoint).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(20240326).putInt(3);
        Files.write(model, checkpoint);
        assertNull(ShardFormat.sniff(model));
        e = assertThrows(JgptException.class, () -> ShardFormat.BIN.tokenCount(model));
        assertEquals(model + ": this is an llm.c model checkpoint, not a token shard", e.getMessage());
    }

    @Test
    void nanoGptFilesThatCannotBeReadAreOneClearLine(@TempDir Path dir) throws IOException {
        Path odd = Files.createDirectories(dir.resolve("odd"));
        writeNanoGpt(odd.resolve("val.bin"), TOKENS);
        Files.write(odd.resolve("train.bin"), java.util.Arrays.copyOf(Files.readAllBytes(odd.resolve("val.bin")), 1001));
        JgptException e = assertThrows(JgptException.class, () -> Prepare.ensureShards(odd, Corpus.JDK_SRC));
        assertEquals(odd.resolve("train.bin") + ": 1001 bytes, an odd size: a nanoGPT token file holds 2-byte uint16 tokens"
                + " and nothing else (cut short, or another kind of file)", e.getMessage());
        e = assertThrows(JgptException.class, () -> TokenShard.open(odd.resolve("train.bin")));
        assertTrue(e.getMessage().contains("an odd size"), e.getMessage());

        // shakespeare_char: ids of a 65-character vocabulary, described by meta.pkl
        Path chars = Files.createDirectories(dir.resolve("shakespeare_char"));
        short[] ids = new short[2000];
        for (int i = 0; i < ids.length; i++) ids[i] = (short) (i % 65);
        writeNanoGpt(chars.resolve("train.bin"), ids);
        writeNanoGpt(chars.resolve("val.bin"), ids);
        Files.write(chars.resolve("meta.pkl"), new byte[]{(byte) 0x80, 4, '}', '.'});
        e = assertThrows(JgptException.class, () -> Prepare.ensureShards(chars, Corpus.JDK_SRC));
        String refusal = ": holds nanoGPT's character ids (their vocabulary is meta.pkl, beside it), not GPT-2 BPE ids;"
                + " for GPT-2's tokens, prepare the text: jgpt prepare --source ";
        assertEquals(chars.resolve("train.bin") + refusal + "<the text> --out DIR", e.getMessage());
        Files.writeString(chars.resolve("input.txt"), "First Citizen:\n"); // prepare.py keeps the text it read
        e = assertThrows(JgptException.class, () -> new TokenDataset(chars, "val", 1, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0));
        assertEquals(chars.resolve("val.bin") + refusal + chars.resolve("input.txt") + " --out DIR", e.getMessage());

        // only nanoGPT's own names are read without a header: any other .bin without llm.c's magic stays an error
        Path other = Files.createDirectories(dir.resolve("other"));
        writeNanoGpt(other.resolve("my_train.bin"), TOKENS);
        writeNanoGpt(other.resolve("val.bin"), TOKENS);
        e = assertThrows(JgptException.class, () -> Prepare.ensureShards(other, Corpus.JDK_SRC));
        assertEquals("data.dir " + other + ": my_train.bin is named as a token shard but is not one: its first bytes are not"
                + " a .bin shard's header (damaged, or another kind of file)", e.getMessage());
        assertNull(ShardFormat.sniff(other.resolve("my_train.bin")));
        writeNanoGpt(other.resolve("Train.bin"), TOKENS);
        assertNull(ShardFormat.sniff(other.resolve("Train.bin")));
    }
}
