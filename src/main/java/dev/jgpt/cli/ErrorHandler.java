package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.dist.AgreedFailure;
import picocli.CommandLine;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;

/**
 * Turns the errors users can cause (bad files, bad options, a full disk) into one clear line, prefixed
 * with the command as typed ({@code jgpt bench train:}), and exit code 1; anything else is a bug and
 * keeps its stack trace.
 */
final class ErrorHandler implements CommandLine.IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(Exception ex, CommandLine cmd, CommandLine.ParseResult parseResult) {
        String line = switch (ex) {
            case AgreedFailure e when !e.reported() -> null; // rank 0 of the job says it
            case JgptException e -> e.getMessage();
            case UncheckedIOException e -> describe(e.getCause());
            case IOException e -> describe(e);
            default -> throw new RuntimeException(ex);
        };
        if (line != null) cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + line);
        return 1;
    }

    /** An I/O failure no caller put words to: the file the system named, and why. */
    private static String describe(IOException e) {
        return e instanceof FileSystemException f && f.getFile() != null
                ? f.getFile() + ": " + JgptException.reason(e) : JgptException.reason(e);
    }
}
