package dev.jgpt.io;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import dev.jgpt.JgptException;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The HuggingFace Hub's file API: a folder's listing ({@code /api/models/REPO/tree/main/FOLDER}, each
 * file with its size, and for a Git LFS file its sha256) and a file's download address
 * ({@code /REPO/resolve/main/PATH}; datasets live under {@code /datasets/}).
 *
 * @param endpoint the Hub, or a mirror of it: {@code HF_ENDPOINT}, as HuggingFace's own tools read it;
 *                 null when {@code unusable}
 * @param unusable why {@code HF_ENDPOINT} cannot name a Hub, one line reported by the first request
 *                 rather than at once (a prepare of local files, or a HellaSwag download, never asks the
 *                 Hub); null when it can
 */
public record HuggingFaceHub(URI endpoint, String unusable) {
    public static final URI HUB = URI.create("https://huggingface.co");
    private static final String REVISION = "main";

    /** A usable Hub at {@code endpoint}. */
    public HuggingFaceHub(URI endpoint) {
        this(endpoint, null);
    }

    /** What a repository is; its files are under a different prefix for each. */
    public enum Kind {
        MODEL("models", ""), DATASET("datasets", "datasets/");

        final String api, files;

        Kind(String api, String files) {
            this.api = api;
            this.files = files;
        }
    }

    /** A file of a repository: its path in the repository, size, and sha256 (null for files kept in Git itself). */
    public record File(String path, long size, String sha256) {
    }

    /** The Hub at {@code HF_ENDPOINT} when set, else huggingface.co. */
    public static HuggingFaceHub fromEnvironment() {
        String env = System.getenv("HF_ENDPOINT");
        if (env == null || env.isBlank()) return new HuggingFaceHub(HUB);
        try {
            return fromEndpoint(env.strip());
        } catch (JgptException e) {
            return new HuggingFaceHub(null, e.getMessage());
        }
    }

    /**
     * The Hub at {@code endpoint}, which must be an http(s) URL with a host: anything else would fail
     * deep in the first request (a relative URI, an ftp connection) instead of naming HF_ENDPOINT.
     */
    static HuggingFaceHub fromEndpoint(String endpoint) {
        String problem;
        try {
            URI uri = new URI(endpoint);
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            if (!scheme.equals("http") && !scheme.equals("https")) {
                problem = uri.getScheme() == null ? "not a URL" : "its scheme is " + uri.getScheme();
            } else if (uri.getHost() == null) {
                problem = "no host";
            } else {
                return new HuggingFaceHub(uri);
            }
        } catch (URISyntaxException e) {
            problem = "not a URL: " + e.getReason() + (e.getIndex() >= 0 ? " at character " + (e.getIndex() + 1) : "");
        }
        throw new JgptException("HF_ENDPOINT '" + endpoint + "': " + problem + "; it must be an http(s) URL, like " + HUB);
    }

    /** The files (not subfolders) in {@code folder} ("" for the top) of a repository. */
    public List<File> list(Download download, Kind kind, String repo, String folder) {
        URI url = api(kind, repo, folder);
        String body = download.text(url);
        // a mirror or proxy that is not the Hub answers with a web page or other JSON: say so in one line
        String notTheHub = "cannot read the file list at " + url + ": ";
        JsonElement root;
        try {
            root = JsonParser.parseString(body);
        } catch (RuntimeException e) {
            throw new JgptException(notTheHub + "not JSON (" + JgptException.jsonReason(e) + "); is this the Hub's file API?");
        }
        if (!root.isJsonArray()) throw new JgptException(notTheHub + "not a JSON array of files; is this the Hub's file API?");
        List<File> files = new ArrayList<>();
        for (JsonElement e : root.getAsJsonArray()) {
            if (!e.isJsonObject()) throw new JgptException(notTheHub + "an entry is not a JSON object: " + e);
            JsonObject f = e.getAsJsonObject();
            if (!"file".equals(HfCheckpoint.stringField(f, "type"))) continue;
            JsonObject lfs = f.get("lfs") instanceof JsonObject o ? o : null;
            String path = HfCheckpoint.stringField(f, "path"), sha256 = lfs == null ? null : HfCheckpoint.stringField(lfs, "oid");
            JsonElement size = f.get("size");
            if (path == null || !(size instanceof JsonPrimitive p && p.isNumber()) || (lfs != null && sha256 == null)) {
                throw new JgptException(notTheHub + "a file without a path, size or (for an LFS file) oid: " + e);
            }
            files.add(new File(path, size.getAsLong(), sha256));
        }
        return files;
    }


    /** Where a file of a repository is downloaded from. */
    public URI fileUrl(Kind kind, String repo, String path) {
        return URI.create(base() + kind.files + repo + "/resolve/" + REVISION + "/" + path);
    }

    private URI api(Kind kind, String repo, String folder) {
        return URI.create(base() + "api/" + kind.api + "/" + repo + "/tree/" + REVISION + (folder.isEmpty() ? "" : "/" + folder));
    }

    private String base() {
        if (unusable != null) throw new JgptException(unusable);
        String s = endpoint.toString();
        return s.endsWith("/") ? s : s + "/";
    }
}
