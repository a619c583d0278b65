package dev.jgpt.data;

import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * The three token-shard formats, told apart by extension. Each shard is one flat array of uint16 GPT-2
 * token ids.
 * <ul>
 *   <li>{@link #BIN} {@code .bin}: llm.c's layout, a 256-int32 header (magic 20240520, version 1, token
 *       count) then the tokens; what llm.c's train_gpt2 reads. Also read, never written: nanoGPT's
 *       {@code train.bin} and {@code val.bin}, the tokens with no header (see {@link LlmcBinShard}).</li>
 *   <li>{@link #NPY} {@code .npy}: a 1-D uint16 numpy array, as build-nanogpt's fineweb.py writes.</li>
 *   <li>{@link #HDF5} {@code .h5}: one chunked uint16 dataset named {@code tokens}, readable by h5py.</li>
 * </ul>
 */
public enum ShardFormat {
    BIN("bin"),
    NPY("npy"),
    HDF5("h5");

    /** File extension without the dot. */
    public final String extension;

    ShardFormat(String extension) {
        this.extension = extension;
    }

    /** The format of a shard file, by its extension; anything else is a {@link JgptException}. */
    public static ShardFormat of(Path path) {
        ShardFormat format = byExtension(path);
        if (format == null) {
            throw new JgptException(path + ": not a token shard (expected a .bin, .npy or .h5 file)");
        }
        return format;
    }

    /**
     * True for files whose extension names a shard format. Temporary and hidden files are not shards:
     * a shard being written is {@code .NAME.tmpPID} (see {@link AtomicFiles}), and other hidden
     * files are other tools' leftovers.
     */
    public static boolean isShard(Path path) {
        return byExtension(path) != null && !path.getFileName().toString().startsWith(".");
    }

    /**
     * The format a file's first bytes announce — llm.c's magic 20240520, numpy's {@code \x93NUMPY},
     * HDF5's signature (at byte 0, or after a user block) — when it matches its extension; else null.
     * nanoGPT's headerless {@code train.bin} and {@code val.bin} are known by their names.
     * Tells shards from other files with the same extensions (an llm.c model checkpoint is a .bin too).
     */
    public static ShardFormat sniff(Path path) {
        ShardFormat byName = byExtension(path);
        if (byName == null || !Files.isRegularFile(path)) return null;
        byte[] head = new byte[8];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            return null;
        }
        if (byName == BIN && LlmcBinShard.isNanoGpt(path, head, n)) return BIN;
        if (n < head.length) return null;
        boolean matches = switch (byName) {
            case BIN -> ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt(0) == LlmcBinShard.MAGIC;
            case NPY -> head[0] == (byte) 0x93 && head[1] == 'N' && head[2] == 'U' && head[3] == 'M' && head[4] == 'P' && head[5] == 'Y';
            case HDF5 -> hasHdf5Signature(path);
        };
        return matches ? byName : null;
    }

    private static final byte[] HDF5_SIGNATURE = {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

    /**
     * HDF5's signature where the format lets it stand: at byte 0, or after a user block of 512, 1024,
     * 2048, ... bytes (h5py's {@code userblock_size}).
     */
    private static boolean hasHdf5Signature(Path path) {
        try (var file = java.nio.channels.FileChannel.open(path)) {
            long size = file.size();
            for (long at = 0; at + HDF5_SIGNATURE.length <= size; at = at == 0 ? 512 : 2 * at) {
                ByteBuffer b = ByteBuffer.allocate(HDF5_SIGNATURE.length);
                for (int got = 0; b.hasRemaining() && got >= 0; ) got = file.read(b, at + b.position());
                if (Arrays.equals(b.array(), HDF5_SIGNATURE)) return true;
            }
            return false;
        } catch (IOException e) {
            return false;
        }
    }

    /** Parses a --format value: bin, npy, h5 or hdf5. */
    public static ShardFormat parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "bin", "llmc" -> BIN;
            case "npy", "numpy" -> NPY;
            case "h5", "hdf5" -> HDF5;
            default -> throw new JgptException("--format: unknown shard format '" + name + "' (use bin, npy or hdf5)");
        };
    }

    private static ShardFormat byExtension(Path path) {
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".bin")) return BIN;
        if (name.endsWith(".npy")) return NPY;
        if (name.endsWith(".h5") || name.endsWith(".hdf5")) return HDF5;
        return null;
    }

    /** Opens a shard of this format for reading. */
    public TokenShard open(Path path) {
        requireFile(path);
        return switch (this) {
            case BIN -> LlmcBinShard.open(path);
            case NPY -> NpyShard.open(path);
            case HDF5 -> Hdf5Shard.open(path);
        };
    }

    /** Number of tokens in a shard, from its header alone. */
    public long tokenCount(Path path) {
        requireFile(path);
        return switch (this) {
            case BIN -> LlmcBinShard.tokenCount(path);
            case NPY -> NpyShard.tokenCount(path);
            case HDF5 -> Hdf5Shard.tokenCount(path);
        };
    }

    /**
     * Writes {@code tokens[0, count)} as a shard at {@code path}. The file is written under a temporary
     * name and renamed into place, so a crash or interrupt never leaves a half-written shard behind.
     */
    public void write(Path path, short[] tokens, int count) throws IOException {
        AtomicFiles.write(path, "write shard", tmp -> {
            switch (this) {
                case BIN -> LlmcBinShard.write(tmp, tokens, count);
                case NPY -> NpyShard.write(tmp, tokens, count);
                case HDF5 -> Hdf5Shard.write(tmp, tokens, count);
            }
        });
    }

    private static void requireFile(Path path) {
        if (!Files.isRegularFile(path)) {
            throw new JgptException(path + ": no such token shard");
        }
    }
}
