package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.track.Problems;
import dev.jgpt.track.RunInfo;
import dev.jgpt.track.RunPlot;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Draws the curves of one or more runs into a PNG or SVG file. */
@Command(name = "plot", mixinStandardHelpOptions = true,
        description = {"Plot train and validation loss, HellaSwag, learning rate, gradient norm and tokens/s of one or more "
                + "runs, overlaid, into a PNG or SVG.",
                "Runs of GPT-2 124M's shape get build-nanogpt's reference lines (GPT-2 124M val loss 3.2924; HellaSwag "
                        + "0.2945 GPT-2 124M, 0.337 GPT-3 124M). A diverged run is drawn up to the divergence and marked."})
public final class PlotCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "RUN", arity = "1..*", description = "run names under --dir, or run directories")
    List<String> runs;

    @Option(names = "--dir", paramLabel = "DIR", description = "the runs directory (default: runs)")
    Path dir = Path.of("runs");

    @Option(names = "--out", paramLabel = "FILE", description = "a .png or .svg file (default: plot.png)")
    Path out = Path.of("plot.png");

    @Option(names = "--x", paramLabel = "steps|tokens", description = "what the x axis counts (default: steps)")
    String x = "steps";

    @Override
    public Integer call() {
        RunPlot.XAxis axis = switch (x.toLowerCase(Locale.ROOT)) {
            case "steps" -> RunPlot.XAxis.STEPS;
            case "tokens" -> RunPlot.XAxis.TOKENS;
            default -> throw new JgptException("--x " + x + ": must be steps or tokens");
        };
        RunsCommand.requireNotFile(dir);
        List<RunInfo> infos = new ArrayList<>();
        for (String r : runs) infos.add(RunInfo.read(RunsCommand.resolveRun(dir, r)));
        PrintWriter err = spec.commandLine().getErr();
        RunsCommand.reportProblems(err, "jgpt plot", infos);
        Problems problems = new Problems();
        RunPlot.write(infos, axis, out, problems);
        for (String p : problems.lines()) err.println("jgpt plot: " + p);
        err.flush();
        spec.commandLine().getOut().println("plot: " + out);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
