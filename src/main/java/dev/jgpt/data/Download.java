package dev.jgpt.data;

import dev.jgpt.JgptException;
import dev.jgpt.track.ProgressBar;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;

/**
 * Fetches a corpus file over HTTPS into a local cache, once. Offline (or when the server refuses), the
 * user gets one line that says what failed and what to pass instead.
 */
final class Download {
    private static final HttpClient HTTP = HttpClient.newBuilder()
            .connectTimeout(Duration.ofSeconds(15))
            .followRedirects(HttpClient.Redirect.NORMAL)
            .build();

    private Download() {
    }

    /**
     * Returns {@code dest}, downloading {@code url} to it first unless it is already there.
     * {@code what} names the corpus and {@code instead} says what to pass when offline.
     */
    static Path fetch(URI url, Path dest, String what, String instead, boolean progress) {
        if (Files.isRegularFile(dest)) {
            return dest;
        }
        Path tmp = dest.resolveSibling(dest.getFileName() + ".part");
        try {
            HttpResponse<InputStream> response = HTTP.send(request(url), HttpResponse.BodyHandlers.ofInputStream());
            if (response.statusCode() != 200) {
                response.body().close();
                throw new JgptException("cannot download " + what + " from " + url + ": HTTP " + response.statusCode()
                        + ". " + instead);
            }
            Files.createDirectories(dest.getParent());
            long length = response.headers().firstValueAsLong("content-length").orElse(-1);
            try (InputStream in = response.body(); OutputStream out = Files.newOutputStream(tmp);
                 ProgressBar bar = progress ? ProgressBar.start("download " + dest.getFileName(), length, "B") : null) {
                byte[] buf = new byte[1 << 16];
                for (int n; (n = in.read(buf)) > 0; ) {
                    out.write(buf, 0, n);
                    if (bar != null) bar.add(n);
                }
            }
            Files.move(tmp, dest, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return dest;
        } catch (IOException e) {
            throw offline(url, what, instead, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JgptException("download of " + what + " interrupted", e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // best effort: a stale .part file is overwritten by the next try
            }
        }
    }

    /** Fetches a small text resource (an index or listing) into memory. */
    static String fetchText(URI url, String what, String instead) {
        try {
            HttpResponse<String> response = HTTP.send(request(url), HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                throw new JgptException("cannot list " + what + " at " + url + ": HTTP " + response.statusCode() + ". " + instead);
            }
            return response.body();
        } catch (IOException e) {
            throw offline(url, what, instead, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JgptException("download of " + what + " interrupted", e);
        }
    }

    private static HttpRequest request(URI url) {
        return HttpRequest.newBuilder(url).timeout(Duration.ofMinutes(30)).header("User-Agent", "jgpt").GET().build();
    }

    private static JgptException offline(URI url, String what, String instead, IOException e) {
        String why = e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName() : e.getMessage();
        return new JgptException("cannot download " + what + " from " + url.getHost() + " (offline? " + why + "). "
                + instead, e);
    }
}
