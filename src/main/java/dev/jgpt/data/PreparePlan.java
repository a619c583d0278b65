package dev.jgpt.data;

import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;
import dev.jgpt.io.DiskSpace;
import dev.jgpt.track.ProgressBar;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.ToLongFunction;

/**
 * What a prepare will take, worked out before it starts: the bytes still to download, the tokens and
 * the bytes of the shards still to write, the free disk, and the time. A corpus that downloads
 * anything is announced in two lines; a prepare that cannot fit is refused before the first byte.
 *
 * @param source        the --source value, for the messages
 * @param files         files still to download (not complete yet)
 * @param downloadBytes bytes still to download (a {@code .part} left by an earlier try counts as had)
 * @param downloadDir   where the downloads go; null when nothing is downloaded
 * @param tokens        tokens still to write, estimated
 * @param out           where the shards go
 * @param threads       tokenizer threads
 */
record PreparePlan(String source, int files, long downloadBytes, Path downloadDir, long tokens, Path out, int threads) {
    /** Bytes a token takes in a shard: uint16 in every format (headers aside). */
    static final int SHARD_BYTES_PER_TOKEN = 2;
    /**
     * GPT-2 tokens one core makes a second from web text: {@code jgpt prepare --threads 1} tokenized 600
     * FineWeb documents (964k tokens) from parquet at about 420k tokens/s on a busy AMD EPYC (Zen 4)
     * core. The expected time scales it by the threads; it is an estimate, not a promise.
     */
    static final long TOKENS_PER_SECOND_PER_CORE = 400_000;
    /** The download speed the expected time is given at (the Hub serves faster than most connections take). */
    static final long DOWNLOAD_BYTES_PER_SECOND = 50_000_000;

    /**
     * The plan for reading {@code corpus} into {@code out}, {@code written} tokens of which are there
     * already (a prepare that continues); {@code maxTokens} 0 = the whole corpus.
     */
    static PreparePlan of(String source, Corpus corpus, Path out, long written, long maxTokens, int threads) {
        int files = 0;
        long download = 0;
        Path downloads = null;
        for (Corpus.Input input : corpus.inputs) {
            if (input.remote() == null) continue;
            downloads = input.remote().dest().getParent();
            if (input.remote().isComplete()) continue;
            files++;
            long size = input.remote().size();
            if (size >= 0) download += size - Math.min(size, partLength(input.remote().dest()));
        }
        long tokens = corpus.estimatedTokens;
        if (maxTokens > 0 && (tokens == 0 || maxTokens < tokens)) tokens = maxTokens;
        return new PreparePlan(source, files, download, downloads, Math.max(0, tokens - written), out, threads);
    }

    long shardBytes() {
        return tokens * SHARD_BYTES_PER_TOKEN;
    }

    /** Whether the prepare downloads anything: then {@link #describe} is worth showing before it starts. */
    boolean downloads() {
        return files > 0;
    }

    /** Two lines: the sizes and the free disk, then the expected time. */
    String describe(ToLongFunction<Path> freeSpace) {
        StringBuilder sb = new StringBuilder(source).append(": ");
        if (downloads()) {
            sb.append(String.format(Locale.ROOT, "%d file%s, %s to download into %s, then ", files, files == 1 ? "" : "s",
                    ProgressBar.formatBytes(downloadBytes), downloadDir));
        }
        sb.append(String.format(Locale.ROOT, "~%s tokens, %s of shards into %s; %s of disk needed, %s free%n", count(tokens),
                ProgressBar.formatBytes(shardBytes()), out, ProgressBar.formatBytes(downloadBytes + shardBytes()),
                ProgressBar.formatBytes(freeSpace.applyAsLong(out))));
        sb.append(source).append(": expected time ");
        if (downloads()) {
            sb.append(duration((double) downloadBytes / DOWNLOAD_BYTES_PER_SECOND)).append(" to download at ")
                    .append(ProgressBar.formatBytes(DOWNLOAD_BYTES_PER_SECOND)).append("/s, ");
        }
        sb.append(duration((double) tokens / (TOKENS_PER_SECOND_PER_CORE * threads))).append(" to tokenize on ")
                .append(threads).append(threads == 1 ? " core" : " cores");
        return sb.toString();
    }

    /**
     * Refuses a prepare whose downloads and shards do not fit in the free space of their disks (one
     * disk or two), naming what it needs and what is free.
     */
    void refuseIfNoRoom(ToLongFunction<Path> freeSpace) {
        long freeOut = freeSpace.applyAsLong(out);
        if (downloadDir == null || downloadBytes == 0) {
            check(shardBytes(), freeOut, ProgressBar.formatBytes(shardBytes()) + " of shards into " + out);
            return;
        }
        String both = ProgressBar.formatBytes(downloadBytes) + " of downloads into " + downloadDir + " and "
                + ProgressBar.formatBytes(shardBytes()) + " of shards into " + out;
        if (sameDisk(downloadDir, out)) {
            check(downloadBytes + shardBytes(), freeOut, both);
        } else {
            check(downloadBytes, freeSpace.applyAsLong(downloadDir), ProgressBar.formatBytes(downloadBytes) + " of downloads into " + downloadDir);
            check(shardBytes(), freeOut, ProgressBar.formatBytes(shardBytes()) + " of shards into " + out);
        }
    }

    private void check(long need, long free, String what) {
        if (need > free) {
            throw new JgptException("not enough disk space to prepare " + source + ": it needs " + ProgressBar.formatBytes(need)
                    + " (" + what + "), " + ProgressBar.formatBytes(free) + " is free; make room, or prepare onto a bigger disk");
        }
    }

    private static boolean sameDisk(Path a, Path b) {
        FileStore sa = DiskSpace.store(a), sb = DiskSpace.store(b);
        return sa == null || sb == null || sa.equals(sb); // unknown: count both against one disk, the careful way
    }

    private static long partLength(Path dest) {
        try {
            Path part = AtomicFiles.partFile(dest);
            return Files.isRegularFile(part) ? Files.size(part) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static String count(long v) {
        if (v < 1_000_000) return String.format(Locale.ROOT, "%,d", v);
        if (v < 1_000_000_000) return String.format(Locale.ROOT, "%.1fM", v / 1e6);
        return String.format(Locale.ROOT, "%.2fB", v / 1e9);
    }

    /** About how long: "2 min", "5.3 h", "2.1 days". */
    static String duration(double seconds) {
        if (seconds < 90) return "~" + Math.max(1, Math.round(seconds)) + " s";
        if (seconds < 90 * 60) return "~" + Math.round(seconds / 60) + " min";
        if (seconds < 48 * 3600) return String.format(Locale.ROOT, "~%.1f h", seconds / 3600);
        return String.format(Locale.ROOT, "~%.1f days", seconds / 86400);
    }
}
