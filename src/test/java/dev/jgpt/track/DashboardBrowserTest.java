package dev.jgpt.track;

import dev.jgpt.config.RunConfig;
import dev.jgpt.data.Prepare;
import dev.jgpt.data.ShardFormat;
import dev.jgpt.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.FluentWait;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The dashboard in a real browser (headless Chromium through Selenium) while a run trains: the page
 * lists the run, and its loss chart gains points as training goes on. Skipped where Debian's
 * chromium and chromium-driver are not installed.
 */
class DashboardBrowserTest {
    static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");

    @TempDir
    Path tmp;

    /** Headless Chromium as it runs anywhere, a container without a sandbox or a GPU included. */
    static WebDriver browser(Path profile) {
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                "--user-data-dir=" + profile, "--window-size=1440,1200");
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile()).build();
        return new ChromeDriver(service, options);
    }

    static void assumeBrowser() {
        assumeTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
                "headless Chromium is not installed (apt-get install chromium chromium-driver)");
    }

    @Test
    void thePageListsATrainingRunAndItsLossChartGrowsLive() throws Exception {
        assumeBrowser();
        Path runs = tmp.resolve("runs");
        RunConfig cfg = tinyRun(tmp, runs, "live");
        RunDirectory run = RunDirectory.create(cfg, new PrintStream(new ByteArrayOutputStream()), LocalDateTime.now());
        Trainer trainer = dev.jgpt.cli.TrainCommand.trainer(cfg, run, null, dev.jgpt.dist.DataParallel.alone());
        // beside it, a run copied in broken: no config, a bad line, a line cut off, a run.json of the wrong shape
        Path broken = runs.resolve("broken");
        Files.createDirectories(broken);
        Files.writeString(broken.resolve("metrics.jsonl"), "{\"type\":\"train\",\"step\":0,\"loss\":9.5}\nnot json\n"
                + "{\"type\":\"train\",\"step\":1,\"loss\":\"high\"}\n{\"type\":\"train\",\"step\":2,\"loss\":8.5}\n{\"type\":\"tr");
        Files.writeString(broken.resolve("run.json"), "{\"sessions\": 5, \"config_file\": {\"overrides\": \"x\", \"path\": [1]}}");
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread training = new Thread(() -> {
            try {
                trainer.run();
            } catch (Throwable t) {
                failed.set(t);
            }
        }, "training");

        WebDriver browser = null;
        try (Dashboard dashboard = Dashboard.start(runs, "127.0.0.1", 0)) {
            browser = browser(tmp.resolve("profile"));
            var wait = open(browser, dashboard);
            wait.until(b -> b.findElement(By.cssSelector("#runs tr[data-run='live'] .run-name")).getText().equals("live"));

            training.start();
            WebDriver b = browser;
            wait.until(x -> points(b) > 0);
            int first = points(browser);
            assertTrue(training.isAlive(), "the run should still be training");
            wait.until(x -> points(b) > first);
            assertTrue(training.isAlive(), "the chart should grow while the run trains");
            // its row counts the steps as they are taken
            wait.until(x -> b.findElement(By.cssSelector("#runs tr[data-run='live']")).getText().matches("(?s).*[1-9]\\d*/100000.*"));

            // the broken run is listed with what could be read, its problems behind a warning sign, and shows in full
            String warning = browser.findElement(By.cssSelector("#runs tr[data-run='broken'] .warn[title]")).getDomAttribute("title");
            assertTrue(warning.contains("config.yaml: missing") && warning.contains("not a metrics line")
                    && warning.contains("last line was cut off"), warning);
            assertTrue(browser.findElement(By.cssSelector("#runs tr[data-run='broken']")).getText().contains("3/?"));
            browser.findElement(By.cssSelector("#runs tr[data-run='broken'] .run-name")).click();
            wait.until(x -> b.findElement(By.id("tab-overview")).getText().contains("skipped while reading"));
            assertTrue(browser.findElement(By.id("tab-overview")).getText().contains("train field \"loss\" is high"));
        } finally {
            trainer.requestStop(2);
            training.join(120_000);
            if (browser != null) browser.quit();
            run.close();
        }
        if (failed.get() != null) throw new AssertionError("training failed", failed.get());
    }

    @Test
    void aLongRunListScrollsOnItsOwnAndLeavesTheChartsInView() throws Exception {
        assumeBrowser();
        Path runs = tmp.resolve("runs");
        for (int i = 0; i < 80; i++) {
            Path dir = runs.resolve(String.format("sweep-%02d", i));
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("metrics.jsonl"), "{\"type\":\"train\",\"step\":0,\"loss\":9.5}\n");
        }
        WebDriver browser = null;
        try (Dashboard dashboard = Dashboard.start(runs, "127.0.0.1", 0)) {
            browser = browser(tmp.resolve("profile"));
            var wait = open(browser, dashboard);
            rows(wait, 80);
            WebDriver b = browser;
            var js = (org.openqa.selenium.JavascriptExecutor) browser;
            Number chartTop = (Number) js.executeScript("return document.getElementById('chart-loss').getBoundingClientRect().top");
            Number height = (Number) js.executeScript("return window.innerHeight");
            assertTrue(chartTop.doubleValue() < height.doubleValue(), "the loss chart starts at " + chartTop + " px, below the window's " + height);
            // the last run is still there to check, down the list
            box(browser, "sweep-00").click();
            wait.until(x -> box(b, "sweep-00").isSelected() && b.getCurrentUrl().contains("sweep-00"));
            // eighty runs share ten colors; two checked runs are never drawn alike, and the swatches say which is which
            for (var box : browser.findElements(By.cssSelector("#runs tbody input[type=checkbox]"))) if (box.isSelected()) box.click();
            for (String name : List.of("sweep-00", "sweep-10", "sweep-20")) box(browser, name).click();
            wait.until(x -> b.getCurrentUrl().contains("sweep-20"));
            List<String> swatches = List.of("sweep-00", "sweep-10", "sweep-20").stream().map(name -> b.findElement(
                    By.cssSelector("#runs tr[data-run='" + name + "'] .swatch")).getCssValue("background-color")).toList();
            assertEquals(3, new java.util.HashSet<>(swatches).size(), swatches.toString());
            String legend = (String) js.executeScript("return [...document.querySelectorAll('#chart-loss .u-series')]"
                    + ".filter(s => s.textContent.includes('sweep-') && s.textContent.includes('train'))"
                    + ".map(s => s.querySelector('.u-marker').style.borderColor).join('|')");
            assertEquals(3, new java.util.HashSet<>(List.of(legend.split("\\|"))).size(), legend);
        } finally {
            if (browser != null) browser.quit();
        }
    }

    @Test
    void aReloadKeepsTheCheckedRunsWhateverTheirNames() throws Exception {
        assumeBrowser();
        Path runs = tmp.resolve("runs");
        for (String name : List.of("a", "b", "a,b", "50% & more")) {
            Files.createDirectories(runs.resolve(name));
            Files.writeString(runs.resolve(name).resolve("metrics.jsonl"), "{\"type\":\"train\",\"step\":0,\"loss\":9.5}\n");
        }
        WebDriver browser = null;
        try (Dashboard dashboard = Dashboard.start(runs, "127.0.0.1", 0)) {
            browser = browser(tmp.resolve("profile"));
            var wait = open(browser, dashboard);
            rows(wait, 4);
            WebDriver b = browser;
            // draw exactly the two runs whose names a list separator or URL encoding could split or mangle
            for (var box : browser.findElements(By.cssSelector("#runs tbody input[type=checkbox]"))) if (box.isSelected()) box.click();
            box(browser, "a,b").click();
            box(browser, "50% & more").click();
            browser.navigate().refresh();
            rows(wait, 4);
            wait.until(x -> b.findElements(By.cssSelector("#runs tbody input[type=checkbox]")).stream().anyMatch(c -> c.isSelected()));
            assertTrue(box(browser, "a,b").isSelected() && box(browser, "50% & more").isSelected(), browser.getCurrentUrl());
            assertFalse(box(browser, "a").isSelected() || box(browser, "b").isSelected(), browser.getCurrentUrl());
        } finally {
            if (browser != null) browser.quit();
        }
    }

    /** Opens the dashboard's page; the wait that the test's steps then use. */
    private static FluentWait<WebDriver> open(WebDriver browser, Dashboard dashboard) {
        var wait = new WebDriverWait(browser, Duration.ofSeconds(60)).ignoring(StaleElementReferenceException.class);
        browser.get(dashboard.url().toString());
        return wait;
    }

    /** Waits until the run list shows {@code n} runs. */
    private static void rows(FluentWait<WebDriver> wait, int n) {
        wait.until(b -> b.findElements(By.cssSelector("#runs tbody tr")).size() == n);
    }

    private static org.openqa.selenium.WebElement box(WebDriver browser, String run) {
        return browser.findElement(By.cssSelector("#runs tr[data-run=\"" + run + "\"] input[type=checkbox]"));
    }

    static int points(WebDriver browser) {
        String p = browser.findElement(By.id("chart-loss")).getDomAttribute("data-points");
        return p == null ? 0 : Integer.parseInt(p);
    }

    /** A tiny model on a tiny corpus, set to run far longer than the test watches it (the test stops it). */
    static RunConfig tinyRun(Path tmp, Path runs, String name) throws Exception {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 300; i++) text.append("public int add").append(i % 13).append("(int a, int b) { return a + b; }\n");
        Path src = tmp.resolve("corpus.txt");
        Files.writeString(src, text);
        Path data = tmp.resolve("data");
        var d = Prepare.Options.defaults(src.toString(), data);
        Prepare.run(new Prepare.Options(d.source(), data, ShardFormat.BIN, d.shardTokens(), 2000, 0, false, 1,
                d.textField(), d.downloads(), false));
        String yaml = """
                model: {preset: custom, n_layer: 1, n_head: 2, n_embd: 32, block_size: 32}
                data: {dir: %s, order: shuffled, seed: 7}
                train: {total_batch_size: 128, micro_batch_size: 4, seq_len: 32, max_lr: 3.0e-3, warmup_steps: 3, max_steps: 100000, threads: 1}
                eval: {val_every: 20, val_steps: 1, sample_every: 0, checkpoint_every: 0, keep_last: 1}
                log: {runs_dir: %s, name: %s, log_every: 1000}
                """.formatted(data, runs, name);
        return RunConfig.parse(yaml, "test", List.of());
    }
}
