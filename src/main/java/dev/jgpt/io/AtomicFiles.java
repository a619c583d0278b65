package dev.jgpt.io;

import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Write-to-temp-then-rename, so a crash never leaves a half-written file or folder under the real
 * name. Three modes: {@link #write} starts afresh in a hidden temporary file ({@link #tempFile}) that
 * is deleted whatever happens (and what a killed process left for the same file is deleted first); {@link #writeDirectory} does the same for a folder of files (a
 * checkpoint); {@link #writeResumable} keeps its bytes in {@code NAME.part}, which outlives a failure
 * so that the next try continues it (a download resumes from the part's length).
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /**
     * Refuses an output path that lies under a file, naming the file: writing there fails later with
     * "Not a directory" or "already exists" about a temporary file or folder, which names neither the
     * file in the way nor the option. {@code option} is how the user gave the path, like "--out".
     */
    public static void checkNotUnderAFile(Path path, String option) {
        for (Path p = path.toAbsolutePath().getParent(); p != null && !Files.isDirectory(p); p = p.getParent()) {
            if (Files.exists(p)) throw new JgptException(option + " " + path + ": " + p + " is a file, not a folder");
        }
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
        write(target, "write", writer);
    }

    /** As {@link #write(Path, Writer)}; a failure reads "TARGET: cannot {@code action}: reason". */
    public static void write(Path target, String action, Writer writer) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Path tmp = tempFile(target);
        try {
            Files.createDirectories(dir);
            removeLeftovers(target);
            writer.write(tmp);
            rename(tmp, target);
        } catch (IOException e) {
            throw JgptException.io(target, action, e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the write's own error says more; a stale .tmp file is never read
            }
        }
    }

    public static void writeString(Path target, String text) throws IOException {
        write(target, tmp -> Files.writeString(tmp, text));
    }

    /**
     * Where {@link #write} and {@link #writeDirectory} put {@code target}'s bytes until they are
     * complete: hidden ({@code .NAME.tmpPID}), so that no listing takes it for the real thing, and
     * this process's own, so that two processes never write into one.
     */
    public static Path tempFile(Path target) {
        return target.toAbsolutePath().resolveSibling("." + target.getFileName() + ".tmp" + ProcessHandle.current().pid());
    }

    /** Whether {@code name} is a temporary name of {@link #write} or {@link #writeDirectory} (any process's). */
    public static boolean isTemporary(String name) {
        return name.startsWith(".") && name.contains(".tmp");
    }

    /**
     * Deletes what killed writes of {@code target} left beside it: the temporary files and folders of
     * processes that are gone. Another live process's is its write in progress, and stays; this
     * process's own name is the one its next write of {@code target} replaces.
     */
    public static void removeLeftovers(Path target) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        if (!Files.isDirectory(dir)) return;
        String prefix = "." + target.getFileName() + ".tmp";
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.toList()) {
                String name = p.getFileName().toString();
                if (name.startsWith(prefix) && leftByAProcessThatIsGone(name.substring(prefix.length()))) deleteTree(p);
            }
        }
    }

    /** Whether a temporary name's tail ({@code PID}, {@code PID-old}) names a process that no longer runs. */
    private static boolean leftByAProcessThatIsGone(String tail) {
        int end = 0;
        while (end < tail.length() && end < 18 && Character.isDigit(tail.charAt(end))) end++;
        if (end == 0) return true;
        long pid = Long.parseLong(tail.substring(0, end));
        return pid != ProcessHandle.current().pid() && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    /**
     * Fills a temporary folder through {@code writer} and renames it to {@code target}; a folder
     * already there is renamed away before it is deleted, so a kill at any moment leaves either the
     * old folder or the new one under the real name, never half of one.
     */
    public static void writeDirectory(Path target, Writer writer) throws IOException {
        Path tmp = tempFile(target);
        Path replaced = tmp.resolveSibling(tmp.getFileName() + "-old");
        removeLeftovers(target);
        deleteTree(tmp);
        deleteTree(replaced);
        Files.createDirectories(tmp);
        try {
            writer.write(tmp);
            if (Files.exists(target)) Files.move(target, replaced, StandardCopyOption.ATOMIC_MOVE);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            deleteTree(replaced);
        } finally {
            deleteTree(tmp);
        }
    }

    /** Deletes a folder by renaming it away first, so a kill midway leaves no half folder under its name. */
    public static void deleteDirectory(Path dir) throws IOException {
        Path doomed = tempFile(dir);
        deleteTree(doomed);
        Files.move(dir, doomed, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(doomed);
    }

    /** Deletes a file or a folder with everything in it; nothing there is fine. */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
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

    /**
     * {@code dir} and the folders above it that do not exist yet, the deepest first: what a command
     * that is about to make {@code dir} takes note of, to remove again with {@link #removeIfEmpty}
     * when it fails.
     */
    public static List<Path> missingFolders(Path dir) {
        List<Path> missing = new ArrayList<>();
        for (Path p = dir.toAbsolutePath().normalize(); p != null && !Files.exists(p, LinkOption.NOFOLLOW_LINKS); p = p.getParent()) {
            missing.add(p);
        }
        return missing;
    }

    /** Deletes those of {@code folders} (deepest first) that are empty, stopping at the first that is not. */
    public static void removeIfEmpty(List<Path> folders) {
        for (Path p : folders) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                return; // not empty (what another process or an earlier run left), or not ours: the folders above it stay too
            }
        }
    }
}
