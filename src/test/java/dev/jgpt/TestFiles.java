package dev.jgpt;

import java.nio.file.Files;
import java.nio.file.Path;

/** Copying whole folders, as tests that cut a run back to an earlier checkpoint do (deleting: AtomicFiles.deleteTree). */
public final class TestFiles {
    private TestFiles() {
    }

    public static void copyTree(Path from, Path to) throws Exception {
        try (var s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
    }
}
