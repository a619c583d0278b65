package dev.jgpt.track;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * metrics.jsonl files read leniently ({@link Metrics#readLenient}), kept until the file changes: a
 * dashboard looks at every run each second, and only the ones training have anything new.
 */
public final class MetricsCache {
    /** One file's readable entries, their summary, what was wrong with it, and whether its last line was cut off. */
    public record Read(List<Metrics.Entry> entries, RunInfo.Summary summary, Problems problems, boolean cutOff) {
    }

    private record Stamp(long size, long modified) {
    }

    private record Cached(Stamp stamp, Read read) {
    }

    private final Map<Path, Cached> files = new ConcurrentHashMap<>();

    public Read read(Path file) {
        Stamp stamp;
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            stamp = new Stamp(a.size(), a.lastModifiedTime().toMillis());
        } catch (NoSuchFileException e) {
            files.remove(file);
            return new Read(List.of(), RunInfo.Summary.of(List.of()), new Problems(), false);
        } catch (IOException e) {
            stamp = null;
        }
        Cached c = files.get(file);
        if (c != null && stamp != null && c.stamp.equals(stamp)) return c.read;
        List<Metrics.Entry> entries = new ArrayList<>();
        Problems problems = new Problems();
        boolean cutOff = Metrics.readLenient(file, entries, problems);
        Read read = new Read(List.copyOf(entries), RunInfo.Summary.of(entries), problems, cutOff);
        if (stamp != null) files.put(file, new Cached(stamp, read));
        return read;
    }
}
