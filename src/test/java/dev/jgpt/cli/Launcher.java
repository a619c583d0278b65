package dev.jgpt.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
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
 * at the classes under test, so the script never rebuilds anything.
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

    /**
     * A running (or finished) child; its pid is java's, as the launcher execs it (or that of the
     * prefix command, such as timeout). Its output is read through pipes until every writer has
     * closed them: the launcher's stderr filter may still be passing lines on after java exits.
     */
    record Child(Process process, StringBuffer stdout, StringBuffer stderr, Thread outReader, Thread errReader) {
        String out() {
            return stdout.toString();
        }

        String err() {
            return stderr.toString();
        }

        long pid() {
            return process.pid();
        }

        /** Waits for the exit and the end of its output, failing the test after {@code seconds}; returns the exit code. */
        int waitFor(int seconds) throws InterruptedException {
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                fail("jgpt did not finish within " + seconds + " s; stdout:\n" + out() + "\nstderr:\n" + err());
            }
            outReader.join(10_000);
            errReader.join(10_000);
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
    }

    private static Thread reader(InputStream in, StringBuffer into) {
        Thread t = new Thread(() -> {
            try (var r = new java.io.InputStreamReader(in, StandardCharsets.UTF_8)) {
                char[] buf = new char[4096];
                for (int n; (n = r.read(buf)) > 0; ) into.append(buf, 0, n);
            } catch (IOException e) {
                into.append("\n[reading the child's output failed: ").append(e).append("]");
            }
        }, "jgpt-child-output");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /**
     * Starts {@code [prefix...] ./jgpt args...} in {@code dir}; {@code javaOpts} go to JGPT_JAVA_OPTS.
     */
    Child start(Path dir, List<String> prefix, String javaOpts, String... args) throws IOException {
        List<String> command = new ArrayList<>(prefix);
        command.add(root.resolve("jgpt").toString());
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("JGPT_TTY");
        if (javaOpts != null) pb.environment().put("JGPT_JAVA_OPTS", javaOpts);
        else pb.environment().remove("JGPT_JAVA_OPTS");
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();
        StringBuffer out = new StringBuffer(), err = new StringBuffer();
        return new Child(p, out, err, reader(p.getInputStream(), out), reader(p.getErrorStream(), err));
    }

    Child start(Path dir, String... args) throws IOException {
        return start(dir, List.of(), null, args);
    }

    /** The ./jgpt script itself, for a command line that names it more than once (mpirun's A : B). */
    String script() {
        return root.resolve("jgpt").toString();
    }
}
