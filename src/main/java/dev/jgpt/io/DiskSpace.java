package dev.jgpt.io;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;

/** The disk a path will be written on, and its free bytes, asked before a large write rather than after it fails. */
public final class DiskSpace {
    private DiskSpace() {
    }

    /** The file store of {@code path}, or of the nearest folder above it that exists; null when unknown. */
    public static FileStore store(Path path) {
        Path p = path.toAbsolutePath();
        while (p != null && !Files.exists(p)) p = p.getParent();
        try {
            return p == null ? null : Files.getFileStore(p);
        } catch (IOException e) {
            return null;
        }
    }

    /** Free bytes on the disk that holds {@code path}; {@link Long#MAX_VALUE} when unknown (the write itself then fails if it must). */
    public static long usable(Path path) {
        FileStore store = store(path);
        try {
            return store == null ? Long.MAX_VALUE : store.getUsableSpace();
        } catch (IOException e) {
            return Long.MAX_VALUE;
        }
    }
}
