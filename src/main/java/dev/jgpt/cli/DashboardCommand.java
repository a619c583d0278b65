package dev.jgpt.cli;

import dev.jgpt.track.Dashboard;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** Serves the runs directory as a live web page until stopped. */
@Command(name = "dashboard", mixinStandardHelpOptions = true,
        description = {"A local web page of the runs: their status and curves, updated live while a run trains; each "
                + "run's config (and the differences between two), samples by step and checkpoints.",
                "Read-only, and it needs no network: everything it shows comes from the runs directory and the jar.",
                "On a remote machine, forward the port: ssh -L 8080:localhost:8080 HOST, then open http://localhost:8080/."})
public final class DashboardCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--dir", paramLabel = "DIR", description = "the runs directory (default: runs)")
    Path dir = Path.of("runs");

    @Option(names = "--host", description = "the address to listen on (default: 127.0.0.1, this machine only; "
            + "another address lets anyone who can reach it read your runs)")
    String host = "127.0.0.1";

    @Option(names = "--port", description = "the port (default: 8080; 0 picks a free one)")
    int port = 8080;

    @Override
    public Integer call() throws InterruptedException {
        RunsCommand.requireNotFile(dir);
        Dashboard dashboard = Dashboard.start(dir, host, port);
        var out = spec.commandLine().getOut();
        out.println("dashboard of " + dir + (Files.isDirectory(dir) ? "" : " (no runs yet)") + " at " + dashboard.url());
        out.println("Ctrl-C to stop");
        out.flush();
        new CountDownLatch(1).await(); // serves until the process is stopped
        return 0;
    }
}
