package dev.jgpt.generate;

import dev.jgpt.io.ModelFiles;
import dev.jgpt.model.Inference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * README's "Use jgpt from Java": its example, compiled as it stands there, run in a JVM started with
 * the flags the README gives, on a model folder; it prints the greedy continuation the API gives here.
 */
class JavaApiExampleTest {
    static final String SECTION = "## Use jgpt from Java";

    @Test
    void theReadmeExampleCompilesAndRuns(@TempDir Path tmp) throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        int at = readme.indexOf(SECTION);
        assertTrue(at >= 0, "README has no section '" + SECTION + "'");
        String section = readme.substring(at, nextSection(readme, at));
        Matcher code = Pattern.compile("```java\n(.*?)```", Pattern.DOTALL).matcher(section);
        assertTrue(code.find(), "no java block in the section");
        String source = code.group(1);
        assertTrue(source.lines().count() <= 16, "the example should stay short: " + source.lines().count() + " lines");
        Matcher name = Pattern.compile("public class (\\w+)").matcher(source);
        assertTrue(name.find());
        Matcher command = Pattern.compile("\njava (.*) " + name.group(1) + "\\.java ").matcher(section);
        assertTrue(command.find(), "the section shows how to run " + name.group(1) + ".java");
        List<String> flags = List.of(command.group(1).replaceAll("-cp \"[^\"]*\"", "").trim().split("\\s+"));
        assertTrue(String.join(" ", flags).contains("--add-modules jdk.incubator.vector"), "flags: " + flags);

        Path src = tmp.resolve(name.group(1) + ".java");
        Files.writeString(src, source);
        Path classes = Files.createDirectories(tmp.resolve("classes"));
        String classpath = System.getProperty("java.class.path");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int compiled = javac.run(null, diagnostics, diagnostics, "--add-modules", "jdk.incubator.vector", "-Xlint:-incubating",
                "-cp", classpath, "-d", classes.toString(), src.toString());
        assertEquals(0, compiled, diagnostics.toString(StandardCharsets.UTF_8));

        Path modelDir = tmp.resolve("model");
        ModelFiles.save(TestModels.random(64, 5), modelDir);
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(flags);
        cmd.addAll(List.of("-cp", classes + java.io.File.pathSeparator + classpath, name.group(1), modelDir.toString()));
        Process p = new ProcessBuilder(cmd).redirectError(tmp.resolve("err").toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the example did not finish");
        assertEquals(0, p.exitValue(), () -> out + read(tmp.resolve("err")));

        try (LanguageModel model = LanguageModel.load(modelDir, Inference.Precision.BF16, 1)) {
            String greedy = model.generate("public static int", LanguageModel.Options.defaults().withTemperature(0).withMaxTokens(20));
            assertTrue(out.startsWith(greedy + "\n"), "printed:\n" + out + "\nexpected first:\n" + greedy);
            assertTrue(out.length() > greedy.length() + 5, "the streamed sample is missing:\n" + out);
        }
    }

    private static int nextSection(String readme, int from) {
        int next = readme.indexOf("\n## ", from + SECTION.length());
        return next < 0 ? readme.length() : next;
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (Exception e) {
            return "";
        }
    }
}
