package dev.jgpt.io;

import dev.jgpt.JgptException;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * llm.c's model file: a header of 256 little-endian int32 (magic 20240326; version 3 = fp32 or 5 =
 * bf16; maxT, V, L, NH, C, Vp), then every parameter in llm.c's order, which is jgpt's buffer order.
 */
public final class LlmcCheckpoint {
    public static final int MAGIC = 20240326;
    public static final int VERSION_FP32 = 3;
    public static final int VERSION_BF16 = 5;
    private static final int HEADER_BYTES = 256 * 4;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private LlmcCheckpoint() {
    }

    public static Gpt load(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new JgptException(file + ": no such file");
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER_BYTES) throw new JgptException(file + ": truncated llm.c checkpoint (" + size + " bytes, header needs 1024)");
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            int magic = seg.get(INT, 0), version = seg.get(INT, 4);
            if (magic != MAGIC) throw new JgptException(file + ": not an llm.c model file (magic " + magic + ", expected " + MAGIC + ")");
            if (version != VERSION_FP32 && version != VERSION_BF16) {
                throw new JgptException(file + ": llm.c model version " + version + " is not supported (3 = fp32, 5 = bf16)");
            }
            int maxT = seg.get(INT, 8), V = seg.get(INT, 12), L = seg.get(INT, 16), NH = seg.get(INT, 20), C = seg.get(INT, 24);
            int Vp = seg.get(INT, 28);
            GptConfig cfg;
            try {
                cfg = new GptConfig(L, NH, C, maxT, V, Vp);
            } catch (JgptException e) {
                throw new JgptException(file + ": bad header: " + e.getMessage());
            }
            // the size first, as llm.c does: a header can claim billions of parameters a short file does not hold
            long width = version == VERSION_FP32 ? 4 : 2;
            long expected = HEADER_BYTES + cfg.parameterCount() * width;
            if (size != expected) {
                throw new JgptException(file + ": " + (size < expected ? "truncated" : "too long") + ": header describes "
                        + cfg.parameterCount() + " parameters (" + expected + " bytes), file has " + size + " bytes");
            }
            Gpt model = new Gpt(cfg);
            float[] p = model.params();
            if (version == VERSION_FP32) {
                MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), HEADER_BYTES, p, 0, p.length);
            } else {
                ValueLayout.OfShort s16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < p.length; i++) p[i] = Float.intBitsToFloat((seg.get(s16, HEADER_BYTES + 2L * i) & 0xFFFF) << 16);
            }
            return model;
        }
    }

    /** Writes an fp32 (version 3) llm.c checkpoint, atomically. */
    public static void save(Gpt model, Path file) throws IOException {
        GptConfig cfg = model.config;
        float[] p = model.params();
        AtomicFiles.write(file, tmp -> {
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
                ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                header.putInt(MAGIC).putInt(VERSION_FP32).putInt(cfg.blockSize()).putInt(cfg.vocabSize())
                        .putInt(cfg.nLayer()).putInt(cfg.nHead()).putInt(cfg.nEmbd()).putInt(cfg.paddedVocabSize());
                out.write(header.array());
                ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
                for (float f : p) {
                    if (!buf.hasRemaining()) {
                        out.write(buf.array(), 0, buf.position());
                        buf.clear();
                    }
                    buf.putFloat(f);
                }
                out.write(buf.array(), 0, buf.position());
            }
        });
    }
}
