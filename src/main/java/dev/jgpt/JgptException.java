package dev.jgpt;

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
}
