package dev.jgpt.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jgpt.track.RunDirectory;
import dev.jgpt.track.RunInfoTest;
import dev.jgpt.track.RunLock;
import dev.jgpt.track.RunStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.jgpt.cli.EngineCommandsTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** jgpt runs, runs show and plot as a user runs them, on good runs and on broken ones. */
class RunsCommandTest {
    @TempDir
    Path runs;

    @Test
    void runsListsEveryRunWithItsStatusAndWhatSetChanged() throws Exception {
        Path good = RunInfoTest.trainedRun(runs, "good", "train.max_steps=20", "train.warmup_steps=5");
        RunInfoTest.trainedRun(runs, "other");
        // one run "is training" (this process holds its lock), one died (says running, nobody holds it)
        RunLock lock = RunLock.acquire(good);
        RunStatus.runningNow().write(good);
        Path died = RunInfoTest.trainedRun(runs, "died");
        RunStatus.runningNow().write(died);
        try {
            EngineCommandsTest.Run r = run("runs", "--dir", runs.toString());
            assertEquals(0, r.exit(), r.err());
            assertEquals("", r.err());
            String[] lines = r.out().split("\n");
            assertTrue(lines[0].startsWith("NAME "), r.out());
            assertTrue(lines[0].contains("STATUS") && lines[0].contains("BEST VAL") && lines[0].contains("WALL"), lines[0]);
            String goodLine = find(lines, "good ");
            assertTrue(goodLine.matches("good\\s+running\\s+10/20\\s+5\\.5000\\s+6\\.2000\\s+-\\s+10\\.2K\\s+\\dm\\d\\ds\\s+"
                    + "train.warmup_steps=5 \\(file: 50\\), train.max_steps=20 \\(file: 1000\\), log.runs_dir=.* \\(file: runs\\)"), goodLine);
            assertTrue(find(lines, "died ").matches("died\\s+died\\s+10/1000 .*"), r.out());
            assertTrue(find(lines, "other ").matches("other\\s+unknown\\s+10/1000 .*"), r.out());

            EngineCommandsTest.Run j = run("runs", "--dir", runs.toString(), "--json");
            assertEquals(0, j.exit(), j.err());
            JsonArray a = JsonParser.parseString(j.out()).getAsJsonArray();
            assertEquals(3, a.size());
            JsonObject g = a.asList().stream().map(e -> e.getAsJsonObject()).filter(o -> o.get("name").getAsString().equals("good")).findFirst().orElseThrow();
            assertEquals("running", g.get("status").getAsString());
            assertEquals(10, g.get("steps_done").getAsInt());
            assertEquals(20, g.get("max_steps").getAsInt());
            assertEquals(6.2, g.get("best_val_loss").getAsDouble());
            assertEquals(10240, g.get("tokens").getAsLong());
            assertTrue(g.get("hellaswag").isJsonNull());
            assertEquals("train.warmup_steps", g.getAsJsonArray("changed_from_config_file").get(0).getAsJsonObject().get("key").getAsString());
        } finally {
            lock.close();
        }
    }

    @Test
    void brokenFilesAreReportedOnceAndTheRestListed() throws Exception {
        Path broken = RunInfoTest.trainedRun(runs, "broken");
        Files.writeString(broken.resolve(RunDirectory.METRICS_FILE), "{\"type\":\"train\",\"step\":10,\"loss\":\"x\"}\n{\"type\":\"tr",
                java.nio.file.StandardOpenOption.APPEND);
        Files.delete(broken.resolve(RunDirectory.CONFIG_FILE));
        RunInfoTest.trainedRun(runs, "fine");
        EngineCommandsTest.Run r = run("runs", "--dir", runs.toString());
        assertEquals(0, r.exit(), r.err());
        String[] err = r.err().split("\n");
        assertEquals(3, err.length, r.err());
        assertTrue(err[0].startsWith("jgpt runs: broken: ") && err[0].contains("config.yaml: missing"), r.err());
        assertTrue(r.err().contains("train field \"loss\" is x, not a number"), r.err());
        assertTrue(r.err().contains("last line was cut off"), r.err());
        assertTrue(find(r.out().split("\n"), "broken ").matches("broken\\s+unknown\\s+11/\\?\\s+5\\.5000\\s+6\\.2000\\s+-\\s+-\\s+\\dm\\d\\ds.*"), r.out());
        assertTrue(find(r.out().split("\n"), "fine ").matches("fine\\s+unknown\\s+10/1000 .*"), r.out());
    }

