package dev.jgpt;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;

/**
 * An error the user can fix: a bad file, option or value. The message names the file or option and
 * what is wrong; the CLI prints it as one line and exits non-zero, without a stack trace.
 */
public class JgptException extends RuntimeException {
    public JgptException(String message) {
        super(message);
    }

    public JgptException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * A failed read or write of {@code file}: {@code FILE: cannot ACTION: REASON}, the reason in words
     * (permission denied, No space left on device), and the path the system named when it is another
     * one (the temporary file, or a folder on the way).
     */
    public static JgptException io(Path file, String action, IOException e) {
        String other = e instanceof FileSystemException f && f.getFile() != null && !Path.of(f.getFile()).equals(file)
                ? " (" + f.getFile() + ")" : "";
        return new JgptException(file + ": cannot " + action + ": " + reason(e) + other, e);
    }

    /** What went wrong, without the Java class name and the path a FileSystemException repeats. */
    public static String reason(IOException e) {
        if (e instanceof FileSystemException f) {
            if (f.getReason() != null) return f.getReason();
            return switch (f) {
                case AccessDeniedException a -> "permission denied";
                case NoSuchFileException n -> "no such file or directory";
                case FileAlreadyExistsException x -> "already exists";
                case NotDirectoryException n -> "not a directory";
                case DirectoryNotEmptyException d -> "directory not empty";
                default -> f.getClass().getSimpleName();
            };
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    /**
     * A path or value as it is typed into a command the message suggests: as it is, or single-quoted
     * when a shell would split or expand it (a space, a quote, a '$'), so the line can be pasted.
     */
    public static String shellWord(Object word) {
        String w = String.valueOf(word);
        if (w.matches("[\\p{L}\\p{M}\\p{N}_./:=@%+,-]+")) return w; // letters of any script are safe
        return "'" + w.replace("'", "'\\''") + "'";
    }

    /**
     * What is wrong with a JSON text, in one line, from Gson's parse or mapping failure: where it broke
     * ("at line 1 column 5 path $.a"), without the exception's class name, Gson's advice to parse
     * leniently or its link to a troubleshooting page, none of which the person who wrote the file
     * can act on.
     */
    public static String jsonReason(RuntimeException e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause().getMessage() != null) t = t.getCause();
        String m = t.getMessage() == null ? "" : t.getMessage().lines().findFirst().orElse("").strip();
        m = m.replaceFirst("^[\\w.$]+(Exception|Error): ", "")
                .replaceFirst("^Use JsonReader\\.setStrictness\\(Strictness\\.LENIENT\\) to accept malformed JSON", "malformed JSON");
        return m.isEmpty() ? "malformed JSON" : m;
    }
}
