package dev.jgpt.io;

import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Write-to-temp-then-rename, so a crash never leaves a half-written file under the real name. Two
 * modes: {@link #write} starts afresh in a hidden temporary file that is deleted whatever happens;
 * {@link #writeResumable} keeps its bytes in {@code NAME.part}, which outlives a failure so that the next
 * try continues it (a download resumes from the part's length).
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    @FunctionalInterface
    public interface Writer {
        void write(Path tmp) throws IOException;
    }

    /**
     * Writes {@code target} through {@code writer} into a temporary file beside it, then renames it. A
     * failure (a full disk, no permission) is a {@link JgptException} naming the target and the reason.
     */
    public static void write(Path target, Writer writer) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = dir.resolve("." + target.getFileName() + ".tmp" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(dir);
            writer.write(tmp);
            rename(tmp, target);
        } catch (IOException e) {
            throw JgptException.io(target, "write", e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the write's own error says more; a stale .tmp file is never read
            }
        }
    }

    /** Where {@link #writeResumable} keeps the bytes of {@code target} until they are complete. */
    public static Path partFile(Path target) {
        return target.resolveSibling(target.getFileName() + ".part");
    }

    /**
     * Hands the writer {@link #partFile}, with whatever an earlier try left there, and renames it to
     * {@code target} when the writer returns. When the writer throws, the part stays for the next try;
     * a writer that finds the part's bytes wrong deletes it itself.
     */
    public static void writeResumable(Path target, Writer writer) throws IOException {
        Files.createDirectories(target.toAbsolutePath().getParent());
        Path part = partFile(target);
        writer.write(part);
        rename(part, target);
    }

    private static void rename(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    public static void writeString(Path target, String text) throws IOException {
        write(target, tmp -> Files.writeString(tmp, text));
    }
}
