package dev.jgpt.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The jgpt command line: one subcommand per job, each in its own class. */
@Command(name = "jgpt",
        mixinStandardHelpOptions = true,
        version = "jgpt 0.1.0",
        description = "GPT-2 from scratch in Java: download, prepare data, train, evaluate, generate.",
        subcommands = {
                CommandLine.HelpCommand.class,
                TrainCommand.class,
                GenerateCommand.class,
                EvalCommand.class,
                PrepareCommand.class,
                TokenizeCommand.class,
                ConvertCommand.class,
                DownloadCommand.class,
                DebugStepCommand.class,
                BenchCommand.class,
        })
public final class Main implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line, shared with tests so they run exactly what users run. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler(new ErrorHandler());
        return cl;
    }
}
