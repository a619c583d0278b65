package dev.jgpt.data;

import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Cuts the stream of tokens into shards as build-nanogpt's fineweb.py does: each shard is filled to its
 * size exactly (a document may continue in the next shard), the first shard is the validation shard
 * ({@code <name>_val_000000}), the rest are training shards ({@code <name>_train_000001}, ...), and the
 * last one holds what is left.
 */
final class ShardWriter {
    private final Path dir;
    private final String name;
    private final ShardFormat format;
    private final int valTokens;
    private final int shardTokens;
    private final long maxTokens;
    private final Path journal;
    private final List<Prepare.Shard> written = new ArrayList<>();
    private short[] buffer;
    private int filled;
    private long total;

    /** {@code maxTokens <= 0}: no limit. Each shard's name is appended to {@code journal} before it is written. */
    ShardWriter(Path dir, String name, ShardFormat format, int valTokens, int shardTokens, long maxTokens, Path journal) {
        this.dir = dir;
        this.name = name;
        this.format = format;
        this.valTokens = valTokens;
        this.shardTokens = shardTokens;
        this.maxTokens = maxTokens;
        this.journal = journal;
        // Grows as tokens arrive, so a small corpus never allocates a 100M-token buffer.
        this.buffer = new short[Math.min(capacity(), 1 << 20)];
    }

    /** Appends {@code tokens[0, count)}; returns false once --max-tokens is reached (the rest is dropped). */
    boolean append(short[] tokens, int count) throws IOException {
        int from = 0;
        while (from < count) {
            if (maxTokens > 0 && total >= maxTokens) {
                return false;
            }
            int room = capacity() - filled;
            if (room > buffer.length - filled) {
                buffer = Arrays.copyOf(buffer, (int) Math.min(capacity(), Math.max(2L * buffer.length, filled + count - from)));
                room = Math.min(room, buffer.length - filled);
            }
            int n = Math.min(room, count - from);
            if (maxTokens > 0) {
                n = (int) Math.min(n, maxTokens - total);
            }
            System.arraycopy(tokens, from, buffer, filled, n);
            filled += n;
            total += n;
            from += n;
            if (filled == capacity()) {
                flush();
            }
        }
        return maxTokens <= 0 || total < maxTokens;
    }

    /** Writes the last, partial shard; returns all shards written. */
    List<Prepare.Shard> finish() throws IOException {
        if (filled > 0) {
            flush();
        }
        return List.copyOf(written);
    }

    Path dir() {
        return dir;
    }

    long totalTokens() {
        return total;
    }

    private int capacity() {
        return written.isEmpty() ? valTokens : shardTokens;
    }

    private void flush() throws IOException {
        int index = written.size();
        String split = index == 0 ? "val" : "train";
        String file = String.format("%s_%s_%06d.%s", name, split, index, format.extension);
        Files.writeString(journal, file + "\n", StandardOpenOption.APPEND);
        try {
            format.write(dir.resolve(file), buffer, filled);
        } catch (IOException e) {
            throw JgptException.io(dir.resolve(file), "write shard", e);
        } catch (RuntimeException e) {
            throw new JgptException(dir.resolve(file) + ": cannot write shard: " + e.getMessage(), e);
        }
        written.add(new Prepare.Shard(file, split, filled));
        filled = 0;
        if (buffer.length > capacity()) {
            buffer = new short[Math.min(capacity(), 1 << 20)];
        }
    }
}
