package dev.jgpt.track;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * metrics.jsonl files read leniently ({@link Metrics#parseLenient}), kept until the file changes: a
 * dashboard looks at every run each second, and only the ones training have anything new. A file
 * that grew is read on from where the last reading ended, since a training only appends to it (a
 * resume that drops lines writes a new file, which is read whole): a run of 20,000 steps is not read
 * again for each new line.
 */
public final class MetricsCache {
    /** One file's readable entries, their summary, what was wrong with it, and whether its last line was cut off. */
    public record Read(List<Metrics.Entry> entries, RunInfo.Summary summary, Problems problems, boolean cutOff) {
    }

    private record Stamp(Object fileKey, long size, long modified) {
    }

    /**
     * A file as far as it was read: its whole lines (those ending in a newline) up to byte
     * {@code offset}, which are {@code lines} lines; their entries and problems; and the last answer.
     */
    private record Cached(Stamp stamp, long offset, int lines, List<Metrics.Entry> whole, Problems problems, Read read) {
    }

    /** The most read at once: a file past it is read in pieces of whole lines. */
    private static final int CHUNK = 64 << 20;

    private final Map<Path, Cached> files = new ConcurrentHashMap<>();

    public Read read(Path file) {
        Stamp stamp;
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            stamp = new Stamp(a.fileKey(), a.size(), a.lastModifiedTime().toMillis());
        } catch (NoSuchFileException e) {
            files.remove(file);
            return EMPTY;
        } catch (IOException e) {
            stamp = null;
        }
        Cached c = stamp == null ? null : files.get(file);
        if (c != null && c.stamp.equals(stamp)) return c.read;
        boolean grown = c != null && stamp.fileKey() != null && Objects.equals(c.stamp.fileKey(), stamp.fileKey())
                && stamp.size() >= c.offset && endsALine(file, c.offset);
        Cached now = readOn(file, stamp, grown ? c : null);
        if (stamp != null) files.put(file, now);
        return now.read;
    }

    private static final Read EMPTY = new Read(List.of(), RunInfo.Summary.of(List.of()), new Problems(), false);

    /** Reads {@code file} on from where {@code before} ended (from the start when null). */
    private static Cached readOn(Path file, Stamp stamp, Cached before) {
        long offset = before == null ? 0 : before.offset;
        int lines = before == null ? 0 : before.lines;
        List<Metrics.Entry> whole = new ArrayList<>(before == null ? List.of() : before.whole);
        Problems problems = new Problems();
        if (before != null) problems.addAll(before.problems);
        byte[] rest = new byte[0];
        try (SeekableByteChannel ch = Files.newByteChannel(file)) {
            for (long size = ch.size(); offset < size; ) {
                byte[] bytes = read(ch, offset, (int) Math.min(CHUNK, size - offset));
                int end = lastNewline(bytes) + 1;
                if (end == 0) {
                    rest = bytes; // the last line, its newline not written yet (or a line longer than a chunk)
                    break;
                }
                String text = decode(bytes, end);
                Metrics.parseLenient(text, file, lines, whole, problems); // it ends in a newline: nothing is cut off
                lines += (int) text.chars().filter(x -> x == '\n').count();
                offset += end;
            }
        } catch (NoSuchFileException e) {
            return new Cached(stamp, 0, 0, List.of(), new Problems(), EMPTY);
        } catch (IOException | RuntimeException e) {
            Problems p = new Problems();
            p.add("unreadable " + file, file + ": cannot read (" + e.getMessage() + ")");
            return new Cached(stamp, 0, 0, List.of(), p, new Read(List.of(), RunInfo.Summary.of(List.of()), p, false));
        }
        List<Metrics.Entry> kept = List.copyOf(whole);
        // a last line without its newline: a writer caught mid-line, or a whole object whose newline never came
        List<Metrics.Entry> all = kept;
        Problems shown = problems;
        boolean cutOff = false;
        if (rest.length > 0) {
            List<Metrics.Entry> withLast = new ArrayList<>(kept);
            shown = new Problems();
            shown.addAll(problems);
            cutOff = Metrics.parseLenient(decode(rest, rest.length), file, lines, withLast, shown);
            all = List.copyOf(withLast);
        }
        return new Cached(stamp, offset, lines, kept, problems, new Read(all, RunInfo.Summary.of(all), shown, cutOff));
    }

    /** Whether the byte before {@code offset} is still a newline: the file was appended to, not written over. */
    private static boolean endsALine(Path file, long offset) {
        if (offset == 0) return true;
        try (SeekableByteChannel ch = Files.newByteChannel(file)) {
            byte[] b = read(ch, offset - 1, 1);
            return b.length == 1 && b[0] == '\n';
        } catch (IOException e) {
            return false;
        }
    }

    /** Up to {@code length} bytes of {@code ch} from {@code from}; fewer where the file ends sooner. */
    static byte[] read(SeekableByteChannel ch, long from, int length) throws IOException {
        ch.position(from);
        ByteBuffer b = ByteBuffer.allocate(length);
        while (b.hasRemaining() && ch.read(b) > 0) {
            // read on
        }
        byte[] out = new byte[b.position()];
        b.flip().get(out);
        return out;
    }

    static int lastNewline(byte[] b) {
        for (int i = b.length - 1; i >= 0; i--) if (b[i] == '\n') return i;
        return -1;
    }

    /** The first {@code length} bytes as UTF-8, a bad byte read as U+FFFD: one bad byte costs its line, not the file. */
    static String decode(byte[] b, int length) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                    .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(ByteBuffer.wrap(b, 0, length)).toString();
        } catch (CharacterCodingException e) {
            return new String(b, 0, length, StandardCharsets.UTF_8);
        }
    }
}
