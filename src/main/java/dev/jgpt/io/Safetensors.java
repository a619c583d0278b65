package dev.jgpt.io;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import dev.jgpt.JgptException;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor's
 * name to its dtype, shape and byte range, then the raw little-endian data. Read through a memory
 * map (files of several GB), written in one pass.
 */
public final class Safetensors implements AutoCloseable {

    /** One tensor's entry in the header. */
    public record Entry(String name, String dtype, int[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (int d : shape) n = Math.multiplyExact(n, d); // a header's shape may claim more than a long counts
            return n;
        }
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, Entry> entries;

    private Safetensors(Path file, Arena arena, MemorySegment data, Map<String, Entry> entries) {
        this.file = file;
        this.arena = arena;
        this.data = data;
        this.entries = entries;
    }

    public static Safetensors open(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new JgptException(file + ": no such file");
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new JgptException(file + ": truncated safetensors file (" + size + " bytes, no header)");
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLen = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLen <= 0 || headerLen > size - 8 || headerLen > 100_000_000) {
                throw new JgptException(file + ": not a safetensors file or truncated (header length " + headerLen
                        + ", file size " + size + ")");
            }
            byte[] header = all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            MemorySegment data = all.asSlice(8 + headerLen);
            Map<String, Entry> entries = parseHeader(file, new String(header, StandardCharsets.UTF_8), data.byteSize());
            return new Safetensors(file, arena, data, entries);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Reads the header as HuggingFace's safetensors library validates it: a JSON object of tensors, each
     * with a known dtype, a shape of non-negative integers and two data offsets whose byte count fits
     * the shape, the tensors' byte ranges tiling the data section exactly (no overlap, no gap).
     */
    private static Map<String, Entry> parseHeader(Path file, String json, long dataSize) {
        JsonElement root;
        try {
            root = JsonParser.parseString(json);
        } catch (JsonParseException e) {
            throw new JgptException(file + ": safetensors header is not valid JSON: " + JgptException.jsonReason(e));
        }
        if (!root.isJsonObject()) throw new JgptException(file + ": safetensors header is not a JSON object");
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : root.getAsJsonObject().entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                if (!e.getValue().isJsonObject()) throw new JgptException(file + ": safetensors __metadata__ is not a JSON object");
                continue;
            }
            entries.put(e.getKey(), entry(file, e.getKey(), e.getValue(), dataSize));
        }
        List<Entry> byOffset = new ArrayList<>(entries.values());
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long covered = 0;
        Entry previous = null;
        for (Entry t : byOffset) {
            if (t.begin() < covered) {
                throw new JgptException(file + ": tensors " + previous.name() + " and " + t.name() + " overlap (bytes ["
                        + previous.begin() + ", " + previous.end() + ") and [" + t.begin() + ", " + t.end() + "))");
            }
            if (t.begin() > covered) {
                throw new JgptException(file + ": bytes [" + covered + ", " + t.begin() + ") of the data section belong to no tensor");
            }
            covered = t.end();
            previous = t;
        }
        if (covered != dataSize) {
            throw new JgptException(file + ": bytes [" + covered + ", " + dataSize + ") of the data section belong to no tensor");
        }
        return entries;
    }

    private static Entry entry(Path file, String name, JsonElement value, long dataSize) {
        String where = file + ": tensor " + name + ": ";
        if (!(value instanceof JsonObject t)) throw new JgptException(where + "header entry is not a JSON object");
        if (!(t.get("dtype") instanceof JsonPrimitive d) || !d.isString()) throw new JgptException(where + "no \"dtype\" text");
        String dtype = d.getAsString();
        int width = dtypeBytes(dtype);
        if (width == 0) throw new JgptException(where + "unknown dtype " + dtype);
        if (!(t.get("shape") instanceof JsonArray shapeJson)) throw new JgptException(where + "no \"shape\" list");
        int[] shape = new int[shapeJson.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = (int) whole(shapeJson.get(i), Integer.MAX_VALUE, where + "shape " + shapeJson + " is not a list of"
                    + " non-negative integers");
        }
        if (!(t.get("data_offsets") instanceof JsonArray offsets) || offsets.size() != 2) {
            throw new JgptException(where + "\"data_offsets\" must be a list of 2 integers [begin, end]");
        }
        String badOffsets = where + "data_offsets " + offsets + " must be 2 non-negative integers";
        long begin = whole(offsets.get(0), Long.MAX_VALUE, badOffsets), end = whole(offsets.get(1), Long.MAX_VALUE, badOffsets);
        if (begin > end || end > dataSize) {
            throw new JgptException(where + "needs bytes [" + begin + ", " + end + ") of the data section, which has "
                    + dataSize + " (truncated or corrupt)");
        }
        Entry entry = new Entry(name, dtype, shape, begin, end);
        long bytes;
        try {
            bytes = Math.multiplyExact(entry.elements(), width);
        } catch (ArithmeticException overflow) {
            bytes = -1;
        }
        if (bytes != end - begin) {
            throw new JgptException(where + "shape " + Arrays.toString(shape) + " of " + dtype + " does not fit its "
                    + (end - begin) + " bytes");
        }
        return entry;
    }

    /** A JSON number that is a whole number in [0, max], else the error {@code problem}. */
    private static long whole(JsonElement v, long max, String problem) {
        if (v instanceof JsonPrimitive p && p.isNumber()) {
            try {
                long n = p.getAsBigDecimal().longValueExact();
                if (n >= 0 && n <= max) return n;
            } catch (ArithmeticException | NumberFormatException e) {
                // falls through to the error
            }
        }
        throw new JgptException(problem);
    }

    /** Bytes per element of each safetensors dtype; 0 for a name the format does not have. */
    private static int dtypeBytes(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "BOOL", "I8", "U8", "F8_E4M3", "F8_E5M2" -> 1;
            default -> 0;
        };
    }

    /** Bytes of the data section (after the header): what the tensors' byte ranges cover. */
    public long dataBytes() {
        return data.byteSize();
    }

    public Map<String, Entry> entries() {
        return entries;
    }

    public Path file() {
        return file;
    }

    /**
     * Copies a tensor into {@code dst[dstOff..]} as float32. With {@code transpose} a 2-D [rows, cols]
     * tensor is stored [cols, rows] (HuggingFace Conv1D → nn.Linear order).
     */
    public void read(Entry e, float[] dst, int dstOff, boolean transpose) {
        if (!List.of("F32", "F16", "BF16").contains(e.dtype())) {
            throw new JgptException(file + ": tensor " + e.name() + " has dtype " + e.dtype() + "; jgpt reads F32, F16 and BF16");
        }
        MemorySegment seg = data.asSlice(e.begin(), e.end() - e.begin());
        int n = Math.toIntExact(e.elements());
        if (!transpose) {
            readFloats(e.dtype(), seg, 0, dst, dstOff, n);
            return;
        }
        int rows = e.shape()[0], cols = e.shape()[1];
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++) {
            readFloats(e.dtype(), seg, (long) r * cols, row, 0, cols);
            for (int c = 0; c < cols; c++) dst[dstOff + c * rows + r] = row[c];
        }
    }

    private static void readFloats(String dtype, MemorySegment seg, long firstElement, float[] dst, int dstOff, int n) {
        switch (dtype) {
            case "F32" -> MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN),
                    firstElement * 4, dst, dstOff, n);
            case "BF16" -> {
                for (int i = 0; i < n; i++) {
                    short s = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), (firstElement + i) * 2);
                    dst[dstOff + i] = Float.intBitsToFloat((s & 0xFFFF) << 16);
                }
            }
            case "F16" -> {
                for (int i = 0; i < n; i++) {
                    short s = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), (firstElement + i) * 2);
                    dst[dstOff + i] = Float.float16ToFloat(s);
                }
            }
            default -> throw new IllegalStateException(dtype);
        }
    }

    @Override
    public void close() {
        arena.close();
    }

    /** A tensor to write: {@code shape} as stored in the file, taken from {@code src[offset..]}, optionally transposed. */
    public record Tensor(String name, int[] shape, float[] src, int offset, boolean transpose) {
    }

    /** Writes F32 tensors in the given order, atomically. */
    public static void write(Path target, List<Tensor> tensors, Map<String, String> metadata) throws IOException {
        write(target, tensors, metadata, bytes -> { });
    }

    /** As above, handing {@code written} the bytes of each tensor row as it goes out (progress). */
    public static void write(Path target, List<Tensor> tensors, Map<String, String> metadata, LongConsumer written) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        header.put("__metadata__", metadata);
        long offset = 0;
        for (Tensor t : tensors) {
            long bytes = 4L * Arrays.stream(t.shape()).asLongStream().reduce(1, (a, b) -> a * b);
            header.put(t.name(), Map.of("dtype", "F32", "shape", t.shape(), "data_offsets", new long[]{offset, offset + bytes}));
            offset += bytes;
        }
        byte[] json = new Gson().toJson(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 8 + 7) / 8 * 8 - 8;
        byte[] headerBytes = Arrays.copyOf(json, padded);
        Arrays.fill(headerBytes, json.length, padded, (byte) ' ');
        AtomicFiles.write(target, tmp -> {
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
                out.write(len.array());
                out.write(headerBytes);
                for (Tensor t : tensors) writeTensor(out, t, written);
            }
        });
    }

    /** Bytes of {@code tensors}' data in a file (the header aside). */
    public static long dataBytes(List<Tensor> tensors) {
        long bytes = 0;
        for (Tensor t : tensors) bytes += 4L * Arrays.stream(t.shape()).asLongStream().reduce(1, (a, b) -> a * b);
        return bytes;
    }

    private static void writeTensor(OutputStream out, Tensor t, LongConsumer written) throws IOException {
        int rows = t.shape()[0];
        int cols = t.shape().length > 1 ? Math.toIntExact(Arrays.stream(t.shape()).skip(1).asLongStream().reduce(1, (a, b) -> a * b)) : 1;
        ByteBuffer buf = ByteBuffer.allocate(cols * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int r = 0; r < rows; r++) {
            buf.clear();
            for (int c = 0; c < cols; c++) {
                // stored [rows, cols]; transposed tensors live in src as [cols, rows]
                buf.putFloat(t.transpose() ? t.src()[t.offset() + c * rows + r] : t.src()[t.offset() + r * cols + c]);
            }
            out.write(buf.array());
            written.accept(buf.capacity());
        }
    }
}
