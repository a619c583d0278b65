package dev.jgpt.data;

import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * llm.c's token shard: 256 little-endian int32 (magic 20240520, version, token count, then zeros) and
 * the tokens as little-endian uint16. Version 1 is GPT-2's uint16 tokens; version 2 (LLaMA 3's uint32
 * tokens) is refused.
 */
final class LlmcBinShard {
    static final int MAGIC = 20240520;
    static final int VERSION = 1;
    static final int HEADER_BYTES = 256 * 4;
    // llm.c's model checkpoint magic: a common mix-up when pointing at the wrong .bin file.
    private static final int CHECKPOINT_MAGIC = 20240326;

    private LlmcBinShard() {
    }

    static long tokenCount(Path path) {
        return checkHeader(path);
    }

    static TokenShard open(Path path) {
        return TokenShard.map(path, HEADER_BYTES, checkHeader(path));
    }

    /** Reads and checks the header against the file's size; returns the token count. */
    private static long checkHeader(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long fileSize = ch.size();
            if (fileSize < HEADER_BYTES) {
                throw new JgptException(path + ": not an llm.c token shard: " + fileSize
                        + " bytes is shorter than the 1024-byte header");
            }
            ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(header, 0);
            int magic = header.getInt(0);
            int version = header.getInt(4);
            long count = Integer.toUnsignedLong(header.getInt(8));
            if (magic == CHECKPOINT_MAGIC) {
                throw new JgptException(path + ": this is an llm.c model checkpoint, not a token shard");
            }
            if (magic != MAGIC) {
                throw new JgptException(path + ": not an llm.c token shard (magic " + magic + ", expected " + MAGIC + ")");
            }
            if (version == 2) {
                throw new JgptException(path + ": holds uint32 tokens (llm.c version 2, for LLaMA 3); GPT-2 shards are version 1 (uint16)");
            }
            if (version != VERSION) {
                throw new JgptException(path + ": unsupported llm.c shard version " + version + " (expected 1)");
            }
            long expected = HEADER_BYTES + 2 * count;
            if (fileSize < expected) {
                throw new JgptException(path + ": truncated: the header says " + count + " tokens (" + expected
                        + " bytes) but the file has " + fileSize + " bytes");
            }
            if (fileSize > expected) {
                throw new JgptException(path + ": " + (fileSize - expected) + " bytes after the " + count
                        + " tokens the header announces (corrupt or not an llm.c shard)");
            }
            return count;
        } catch (IOException e) {
            throw JgptException.io(path, "read token shard", e);
        }
    }

    static void write(Path path, short[] tokens, int count) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        header.putInt(0, MAGIC).putInt(4, VERSION).putInt(8, count);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            writeFully(ch, header);
            writeUint16(ch, tokens, count);
        }
    }

    /** Writes tokens as little-endian uint16, through a bounded buffer. */
    static void writeUint16(FileChannel ch, short[] tokens, int count) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        int i = 0;
        while (i < count) {
            int n = Math.min(count - i, buf.capacity() / 2);
            buf.clear();
            buf.asShortBuffer().put(tokens, i, n);
            buf.limit(n * 2);
            writeFully(ch, buf);
            i += n;
        }
    }

    static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