    @Test
    void anEmptyConfigIsAProblemNotAListOfChanges() throws Exception {
        Path emptied = RunInfoTest.trainedRun(runs, "emptied");
        Files.writeString(emptied.resolve(RunDirectory.CONFIG_FILE), "");
        EngineCommandsTest.Run r = run("runs", "--dir", runs.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals("jgpt runs: emptied: " + emptied.resolve(RunDirectory.CONFIG_FILE) + ": holds no settings"
                + " (a run's config.yaml lists every one); the run's settings are unknown\n", r.err());
        String line = find(r.out().split("\n"), "emptied ");
        assertTrue(line.matches("emptied\\s+\\S+\\s+10/\\?\\s+.*") && !line.contains("null"), line);
    }

    @Test
    void showGivesOneRunInFull() throws Exception {
        Path dir = RunInfoTest.trainedRun(runs, "full", "train.max_steps=20", "train.warmup_steps=5");
        Files.createDirectories(dir.resolve("checkpoints/step_000010"));
        Files.writeString(dir.resolve("checkpoints/step_000010/state.json"), "{\"step\":10,\"optimizerSteps\":10,\"dataState\":\"{}\",\"valLoss\":6.2}");
        try (RunDirectory run = RunDirectory.open(dir, new PrintStream(new ByteArrayOutputStream()))) {
            run.markRunning(); // a resumed session, which training tells where it trains: here two processes under mpirun
            run.recordDevice("cpu (train.device auto: no usable GPU: no CUDA driver found)", 2, 2);
        }
        EngineCommandsTest.Run r = run("runs", "show", "full", "--dir", runs.toString());
        assertEquals(0, r.exit(), r.err());
        String out = r.out();
        assertTrue(out.contains("config file  configs/quickstart.yaml with --set log.runs_dir="), out);
        assertTrue(out.contains("steps        10/20, 10,240 tokens"), out);
        assertTrue(out.contains("best val     6.2000 at step 10"), out);
        assertTrue(out.matches("(?s).*step_000010\\s+step\\s+10\\s+val loss 6\\.2000.*"), out);
        assertTrue(out.contains("latest samples (step 10)\n  --- sample 0\n  public static void main\n  --- sample 1\n  class Foo {}"), out);
        assertTrue(out.contains("  train.max_steps: 20\n"), out);
        assertTrue(out.contains("session      "), out);
        assertTrue(out.contains("; trained on cpu (train.device auto: no usable GPU: no CUDA driver found)\n"), out);
        assertTrue(out.contains(", 2 processes, each 2 threads of "), out);

        EngineCommandsTest.Run j = run("runs", "show", dir.toString(), "--json"); // a path works as well as a name
        assertEquals(0, j.exit(), j.err());
        JsonObject o = JsonParser.parseString(j.out()).getAsJsonObject();
        assertEquals(6.2, o.getAsJsonArray("checkpoints").get(0).getAsJsonObject().get("val_loss").getAsDouble());
        assertEquals(20, o.getAsJsonObject("config").getAsJsonObject("train").get("max_steps").getAsInt());
        assertEquals(2, o.getAsJsonArray("latest_samples").size());
        assertTrue(o.getAsJsonObject("record").has("sessions"));
    }

    @Test
    void showTakesTheRunsDirectoryGivenBeforeOrAfterIt() throws Exception {
        RunInfoTest.trainedRun(runs, "x");
        EngineCommandsTest.Run before = run("runs", "--dir", runs.toString(), "show", "x");
        assertEquals(0, before.exit(), before.err());
        assertTrue(before.out().startsWith("run          x ("), before.out());
        EngineCommandsTest.Run after = run("runs", "show", "x", "--dir", runs.toString());
        assertEquals(before.out().lines().findFirst(), after.out().lines().findFirst());
        // the one given after show wins
        EngineCommandsTest.Run both = run("runs", "--dir", runs.resolve("absent").toString(), "show", "x", "--dir", runs.toString());
        assertEquals(0, both.exit(), both.err());
    }

    @Test
    void eachCommandNamesItselfInTheProblemsItReports() throws Exception {
        Path broken = RunInfoTest.trainedRun(runs, "broken");
        Files.writeString(broken.resolve(RunDirectory.METRICS_FILE), "{\"type\":\"tr", java.nio.file.StandardOpenOption.APPEND);
        EngineCommandsTest.Run plot = run("plot", "broken", "--dir", runs.toString(), "--out", runs.resolve("p.png").toString());
        assertEquals(0, plot.exit(), plot.err());
        assertTrue(plot.err().startsWith("jgpt plot: broken: ") && plot.err().contains("last line was cut off"), plot.err());
        assertFalse(plot.err().contains("jgpt runs"), plot.err());
        EngineCommandsTest.Run show = run("runs", "show", "broken", "--dir", runs.toString());
        assertTrue(show.err().startsWith("jgpt runs show: broken: "), show.err());
    }

    @Test
    void badNamesAndFoldersAreOneLine() throws Exception {
        EngineCommandsTest.Run r = run("runs", "show", "nope", "--dir", runs.toString());
        assertEquals(1, r.exit());
        assertEquals("jgpt runs show: nope: no such run in " + runs + " (jgpt runs --dir " + runs + " lists them)\n", r.err());
        r = run("runs", "--dir", runs.resolve("absent").toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().startsWith("jgpt runs: --dir " + runs.resolve("absent") + ": no such directory"), r.err());
        assertEquals(0, run("runs", "--dir", runs.toString()).exit());
        assertEquals("no runs in " + runs + "\n", run("runs", "--dir", runs.toString()).out());
        // a file given as the runs directory exists: saying so, not "no such directory"
        Path file = runs.resolve("notes.txt");
        Files.writeString(file, "x");
        for (String command : List.of("runs", "plot", "dashboard")) {
            List<String> args = new java.util.ArrayList<>(List.of(command, "--dir", file.toString()));
            if (command.equals("plot")) args.add("some-run");
            if (command.equals("dashboard")) args.addAll(List.of("--port", "0"));
            EngineCommandsTest.Run f = assertTimeoutPreemptively(java.time.Duration.ofSeconds(60), () -> run(args.toArray(String[]::new)));
            assertEquals(1, f.exit(), command);
            assertEquals("jgpt " + command + ": --dir " + file + ": is a file, not a folder\n", f.err());
        }
    }

    @Test
    void plotDrawsPngAndSvgWithReferenceLinesAndTheDivergence() throws Exception {
        Path small = RunInfoTest.trainedRun(runs, "small");
        Path gpt2 = RunInfoTest.trainedRun(runs, "gpt2", "model.preset=gpt2", "model.block_size=1024",
                "train.seq_len=64", "eval.hellaswag_every=5");
        try (RunDirectory run = RunDirectory.open(gpt2, new PrintStream(new ByteArrayOutputStream()))) {
            run.logHellaSwag(5, 100, 25, 27);
            run.logHellaSwag(10, 100, 26, 29);
            run.logTrain(10, Double.NaN, 1e-3, Double.NaN, 1, 1);
        }
        Path png = runs.resolve("out/plot.png");
        EngineCommandsTest.Run r = run("plot", "small", "gpt2", "--dir", runs.toString(), "--out", png.toString());
        assertEquals(0, r.exit(), r.err());
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(1280, image.getWidth());
        assertTrue(image.getHeight() > 1000, "loss + HellaSwag + lr + norm + tokens/s: " + image.getHeight());

        Path svg = runs.resolve("plot.svg");
        r = run("plot", "small", "gpt2", "--dir", runs.toString(), "--out", svg.toString(), "--x", "tokens");
        assertEquals(0, r.exit(), r.err());
        String text = Files.readString(svg);
        assertTrue(text.startsWith("<?xml") && text.contains("<svg") && text.strip().endsWith("</svg>"), text.substring(0, 200));
        assertTrue(text.length() > 50_000, "five panels of curves and labels: " + text.length());
        // what the panels hold is checked on the charts themselves (RunPlotTest): XChart draws its text as outlines

        assertEquals(1, run("plot", "small", "--dir", runs.toString(), "--out", runs.resolve("x.jpg").toString()).exit());
        Path file = runs.resolve("notes.txt");
        Files.writeString(file, "x");
        EngineCommandsTest.Run underFile = run("plot", "small", "--dir", runs.toString(), "--out", file.resolve("sub/p.png").toString());
        assertEquals(1, underFile.exit());
        assertEquals("jgpt plot: --out " + file.resolve("sub/p.png") + ": " + file + " is a file, not a folder\n", underFile.err());
        Path folder = Files.createDirectories(runs.resolve("curves.png"));
        EngineCommandsTest.Run intoFolder = run("plot", "small", "--dir", runs.toString(), "--out", folder.toString());
        assertEquals(1, intoFolder.exit());
        assertEquals("jgpt plot: --out " + folder + ": is a folder; give a .png or .svg file\n", intoFolder.err());
        EngineCommandsTest.Run bad = run("plot", "small", "--dir", runs.toString(), "--x", "time");
        assertEquals("jgpt plot: --x time: must be steps or tokens\n", bad.err());
        Files.createDirectories(runs.resolve("empty"));
        Files.writeString(runs.resolve("empty/config.yaml"), "train: {max_steps: 5}\n");
        EngineCommandsTest.Run none = run("plot", "empty", "--dir", runs.toString(), "--out", runs.resolve("e.png").toString());
        assertEquals(1, none.exit());
        assertTrue(none.err().contains("nothing to plot: empty recorded no metrics yet"), none.err());
        assertFalse(Files.exists(runs.resolve("e.png")));
    }

    @Test
    void wallTimeIsRoundedToTheNearestSecondAsOnTheDashboard() {
        assertEquals("0m10s", RunsCommand.duration(java.time.Duration.ofMillis(9703)));
        assertEquals("0m09s", RunsCommand.duration(java.time.Duration.ofMillis(9499)));
        assertEquals("1m00s", RunsCommand.duration(java.time.Duration.ofMillis(59_600)));
        assertEquals("1h00m", RunsCommand.duration(java.time.Duration.ofMillis(3_599_500)));
        assertEquals("1d00h", RunsCommand.duration(java.time.Duration.ofMillis(86_399_500)));
    }

    private static String find(String[] lines, String prefix) {
        for (String l : lines) if (l.startsWith(prefix)) return l;
        throw new AssertionError("no line starting with " + prefix + " in\n" + String.join("\n", lines));
    }
}
