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
 *
 * <p>The journal gets each shard's name before the shard is written, and once it is written a
 * {@link Done} line: the shard, and the {@link Position} in the corpus where the next shard begins,
 * so that a prepare cut short can continue after its last whole shard.
 */
final class ShardWriter {
    /**
     * A place in the corpus: document {@code document} (counted from 0) of input {@code input}, after
     * the first {@code skip} tokens of it ({@code <|endoftext|>} included); {@code documents} is the
     * number of documents begun before it, in the whole corpus.
     */
    record Position(int input, long document, long skip, long documents) {
        static final Position START = new Position(0, 0, 0, 0);

        /** {@code n} tokens further in the same document. */
        Position advance(long n) {
            return new Position(input, document, skip + n, documents + (skip == 0 && n > 0 ? 1 : 0));
        }
    }

    /** A journal line: the shard {@code file} is whole, and the next shard begins at {@code next}. */
    record Done(String file, String split, long tokens, Position next) {
    }

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

    /**
     * {@code maxTokens <= 0}: no limit. Each shard's name is appended to {@code journal} before it is
     * written; {@code kept} are the whole shards of a prepare this one continues (none for a new one).
     */
    ShardWriter(Path dir, String name, ShardFormat format, int valTokens, int shardTokens, long maxTokens, Path journal,
                List<Done> kept) {
        for (Done d : kept) {
            written.add(new Prepare.Shard(d.file(), d.split(), d.tokens()));
            total += d.tokens();
        }
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

    /**
     * Appends {@code tokens[from, from + count)}, which are the tokens at {@code at} on; returns false once
     * --max-tokens is reached (the rest is dropped).
     */
    boolean append(short[] tokens, int from, int count, Position at) throws IOException {
        int start = from;
        count += from;
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
                flush(at.advance(from - start));
            }
        }
        return maxTokens <= 0 || total < maxTokens;
    }

    /** Writes the last, partial shard, which ends at {@code end}; returns all shards written. */
    List<Prepare.Shard> finish(Position end) throws IOException {
        if (filled > 0) {
            flush(end);
        }
        return List.copyOf(written);
    }

    Path dir() {
        return dir;
    }

    long totalTokens() {
        return total;
    }

    /** Whole shards so far, those of the prepare this one continues included. */
    int shardsWritten() {
        return written.size();
    }

    private int capacity() {
        return written.isEmpty() ? valTokens : shardTokens;
    }

    private void flush(Position next) throws IOException {
        int index = written.size();
        String split = index == 0 ? "val" : "train";
        String file = String.format("%s_%s_%06d.%s", name, split, index, format.extension);
        Files.writeString(journal, file + "\n", StandardOpenOption.APPEND);
        try {
            format.write(dir.resolve(file), buffer, filled);
        } catch (IOException e) {
            throw JgptException.io(dir.resolve(file), "write shard", e);
        } catch (JgptException e) {
            throw e; // names the shard already
        } catch (RuntimeException e) {
            throw new JgptException(dir.resolve(file) + ": cannot write shard: " + e.getMessage(), e);
        }
        written.add(new Prepare.Shard(file, split, filled));
        Files.writeString(journal, PrepareJournal.line(new Done(file, split, filled, next)) + "\n", StandardOpenOption.APPEND);
        filled = 0;
        if (buffer.length > capacity()) {
            buffer = new short[Math.min(capacity(), 1 << 20)];
        }
    }
}
