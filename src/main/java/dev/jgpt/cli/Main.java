package dev.jgpt.cli;

import dev.jgpt.track.RunRecord;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The jgpt command line: one subcommand per job, each in its own class. */
@Command(name = "jgpt",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "GPT-2 from scratch in Java: download, prepare data, train, evaluate, generate, serve, look at runs.",
        subcommands = {
                CommandLine.HelpCommand.class,
                TrainCommand.class,
                GenerateCommand.class,
                ServeCommand.class,
                EvalCommand.class,
                PrepareCommand.class,
                TokenizeCommand.class,
                ConvertCommand.class,
                DownloadCommand.class,
                DebugStepCommand.class,
                BenchCommand.class,
                RunsCommand.class,
                PlotCommand.class,
                DashboardCommand.class,
                CudaCommand.class,
        })
public final class Main implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static void main(String[] args) {
        int code;
        dev.jgpt.dist.Mpi.command(String.join(" ", args));
        try {
            code = commandLine().execute(args);
        } catch (OutOfMemoryError e) {
            // the last guard: training refuses what its estimate shows cannot fit, but a model file can be
            // bigger than the heap too
            System.err.printf(java.util.Locale.ROOT, "jgpt%s: out of memory: the heap is %.1f GB; give the JVM more with"
                    + " JGPT_JAVA_OPTS=-Xmx... (a size below the machine's memory)%n",
                    args.length > 0 && !args[0].startsWith("-") ? " " + args[0] : "", Runtime.getRuntime().maxMemory() / 1e9);
            code = 1;
        }
        System.exit(code);
    }

    /** The version the build stamped, the one each run's run.json records too. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"jgpt " + RunRecord.version()};
        }
    }

    /** The configured command line, shared with tests so they run exactly what users run. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler(new ErrorHandler());
        return cl;
    }
}
