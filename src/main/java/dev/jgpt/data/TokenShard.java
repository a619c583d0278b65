package dev.jgpt.data;

import dev.jgpt.JgptException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One shard of uint16 GPT-2 tokens, opened for reading. llm.c {@code .bin}, nanoGPT's headerless
 * {@code train.bin} and {@code val.bin}, {@code .npy} and contiguous HDF5 shards are memory-mapped (the OS pages tokens in as windows are read); chunked or compressed
 * HDF5 shards are decoded once into memory (2 bytes a token).
 */
public final class TokenShard {
    static final ValueLayout.OfShort UINT16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final MemorySegment tokens;
    private final long size;

    TokenShard(Path path, MemorySegment tokens) {
        this.path = path;
        this.tokens = tokens;
        this.size = tokens.byteSize() / 2;
    }

    /** Opens a shard, choosing the format by extension; a bad file is a {@link JgptException} naming it. */
    public static TokenShard open(Path path) {
        return ShardFormat.of(path).open(path);
    }

    public Path path() {
        return path;
    }

    /** Number of tokens. */
    public long size() {
        return size;
    }

    /** Token at {@code index}. */
    public int get(long index) {
        return tokens.getAtIndex(UINT16_LE, index) & 0xFFFF;
    }

    /**
     * The index of the first token id >= {@code limit} (a model's vocabulary size), or -1 when there is
     * none: one pass, taking the maximum of 4096 tokens at a time. It runs once per shard, in a JVM
     * that has barely started, so it is a plain loop the JIT compiles at once (and vectorizes): a
     * 93M-token shard takes about 0.3 s from a cold start, where Vector API code, slow until compiled,
     * took three times as long.
     */
    public long firstTokenAtLeast(int limit) {
        for (long block = 0; block < size; block += 4096) {
            long end = Math.min(size, block + 4096);
            int max = 0;
            for (long i = block; i < end; i++) max = Math.max(max, get(i));
            if (max < limit) continue;
            for (long i = block; i < end; i++) {
                if (get(i) >= limit) return i;
            }
        }
        return -1;
    }

    /** Copies tokens {@code [from, from + count)} into {@code dst[offset...]}. */
    public void read(long from, int[] dst, int offset, int count) {
        if (from < 0 || count < 0 || from + count > size) {
            throw new IndexOutOfBoundsException("tokens [" + from + ", " + (from + count) + ") of " + size + " in " + path);
        }
        for (int i = 0; i < count; i++) {
            dst[offset + i] = tokens.getAtIndex(UINT16_LE, from + i) & 0xFFFF;
        }
    }

    /** Maps {@code count} uint16 tokens that start {@code offset} bytes into the file. */
    static TokenShard map(Path path, long offset, long count) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            if (count == 0) {
                return new TokenShard(path, MemorySegment.NULL);
            }
            // An automatic arena unmaps when the shard is garbage: datasets drop shards without closing them.
            return new TokenShard(path, ch.map(FileChannel.MapMode.READ_ONLY, offset, count * 2, Arena.ofAuto()));
        } catch (IOException e) {
            throw JgptException.io(path, "read token shard", e);
        }
    }

    /** Wraps tokens already in memory (as unsigned 16-bit values). */
    static TokenShard ofArray(Path path, short[] tokens) {
        MemorySegment seg = Arena.ofAuto().allocate((long) tokens.length * 2, 2);
        MemorySegment.copy(tokens, 0, seg, UINT16_LE, 0, tokens.length);
        return new TokenShard(path, seg);
    }
}
