package dev.jgpt.track;

import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Takes the README's screenshot of the dashboard: serves a runs directory, opens the page in
 * headless Chromium and saves it as PNG. Run by tools/docs/screenshots.sh.
 *
 * <pre>
 * DashboardScreenshot RUNS_DIR OUT.png [URL_FRAGMENT] [WIDTH] [HEIGHT]
 * </pre>
 */
public final class DashboardScreenshot {
    public static void main(String[] args) throws Exception {
        Path runs = Path.of(args[0]);
        Path out = Path.of(args[1]);
        String fragment = args.length > 2 ? args[2] : "";
        int width = args.length > 3 ? Integer.parseInt(args[3]) : 1440;
        int height = args.length > 4 ? Integer.parseInt(args[4]) : 1200;
        Path profile = Files.createTempDirectory("jgpt-screenshot");
        WebDriver browser = DashboardBrowserTest.browser(profile);
        try (Dashboard dashboard = Dashboard.start(runs, "127.0.0.1", 0)) {
            browser.manage().window().setSize(new org.openqa.selenium.Dimension(width, height));
            browser.get(dashboard.url() + (fragment.isEmpty() ? "" : "#" + fragment));
            Thread.sleep(4000); // the event stream delivers the runs and their metrics, the charts draw
            Files.write(out, ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
            System.out.println("screenshot: " + out);
        } finally {
            browser.quit();
        }
    }
}
