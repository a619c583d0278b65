package dev.jgpt.data;

import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * llm.c's token shard: 256 little-endian int32 (magic 20240520, version, token count, then zeros) and
 * the tokens as little-endian uint16. Version 1 is GPT-2's uint16 tokens; version 2 (LLaMA 3's uint32
 * tokens) is refused.
 *
 * <p>Also nanoGPT's {@code train.bin} and {@code val.bin} (its data/openwebtext and data/shakespeare
 * prepare.py): the same uint16 tokens with no header at all, as numpy's {@code tofile} writes them.
 * Only files named exactly so and not starting with llm.c's magic are read that way. The two cannot
 * be confused: the magic read as tokens starts with id 55432, outside GPT-2's vocabulary.
 */
final class LlmcBinShard {
    static final int MAGIC = 20240520;
    static final int VERSION = 1;
    static final int HEADER_BYTES = 256 * 4;
    // llm.c's model checkpoint magic: a common mix-up when pointing at the wrong .bin file.
    private static final int CHECKPOINT_MAGIC = 20240326;

    private LlmcBinShard() {
    }

    /**
     * Whether a .bin file is one of nanoGPT's headerless token files, from its name and its first 4
     * bytes ({@code head}, fewer for a shorter file): named {@code train.bin} or {@code val.bin} and
     * starting with neither llm.c's shard magic (a shard, damaged or not) nor its checkpoint magic.
     */
    static boolean isNanoGpt(Path path, byte[] head, int length) {
        String name = path.getFileName().toString();
        if (!name.equals("train.bin") && !name.equals("val.bin")) return false;
        if (length < 4) return true;
        int first = ByteBuffer.wrap(head, 0, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        return first != MAGIC && first != CHECKPOINT_MAGIC;
    }

    static long tokenCount(Path path) {
        return layout(path).count();
    }

    static TokenShard open(Path path) {
        Layout l = layout(path);
        return TokenShard.map(path, l.offset(), l.count());
    }

    /** Where a shard's tokens start in the file, and how many there are. */
    private record Layout(long offset, long count) {
    }

    /** Reads and checks the header (or, for nanoGPT's files, the size) against the file's size. */
    private static Layout layout(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long fileSize = ch.size();
            ByteBuffer first = ByteBuffer.allocate(4);
            ch.read(first, 0);
            if (isNanoGpt(path, first.array(), first.position())) return nanoGptLayout(path, fileSize);
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
            return new Layout(HEADER_BYTES, count);
        } catch (IOException e) {
            throw JgptException.io(path, "read token shard", e);
        }
    }

    /** nanoGPT's train.bin or val.bin: the whole file is uint16 GPT-2 tokens. */
    private static Layout nanoGptLayout(Path path, long fileSize) {
        Path parent = path.toAbsolutePath().getParent();
        if (parent != null && Files.exists(parent.resolve("meta.pkl"))) {
            // shakespeare_char's prepare.py writes meta.pkl beside the ids of its 65-character vocabulary
            // (and keeps the text it read as input.txt)
            Path text = parent.resolve("input.txt");
            throw new JgptException(path + ": holds nanoGPT's character ids (their vocabulary is meta.pkl, beside it), not GPT-2"
                    + " BPE ids; for GPT-2's tokens, prepare the text: jgpt prepare --source "
                    + (Files.isRegularFile(text) ? JgptException.shellWord(text) : "<the text>") + " --out DIR");
        }
        if (fileSize % 2 != 0) {
            throw new JgptException(path + ": " + fileSize + " bytes, an odd size: a nanoGPT token file holds 2-byte uint16"
                    + " tokens and nothing else (cut short, or another kind of file)");
        }
        return new Layout(0, fileSize / 2);
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
