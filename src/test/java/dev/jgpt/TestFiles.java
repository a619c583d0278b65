package dev.jgpt;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;

/** Copying and deleting whole folders, as tests that cut a run back to an earlier checkpoint do. */
public final class TestFiles {
    private TestFiles() {
    }

    public static void deleteTree(Path dir) throws Exception {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
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
