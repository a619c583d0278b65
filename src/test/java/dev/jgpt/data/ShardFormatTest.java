package dev.jgpt.data;

import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shards written by numpy/h5py (tools/data/make-shard-fixtures.py) read back exactly; bad ones refused. */
class ShardFormatTest {
    static final int N = 5000;

    static Path fixture(String name) {
        try {
            return Path.of(ShardFormatTest.class.getResource("/data/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The fixtures' tokens: (i * 7919 + 13) % 50257. */
    static int expected(int i) {
        return (int) (((long) i * 7919 + 13) % 50257);
    }

    private static void assertFixtureTokens(TokenShard shard) {
        assertEquals(N, shard.size());
        int[] all = new int[N];
        shard.read(0, all, 0, N);
        for (int i = 0; i < N; i++) {
            assertEquals(expected(i), all[i], "token " + i + " of " + shard.path());
        }
        assertEquals(expected(4321), shard.get(4321));
    }

    @Test
    void readsWhatNumpyAndH5pyWrote() {
        for (String name : new String[] {"fixture_val_000000.npy", "fixture_val_000000.bin", "fixture-chunked.h5",
                "fixture-gzip.h5", "fixture-contiguous.h5", "fixture-userblock.h5"}) {
            Path p = fixture(name);
            assertEquals(ShardFormat.of(p), ShardFormat.sniff(p), name + " is told a shard by its header"); // at byte 512 after a user block
            assertEquals(N, ShardFormat.of(p).tokenCount(p), name);
            assertFixtureTokens(TokenShard.open(p));
        }
    }

    @Test
    void writesNpyAndBinByteForByteAsNumpyAndLlmcDo(@TempDir Path dir) throws IOException {
        short[] tokens = new short[N];
        for (int i = 0; i < N; i++) tokens[i] = (short) expected(i);
        for (String name : new String[] {"fixture_val_000000.npy", "fixture_val_000000.bin"}) {
            Path out = dir.resolve(name);
            ShardFormat.of(out).write(out, tokens, N);
            assertArrayEquals(Files.readAllBytes(fixture(name)), Files.readAllBytes(out), name);
        }
    }

    @Test
    void roundTripsEveryFormat(@TempDir Path dir) throws IOException {
        short[] tokens = new short[300_001];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (short) ((i * 40503L) % 50257);
        for (ShardFormat f : ShardFormat.values()) {
            Path p = dir.resolve("x_train_000001." + f.extension);
            f.write(p, tokens, tokens.length - 1);
            assertFalse(Files.exists(AtomicFiles.tempFile(p)));
            TokenShard shard = TokenShard.open(p);
            assertEquals(tokens.length - 1, shard.size());
            int[] back = new int[tokens.length - 1];
            shard.read(0, back, 0, back.length);
            for (int i = 0; i < back.length; i++) {
                assertEquals(tokens[i] & 0xFFFF, back[i], f + " token " + i);
            }
        }
    }

    @Test
    void wrongDtypeOrShapeIsRefusedClearly() {
        assertRefused(fixture("bad-int32.npy"), "dtype '<i4', expected '<u2'");
        assertRefused(fixture("bad-bigendian.npy"), "big-endian");
        assertRefused(fixture("bad-2d.npy"), "expected a 1-D array");
        assertRefused(fixture("bad-float.h5"), "holds float32, expected uint16");
    }

    @Test
    void truncatedOrCorruptShardsAreRefusedClearly(@TempDir Path dir) throws IOException {
        Path bin = truncatedCopy(fixture("fixture_val_000000.bin"), dir, 100);
        assertRefused(bin, "truncated: the header says 5000 tokens");
        Path npy = truncatedCopy(fixture("fixture_val_000000.npy"), dir, 1);
        assertRefused(npy, "truncated");
        Path h5 = truncatedCopy(fixture("fixture-chunked.h5"), dir, 4000);
        assertRefused(h5, "truncated");
        // a shard as jgpt writes it, its one chunk near the end of the file: cut into it, the missing
        // bytes used to come back as made-up tokens
        short[] tokens = new short[60_000];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (short) (i % 50_000);
        Path written = dir.resolve("jgpt_train_000001.h5");
        ShardFormat.HDF5.write(written, tokens, tokens.length);
        assertRefused(truncatedCopy(written, dir, 100), "truncated: dataset 'tokens' needs bytes up to");
        assertRefused(truncatedCopy(written, dir, 40_000), "truncated: dataset 'tokens' needs bytes up to");

        Path magic = dir.resolve("magic_val.bin");
        Files.write(magic, header(12345, 1, 0));
        assertRefused(magic, "not an llm.c token shard (magic 12345");
        Path v2 = dir.resolve("llama_val.bin");
        Files.write(v2, header(20240520, 2, 0));
        assertRefused(v2, "uint32 tokens");
        Path tiny = dir.resolve("tiny_val.bin");
        Files.write(tiny, new byte[10]);
        assertRefused(tiny, "shorter than the 1024-byte header");
        Path notNpy = dir.resolve("text_val.npy");
        Files.writeString(notNpy, "hello, this is not numpy");
        assertRefused(notNpy, "not a .npy file");
        Path notH5 = dir.resolve("text_val.h5");
        Files.writeString(notH5, "hello, this is not HDF5 either, but long enough to look at");
        assertRefused(notH5, "not a readable HDF5 token shard");
        assertRefused(dir.resolve("missing_val.bin"), "no such token shard");
        JgptException e = assertThrows(JgptException.class, () -> TokenShard.open(dir.resolve("x.txt")));
        assertTrue(e.getMessage().contains("expected a .bin, .npy or .h5"), e.getMessage());
    }

    private static Path truncatedCopy(Path from, Path dir, int cut) throws IOException {
        Path to = dir.resolve("cut_" + from.getFileName());
        Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING);
        try (RandomAccessFile f = new RandomAccessFile(to.toFile(), "rw")) {
            f.setLength(f.length() - cut);
        }
        return to;
    }

    private static byte[] header(int magic, int version, int count) {
        ByteBuffer b = ByteBuffer.allocate(1024).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, magic).putInt(4, version).putInt(8, count);
        return b.array();
    }

    static void assertRefused(Path p, String expectedMessagePart) {
        JgptException e = assertThrows(JgptException.class, () -> TokenShard.open(p), p.toString());
        assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(expectedMessagePart), "message '" + e.getMessage() + "' lacks '" + expectedMessagePart + "'");
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }
}
