package dev.jgpt.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code ./jgpt} as a user runs it, in a child process: the project's own launcher script (JDK
 * lookup, JVM flags, the stderr filter, exec) over a {@code target/jgpt.jar} whose manifest points
 * at the classes under test, so the script never rebuilds anything. Output goes to files, read back
 * with {@link Child#out()} and {@link Child#err()}.
 */
record Launcher(Path root) {
    /** Installs the launcher (jgpt, tools/find-jdk.sh) into {@code dir} beside a manifest-only jar of this build's classpath. */
    static Launcher install(Path dir) throws IOException {
        Files.createDirectories(dir.resolve("tools"));
        Files.copy(Path.of("jgpt"), dir.resolve("jgpt"));
        Files.copy(Path.of("tools/find-jdk.sh"), dir.resolve("tools/find-jdk.sh"));
        dir.resolve("jgpt").toFile().setExecutable(true);
        Manifest manifest = new Manifest();
        Attributes a = manifest.getMainAttributes();
        a.put(Attributes.Name.MANIFEST_VERSION, "1.0");
        a.put(Attributes.Name.MAIN_CLASS, Main.class.getName());
        a.put(Attributes.Name.CLASS_PATH, String.join(" ", classPathUrls()));
        Files.createDirectories(dir.resolve("target"));
        try (OutputStream out = Files.newOutputStream(dir.resolve("target/jgpt.jar"));
             JarOutputStream ignored = new JarOutputStream(out, manifest)) {
            // a manifest and nothing else
        }
        return new Launcher(dir);
    }

    /** This JVM's class path as manifest URLs (surefire's own manifest-only jar is looked through). */
    private static List<String> classPathUrls() throws IOException {
        List<String> urls = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            if (entry.isBlank()) continue;
            Path p = Path.of(entry).toAbsolutePath();
            if (entry.endsWith(".jar") && p.getFileName().toString().startsWith("surefirebooter")) {
                try (JarFile jar = new JarFile(p.toFile())) {
                    String cp = jar.getManifest().getMainAttributes().getValue(Attributes.Name.CLASS_PATH);
                    URI base = p.getParent().toUri();
                    if (cp != null) for (String u : cp.split(" ")) if (!u.isBlank()) urls.add(base.resolve(u).toString());
                }
                continue;
            }
            URI uri = p.toUri();
            urls.add(uri.toString());
        }
        return urls;
    }

    /** A running (or finished) child; its pid is java's, as the launcher execs it. */
    record Child(Process process, Path stdout, Path stderr) {
        String out() {
            return read(stdout);
        }

        String err() {
            return read(stderr);
        }

        long pid() {
            return process.pid();
        }

        /** Waits for the exit, failing the test after {@code seconds}; returns the exit code. */
        int waitFor(int seconds) throws InterruptedException {
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                fail("jgpt did not finish within " + seconds + " s; stdout:\n" + out() + "\nstderr:\n" + err());
            }
            return process.exitValue();
        }

        /** Waits until stdout holds {@code text}, failing after {@code seconds} or if the child exits first. */
        void awaitOut(String text, int seconds) throws InterruptedException {
            long deadline = System.nanoTime() + seconds * 1_000_000_000L;
            while (!out().contains(text)) {
                if (!process.isAlive()) fail("jgpt exited (" + process.exitValue() + ") before printing '" + text + "':\n" + out() + err());
                if (System.nanoTime() > deadline) fail("no '" + text + "' within " + seconds + " s:\n" + out() + err());
                Thread.sleep(10);
            }
        }

        /** Sends signals with kill(1), in order, as one command. */
        void signal(String... names) throws Exception {
            StringBuilder cmd = new StringBuilder();
            for (String n : names) cmd.append("kill -s ").append(n).append(' ').append(pid()).append("; ");
            Process kill = new ProcessBuilder("/bin/sh", "-c", cmd.toString()).inheritIO().start();
            if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) fail("kill failed: " + cmd);
        }

        private static String read(Path file) {
            try {
                return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /**
     * Starts {@code [prefix...] ./jgpt args...} in {@code dir}; {@code javaOpts} go to JGPT_JAVA_OPTS.
     * The outputs are {@code dir/<tag>.out} and {@code dir/<tag>.err}.
     */
    Child start(Path dir, String tag, List<String> prefix, String javaOpts, String... args) throws IOException {
        List<String> command = new ArrayList<>(prefix);
        command.add(root.resolve("jgpt").toString());
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("JGPT_TTY");
        if (javaOpts != null) pb.environment().put("JGPT_JAVA_OPTS", javaOpts);
        else pb.environment().remove("JGPT_JAVA_OPTS");
        Path out = dir.resolve(tag + ".out"), err = dir.resolve(tag + ".err");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        return new Child(pb.start(), out, err);
    }

    Child start(Path dir, String tag, String... args) throws IOException {
        return start(dir, tag, List.of(), null, args);
    }
}
