package dev.jgpt.cli;

import dev.jgpt.JgptException;
import picocli.CommandLine;

/**
 * Turns the errors users can cause (bad files, bad options) into one clear line and exit code 1;
 * anything else is a bug and keeps its stack trace.
 */
final class ErrorHandler implements CommandLine.IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(Exception ex, CommandLine cmd, CommandLine.ParseResult parseResult) {
        if (ex instanceof JgptException || ex instanceof java.io.UncheckedIOException
                || ex instanceof java.nio.file.NoSuchFileException) {
            cmd.getErr().println("jgpt " + cmd.getCommandName() + ": " + ex.getMessage());
            return 1;
        }
        if (ex instanceof java.io.IOException io) {
            cmd.getErr().println("jgpt " + cmd.getCommandName() + ": " + io);
            return 1;
        }
        throw new RuntimeException(ex);
    }
}
