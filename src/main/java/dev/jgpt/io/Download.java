package dev.jgpt.io;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import dev.jgpt.JgptException;
import dev.jgpt.track.ProgressBar;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLConnection;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * jgpt's one downloader, for models (the HuggingFace Hub) and data (HellaSwag, FineWeb-Edu, tiny
 * Shakespeare).
 *
 * <ul>
 *   <li>Nothing is under the final name unless it is complete: the bytes go to {@code NAME.part}
 *       ({@link AtomicFiles#writeResumable}), renamed once the size, and the sha256 where the source
 *       publishes one, are right.</li>
 *   <li>A lost connection is tried again after a pause that doubles each time; the next try, or the
 *       next run, continues the {@code .part} file with an HTTP Range request. A server that answers a
 *       Range with the whole file is read from the start again.</li>
 *   <li>A file whose size or sha256 comes out wrong is deleted, never kept (a resumed one is fetched
 *       once more from the start first, in case the old part was the bad one).</li>
 *   <li>Before a download, the size is checked against the free disk space; offline, the error is one
 *       line naming the URL.</li>
 * </ul>
 */
public final class Download {
    /**
     * A file to fetch into {@code dest}, with its size in bytes and its sha256 (lowercase hex) where the
     * source publishes them: -1 and null where it does not.
     */
    public record Remote(URI url, Path dest, long size, String sha256) {
        public Remote(URI url, Path dest) {
            this(url, dest, -1, null);
        }

        /** Whether {@code dest} holds the file already (files are verified before they get that name). */
        public boolean isComplete() {
            try {
                return Files.isRegularFile(dest) && (size < 0 || Files.size(dest) == size);
            } catch (IOException e) {
                return false;
            }
        }
    }

    /**
     * The file list a download folder keeps of what belongs in it (hidden, so the folder still reads as
     * a plain corpus): offline, or after the folder was copied to another machine, it stands in for the
     * listing that needs the network.
     */
    public static final String LISTING = ".listing.json";

    private record Listed(String url, String file, long size, String sha256) {
    }

    /** Writes {@code dir}'s {@link #LISTING}: the files (all in {@code dir}) with their URL, size and sha256. */
    public static void keepListing(Path dir, List<Remote> files) {
        List<Listed> listed = new ArrayList<>();
        for (Remote f : files) listed.add(new Listed(f.url.toString(), dir.relativize(f.dest).toString(), f.size, f.sha256));
        Path listing = dir.resolve(LISTING);
        try {
            Files.createDirectories(dir);
            AtomicFiles.writeString(listing, new GsonBuilder().setPrettyPrinting().create().toJson(listed));
        } catch (IOException e) {
            throw new JgptException("cannot write " + listing + ": " + e.getMessage(), e);
        }
    }

    /** The files {@code dir}'s {@link #LISTING} names, or null when it has none. */
    public static List<Remote> keptListing(Path dir) {
        Path listing = dir.resolve(LISTING);
        if (!Files.isRegularFile(listing)) return null;
        try {
            List<Remote> files = new ArrayList<>();
            for (Listed l : new Gson().fromJson(Files.readString(listing), Listed[].class)) {
                files.add(new Remote(URI.create(l.url), dir.resolve(l.file), l.size, l.sha256));
            }
            return files;
        } catch (IOException | RuntimeException e) {
            throw new JgptException(listing + ": cannot read this folder's file list (" + e.getMessage() + "); delete it to list the files again online", e);
        }
    }

    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

    private final int tries;
    private final Duration firstPause;
    private final Duration timeout;
    private final PrintStream log;
    private final boolean tty;

    /**
     * @param tries      tries per file, at least 1
     * @param firstPause the pause after the first failed try; it doubles after each further one
     * @param timeout    for connecting and for each read
     * @param log        where progress bars and notes go; null for none
     * @param tty        redraw progress bars in place
     */
    public Download(int tries, Duration firstPause, Duration timeout, PrintStream log, boolean tty) {
        if (tries < 1) throw new IllegalArgumentException("tries " + tries);
        this.tries = tries;
        this.firstPause = firstPause;
        this.timeout = timeout;
        this.log = log;
        this.tty = tty;
    }

    /** 5 tries with pauses of 2, 4, 8 and 16 s; 30 s without a byte is a lost connection; progress on stderr. */
    public static Download standard() {
        return new Download(5, Duration.ofSeconds(2), Duration.ofSeconds(30), System.err, "1".equals(System.getenv("JGPT_TTY")));
    }

    /** The same tries and timeouts, without progress bars or notes. */
    public Download quiet() {
        return new Download(tries, firstPause, timeout, null, false);
    }

    /** Fetches every file not yet complete, after showing the total and checking the disk has room for it. */
    public void fetchAll(String what, Path dir, List<Remote> files) {
        for (Remote file : plan(what, dir, files)) fetch(file);
    }

    /**
     * The files not yet complete. Says how many bytes they need and how many are free in {@code dir},
     * and refuses when they do not fit.
     */
    public List<Remote> plan(String what, Path dir, List<Remote> files) {
        List<Remote> todo = new ArrayList<>();
        long need = 0;
        for (Remote f : files) {
            if (f.isComplete()) continue;
            todo.add(f);
            if (f.size >= 0) need += f.size - Math.min(f.size, partLength(f.dest));
        }
        if (todo.isEmpty()) {
            say(what + ": complete in " + dir);
            return todo;
        }
        long free = DiskSpace.usable(dir);
        say(String.format("%s: %d file%s, %s to download into %s (%s free)", what, todo.size(), todo.size() == 1 ? "" : "s",
                ProgressBar.formatBytes(need), dir, ProgressBar.formatBytes(free)));
        refuseIfNoRoom(what, dir, need, free);
        return todo;
    }

    /**
     * Returns {@code file.dest()}, downloading the file first unless it is complete there. A failed
     * download removes the folders it made for the file and left empty (one holding a .part stays).
     */
    public Path fetch(Remote file) {
        if (file.isComplete()) return file.dest;
        List<Path> created = AtomicFiles.missingFolders(file.dest.toAbsolutePath().getParent());
        try {
            AtomicFiles.writeResumable(file.dest, part -> withTries(file.url, file.dest.getFileName().toString(), () -> {
                transfer(file, part);
                return null;
            }));
        } catch (IOException e) {
            AtomicFiles.removeIfEmpty(created);
            throw new JgptException("cannot write " + file.dest + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            AtomicFiles.removeIfEmpty(created);
            throw e;
        }
        return file.dest;
    }

    /** A small text resource (a file listing) into memory. */
    public String text(URI url) {
        return withTries(url, url.toString(), () -> {
            HttpURLConnection c = open(url, 0);
            try {
                int code = responseCode(c, url);
                if (code == 429 || code >= 500) throw new TryAgain("HTTP " + code);
                if (code != 200) throw new JgptException("cannot download " + url + ": HTTP " + code + describe(c.getResponseMessage()));
                try (InputStream in = c.getInputStream()) {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                } catch (IOException e) {
                    throw new TryAgain(problem(e));
                }
            } finally {
                c.disconnect();
            }
        });
    }

    /** A failure worth another try: a lost or refused connection, a short body, a busy server. */
    private static final class TryAgain extends IOException {
        TryAgain(String message) {
            super(message);
        }
    }

    @FunctionalInterface
    private interface Attempt<T> {
        T run() throws IOException;
    }

    private <T> T withTries(URI url, String name, Attempt<T> attempt) {
        for (int n = 1; ; n++) {
            try {
                return attempt.run();
            } catch (TryAgain e) {
                if (n >= tries) {
                    throw new JgptException("cannot download " + url + ": " + e.getMessage() + " (" + tries
                            + (tries == 1 ? " try" : " tries") + "; offline?)");
                }
                Duration pause = firstPause.multipliedBy(1L << Math.min(n - 1, 20));
                say(String.format("%s: %s; trying again in %.0f s (%d of %d)", name, e.getMessage(),
                        pause.toMillis() / 1000.0, n + 1, tries));
                try {
                    Thread.sleep(pause);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new JgptException("download of " + url + " interrupted");
                }
            } catch (IOException e) {
                throw new JgptException("cannot download " + url + ": " + problem(e), e);
            }
        }
    }

    /** One try: continues {@code part} from its length and returns when it holds the whole, verified file. */
    private void transfer(Remote file, Path part) throws IOException {
        long have = partLength(part);
        if (file.size >= 0 && have > file.size) {
            Files.delete(part);
            have = 0;
        }
        if (file.size >= 0 && have == file.size) {
            verify(file, part, sha256Of(part, have), have > 0);
            return;
        }
        HttpURLConnection c = open(file.url, have);
        try {
            int code = responseCode(c, file.url);
            if (code == 416 && have > 0) {
                // the part may be whole already (its size was unknown), or the file changed under it
                if (("bytes */" + have).equals(c.getHeaderField("Content-Range"))) {
                    verify(file, part, sha256Of(part, have), true);
                    return;
                }
                Files.delete(part);
                throw new TryAgain("the server cannot continue the partial file; starting over");
            }
            if (code == 429 || code >= 500) throw new TryAgain("HTTP " + code);
            if (code != 200 && code != 206) {
                throw new JgptException("cannot download " + file.url + ": HTTP " + code + describe(c.getResponseMessage()));
            }
            boolean resumed = code == 206;
            if (resumed) {
                Matcher m = CONTENT_RANGE.matcher(String.valueOf(c.getHeaderField("Content-Range")));
                if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                    Files.delete(part);
                    throw new TryAgain("the server sent the wrong part of the file; starting over");
                }
            } else if (have > 0) {
                say(file.dest.getFileName() + ": the server does not resume downloads; starting over");
                have = 0;
            }
            long length = c.getContentLengthLong();
            long total = length < 0 ? -1 : have + length;
            if (file.size >= 0 && total >= 0 && total != file.size) {
                throw new JgptException("cannot download " + file.url + ": the server sends " + total + " bytes, expected "
                        + file.size);
            }
            long expected = file.size >= 0 ? file.size : total;
            if (expected >= 0) {
                Path dir = file.dest.toAbsolutePath().getParent();
                refuseIfNoRoom(file.dest.getFileName().toString(), dir, expected - have, DiskSpace.usable(dir));
            }
            MessageDigest sha = sha256Of(part, have);
            try (InputStream in = c.getInputStream();
                 OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                         have > 0 ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING);
                 ProgressBar bar = log == null ? null
                         : ProgressBar.start("download " + file.dest.getFileName(), expected, "B", log, tty)) {
                if (bar != null) bar.add(have);
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) {
                    out.write(buf, 0, n);
                    sha.update(buf, 0, n);
                    if (bar != null) bar.add(n);
                }
            } catch (IOException e) {
                throw new TryAgain(problem(e) + " after " + ProgressBar.formatBytes(partLength(part)));
            }
            long got = partLength(part);
            if (expected >= 0 && got < expected) {
                throw new TryAgain("the connection closed after " + got + " of " + expected + " bytes");
            }
            if (expected >= 0 && got > expected) {
                Files.delete(part);
                throw new JgptException("cannot download " + file.url + ": received " + got + " bytes, expected " + expected);
            }
            verify(file, part, sha, resumed);
        } finally {
            c.disconnect();
        }
    }

    /** Checks the sha256 of the whole part; a wrong one deletes it (and a resumed one is fetched again from the start). */
    private static void verify(Remote file, Path part, MessageDigest sha, boolean resumed) throws IOException {
        if (file.sha256 == null) return;
        String got = HexFormat.of().formatHex(sha.digest());
        if (got.equalsIgnoreCase(file.sha256)) return;
        Files.delete(part);
        if (resumed) throw new TryAgain("sha256 of the resumed file is wrong; starting over");
        throw new JgptException("cannot download " + file.url + ": its sha256 is " + got + ", expected " + file.sha256
                + " (the corrupt download is removed)");
    }

    /** A digest over the first {@code length} bytes of {@code part}. */
    private static MessageDigest sha256Of(Path part, long length) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        if (length > 0) {
            try (InputStream in = Files.newInputStream(part)) {
                byte[] buf = new byte[1 << 16];
                for (long left = length; left > 0; ) {
                    int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                    if (n < 0) break;
                    sha.update(buf, 0, n);
                    left -= n;
                }
            }
        }
        return sha;
    }

    private HttpURLConnection open(URI url, long from) throws IOException {
        URLConnection opened;
        try {
            opened = url.toURL().openConnection();
        } catch (IllegalArgumentException e) { // a relative URI
            throw new JgptException("cannot download " + url + ": not an http(s) URL (" + e.getMessage() + ")");
        }
        // an ftp: or file: address opens another kind of connection, with no status code or Range
        if (!(opened instanceof HttpURLConnection c)) throw new JgptException("cannot download " + url + ": not an http(s) URL");
        c.setConnectTimeout((int) timeout.toMillis());
        c.setReadTimeout((int) timeout.toMillis());
        c.setInstanceFollowRedirects(true);
        c.setRequestProperty("User-Agent", "jgpt");
        if (from > 0) c.setRequestProperty("Range", "bytes=" + from + "-");
        return c;
    }

    /** The status code; an unknown host fails at once, other connection problems are tried again. */
    private static int responseCode(HttpURLConnection c, URI url) throws IOException {
        try {
            return c.getResponseCode();
        } catch (UnknownHostException e) {
            throw new JgptException("cannot download " + url + ": unknown host " + url.getHost() + " (offline?)");
        } catch (IOException e) {
            throw new TryAgain(problem(e));
        }
    }

    private static String problem(IOException e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    private static String describe(String responseMessage) {
        return responseMessage == null || responseMessage.isBlank() ? "" : " " + responseMessage;
    }

    private static long partLength(Path part) {
        try {
            return Files.isRegularFile(part) ? Files.size(part) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static void refuseIfNoRoom(String what, Path dir, long need, long free) {
        if (need > free) {
            throw new JgptException("not enough disk space for " + what + " in " + dir + ": it needs "
                    + ProgressBar.formatBytes(need) + ", " + ProgressBar.formatBytes(free) + " is free");
        }
    }

    private void say(String line) {
        if (log != null) log.println(line);
    }
}
