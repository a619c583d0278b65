package dev.jgpt.data;

import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A 1-D uint16 numpy array in numpy's {@code .npy} format (versions 1.0 to 3.0 read; 1.0 written, byte for
 * byte as {@code numpy.save} writes it: magic, header length, a Python dict literal padded with spaces
 * to a multiple of 64 bytes, then the raw little-endian data).
 */
final class NpyShard {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private NpyShard() {
    }

    /** Where the data starts and how many tokens there are. */
    private record Layout(long dataOffset, long count) {
    }

    static long tokenCount(Path path) {
        return readLayout(path).count;
    }

    static TokenShard open(Path path) {
        Layout layout = readLayout(path);
        return TokenShard.map(path, layout.dataOffset, layout.count);
    }

    private static Layout readLayout(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long fileSize = ch.size();
            ByteBuffer pre = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(pre, 0);
            for (int i = 0; i < MAGIC.length; i++) {
                if (pre.position() < 10 || pre.get(i) != MAGIC[i]) {
                    throw new JgptException(path + ": not a .npy file (no \\x93NUMPY magic)");
                }
            }
            int major = pre.get(6);
            long headerLen;
            int preamble;
            if (major == 1) {
                headerLen = Short.toUnsignedInt(pre.getShort(8));
                preamble = 10;
            } else if (major == 2 || major == 3) {
                headerLen = Integer.toUnsignedLong(pre.getInt(8));
                preamble = 12;
            } else {
                throw new JgptException(path + ": unsupported .npy format version " + major);
            }
            if (preamble + headerLen > fileSize) {
                throw new JgptException(path + ": truncated .npy header");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
            ch.read(headerBuf, preamble);
            String header = new String(headerBuf.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            String descr = find(DESCR, header, path, "descr");
            if (!descr.equals("<u2")) {
                String hint = descr.equals(">u2") ? " (big-endian; convert with arr.astype('<u2'))" : "";
                throw new JgptException(path + ": dtype '" + descr + "', expected '<u2' (uint16 tokens)" + hint);
            }
            if (find(FORTRAN, header, path, "fortran_order").equals("True")) {
                throw new JgptException(path + ": Fortran-ordered array; token shards are flat C-ordered arrays");
            }
            String[] dims = find(SHAPE, header, path, "shape").split(",");
            long count = -1;
            int ndim = 0;
            for (String dim : dims) {
                if (dim.isBlank()) continue;
                ndim++;
                count = Long.parseLong(dim.trim());
            }
            if (ndim != 1) {
                throw new JgptException(path + ": shape (" + find(SHAPE, header, path, "shape")
                        + "), expected a 1-D array of tokens");
            }
            long dataOffset = preamble + headerLen;
            long expected = dataOffset + 2 * count;
            if (fileSize < expected) {
                throw new JgptException(path + ": truncated: the header says " + count + " tokens (" + expected
                        + " bytes) but the file has " + fileSize + " bytes");
            }
            if (fileSize > expected) {
                throw new JgptException(path + ": " + (fileSize - expected) + " bytes after the " + count
                        + " tokens the header announces (corrupt)");
            }
            return new Layout(dataOffset, count);
        } catch (IOException e) {
            throw JgptException.io(path, "read token shard", e);
        } catch (NumberFormatException e) {
            throw new JgptException(path + ": bad shape in the .npy header");
        }
    }

    private static String find(Pattern pattern, String header, Path path, String key) {
        Matcher m = pattern.matcher(header);
        if (!m.find()) {
            throw new JgptException(path + ": the .npy header has no '" + key + "'");
        }
        return m.group(1);
    }

    static void write(Path path, short[] tokens, int count) throws IOException {
        String dict = "{'descr': '<u2', 'fortran_order': False, 'shape': (" + count + ",), }";
        // numpy pads with spaces and a final newline so that the data starts on a 64-byte boundary.
        int unpadded = 10 + dict.length() + 1;
        int padding = (64 - unpadded % 64) % 64;
        String header = dict + " ".repeat(padding) + "\n";
        ByteBuffer pre = ByteBuffer.allocate(10 + header.length()).order(ByteOrder.LITTLE_ENDIAN);
        pre.put(MAGIC).put((byte) 1).put((byte) 0).putShort((short) header.length());
        pre.put(header.getBytes(StandardCharsets.ISO_8859_1)).flip();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            LlmcBinShard.writeFully(ch, pre);
            LlmcBinShard.writeUint16(ch, tokens, count);
        }
    }
}
