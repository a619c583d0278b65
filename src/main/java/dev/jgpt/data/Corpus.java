package dev.jgpt.data;

import com.github.luben.zstd.ZstdInputStream;
import com.google.gson.JsonElement;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.jgpt.JgptException;
import dev.jgpt.io.Download;
import dev.jgpt.io.Downloads;
import dev.jgpt.io.HuggingFaceHub;

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Where the documents of a {@code prepare} come from, and reading them in a fixed order.
 *
 * <p>A source is a built-in name or a path:
 * <ul>
 *   <li>{@code jdk-src}: every source file in the running JDK's {@code lib/src.zip} (~210 MB of Java),
 *       present wherever jgpt runs, so it is the corpus that always works offline;</li>
 *   <li>{@code shakespeare}: Karpathy's tiny Shakespeare (1.1 MB, one document), downloaded once;</li>
 *   <li>{@code fineweb-edu}: FineWeb-Edu's sample-10BT parquet files (~10B tokens), each downloaded
 *       when reading reaches it unless {@code jgpt download fineweb-edu} fetched it already;</li>
 *   <li>a file: {@code .parquet} (one document a row of the text column), {@code .jsonl} (one a line,
 *       from the text field), {@code .zip} (one an entry), anything else is one text document; text and
 *       JSONL compressed with gzip or zstd ({@code .txt.gz}, {@code .jsonl.zst}) are decompressed, and a
 *       file that looks binary is refused;</li>
 *   <li>a folder: every such file under it, in path order (files that look binary, hidden files and
 *       unfinished downloads, {@code .part}, are skipped).</li>
 * </ul>
 */
final class Corpus {
    static final String JDK_SRC = "jdk-src";
    static final String SHAKESPEARE = "shakespeare";
    static final String FINEWEB_EDU = "fineweb-edu";
    static final URI SHAKESPEARE_URL =
            URI.create("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt");
    /**
     * FineWeb-Edu sample-10BT is about 10B GPT-2 tokens (its name; build-nanogpt's fineweb.py makes 100
     * shards of 100M of them) in about 30 GB of parquet: 3 bytes of parquet a token.
     */
    static final long PARQUET_BYTES_PER_TOKEN = 3;
    private static final String OFFLINE_HINT = "Offline, pass local files instead (--source path/to/file.txt, "
            + "a .jsonl or .parquet file, or a folder of them), or use the built-in --source jdk-src.";

    enum Kind { TEXT, JSONL, PARQUET, ZIP }

    /** One input file; with a remote, it is downloaded to {@code path} when reading reaches it. */
    record Input(Path path, Kind kind, Download.Remote remote) {
    }

    /** Short name, used as the shard file prefix (jdk, shakespeare, edufineweb, or the file's name). */
    final String name;
    final List<Input> inputs;
    final String textField;
    /** Approximate bytes of text, for progress and the size of the validation shard; 0 if unknown. */
    final long estimatedBytes;
    /** Tokens the corpus is expected to give, for the disk space and the time a prepare needs; 0 if unknown. */
    final long estimatedTokens;
    /** Fetches the inputs that are still remote when reading reaches them. */
    private final Download download;

    private Corpus(String name, List<Input> inputs, String textField, long estimatedBytes, long estimatedTokens, Download download) {
        this.name = name;
        this.inputs = List.copyOf(inputs);
        this.textField = textField;
        this.estimatedBytes = estimatedBytes;
        this.estimatedTokens = estimatedTokens;
        this.download = download;
    }

    private Corpus(String name, List<Input> inputs, String textField, long estimatedBytes, Download download) {
        // GPT-2's tokenizer makes about one token of every 4 bytes of English text or code
        this(name, inputs, textField, estimatedBytes, estimatedBytes / 4, download);
    }

    /** Keeps the list of a downloaded corpus's files in its folder, so that it can be read offline later (no-op for local ones). */
    void keepListing() {
        List<Download.Remote> remotes = inputs.stream().map(Input::remote).filter(Objects::nonNull).toList();
        if (!remotes.isEmpty()) Download.keepListing(remotes.getFirst().dest().getParent(), remotes);
    }

    /** The source cannot be reached (offline): {@code reason} says what failed; the message also says what to do instead. */
    static final class Unreachable extends JgptException {
        final String reason;

        Unreachable(String reason, String instead, Throwable cause) {
            super(reason + ". " + instead, cause);
            this.reason = reason;
        }
    }

    /** The shard-name prefix a --source value gets (before anything is read or downloaded). */
    static String nameOf(String source) {
        return switch (source.toLowerCase(Locale.ROOT)) {
            case JDK_SRC -> "jdk";
            case SHAKESPEARE, "tinyshakespeare", "tiny-shakespeare" -> "shakespeare";
            case FINEWEB_EDU, "fineweb-edu-10b", "fineweb" -> "edufineweb";
            default -> {
                Path name = Path.of(source).toAbsolutePath().normalize().getFileName();
                yield name == null ? "corpus" : stem(name);
            }
        };
    }

    /** Resolves a --source value; {@code downloads} is where downloaded corpora are kept. */
    static Corpus resolve(String source, String textField, Path downloads, HuggingFaceHub hub, Download download) {
        return switch (source.toLowerCase(Locale.ROOT)) {
            case JDK_SRC -> jdkSources(textField, download);
            case SHAKESPEARE, "tinyshakespeare", "tiny-shakespeare" -> shakespeare(textField, downloads, download);
            case FINEWEB_EDU, "fineweb-edu-10b", "fineweb" -> finewebEdu(textField, downloads, hub, download);
            default -> local(Path.of(source), textField, download);
        };
    }

    /** The running JDK's source archive. */
    static Path jdkSrcZip() {
        return Path.of(System.getProperty("java.home"), "lib", "src.zip");
    }

    private static Corpus jdkSources(String textField, Download download) {
        Path zip = jdkSrcZip();
        if (!Files.isRegularFile(zip)) {
            throw new JgptException("--source jdk-src: this Java (" + System.getProperty("java.home")
                    + ") has no lib/src.zip; install a full JDK with sources, or pass --source with your own files");
        }
        return new Corpus("jdk", List.of(new Input(zip, Kind.ZIP, null)), textField, zipTextBytes(zip), download);
    }

    private static Corpus shakespeare(String textField, Path downloads, Download download) {
        Path file = fetch(download, new Download.Remote(SHAKESPEARE_URL, downloads.resolve("tinyshakespeare.txt")),
                "Offline, pass a local copy: --source path/to/tinyshakespeare.txt (or use the built-in --source jdk-src).");
        return new Corpus("shakespeare", List.of(new Input(file, Kind.TEXT, null)), textField, size(file), download);
    }

    /**
     * The parquet files of sample-10BT, each fetched (the ones not there yet) when reading reaches it;
     * {@link PreparePlan} shows what they take and checks the disk before the first one.
     */
    private static Corpus finewebEdu(String textField, Path downloads, HuggingFaceHub hub, Download download) {
        Path dir = downloads.resolve(Downloads.FINEWEB_FOLDER);
        List<Download.Remote> files;
        try {
            files = Downloads.finewebEdu(hub, download, dir, 0);
        } catch (JgptException e) {
            throw new Unreachable(e.getMessage(), OFFLINE_HINT, e);
        }
        List<Input> inputs = new ArrayList<>();
        long compressed = 0;
        for (Download.Remote f : files) {
            inputs.add(new Input(f.dest(), Kind.PARQUET, f));
            compressed += f.size();
        }
        // Parquet pages of web text are compressed about 2x; only the progress bar's ETA uses this.
        return new Corpus("edufineweb", inputs, textField, compressed * 2, compressed / PARQUET_BYTES_PER_TOKEN, download);
    }

    /** Downloads a corpus file; when that fails, the error also says what to pass instead. */
    static Path fetch(Download download, Download.Remote file, String instead) {
        try {
            return download.fetch(file);
        } catch (JgptException e) {
            throw new Unreachable(e.getMessage(), instead, e);
        }
    }

    private static Corpus local(Path source, String textField, Download download) {
        if (Files.isRegularFile(source)) {
            Input input = new Input(source, kindOf(source), null);
            return new Corpus(stem(source), List.of(input), textField, estimate(input, textField), download);
        }
        if (!Files.isDirectory(source)) {
            throw new JgptException("--source: no such file or folder '" + source + "' (built-in sources: "
                    + JDK_SRC + ", " + SHAKESPEARE + ", " + FINEWEB_EDU + ")");
        }
        List<Input> inputs = new ArrayList<>();
        try (Stream<Path> files = Files.walk(source)) {
            files.filter(Files::isRegularFile)
                    .filter(p -> !isHidden(source.relativize(p)))
                    .filter(p -> !p.getFileName().toString().endsWith(".part")) // an unfinished download
                    .sorted()
                    .forEach(p -> inputs.add(new Input(p, kindOf(p), null)));
        } catch (IOException e) {
            throw new JgptException("--source: cannot list folder " + source + ": " + e.getMessage(), e);
        }
        if (inputs.isEmpty()) {
            throw new JgptException("--source: folder " + source + " has no files");
        }
        long bytes = 0;
        for (Input input : inputs) {
            bytes += estimate(input, textField);
        }
        Path name = source.toAbsolutePath().normalize().getFileName();
        return new Corpus(name == null ? "corpus" : stem(name), inputs, textField, bytes, download);
    }

    private static boolean isHidden(Path relative) {
        for (Path part : relative) {
            if (part.toString().startsWith(".")) return true;
        }
        return false;
    }

    /** The kind of file by its name, a .gz or .zst ending aside (text and JSONL are read through it). */
    static Kind kindOf(Path path) {
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT).replaceFirst("\\.(gz|zst)$", "");
        if (name.endsWith(".parquet")) return Kind.PARQUET;
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return Kind.JSONL;
        if (name.endsWith(".zip")) return Kind.ZIP;
        return Kind.TEXT;
    }

    /**
     * A file's bytes, decompressed when they start with gzip's or zstd's magic number (whatever the
     * name says). bzip2 and xz are refused by name: jgpt has no decoder for them.
     */
    static InputStream openDecompressed(Path path) throws IOException {
        InputStream in = new BufferedInputStream(Files.newInputStream(path), 1 << 16);
        try {
            in.mark(8);
            byte[] magic = in.readNBytes(6);
            in.reset();
            if (startsWith(magic, 0x1f, 0x8b)) return new GZIPInputStream(in, 1 << 16);
            if (startsWith(magic, 0x28, 0xb5, 0x2f, 0xfd)) return new BufferedInputStream(new ZstdInputStream(in), 1 << 16);
            String other = startsWith(magic, 'B', 'Z', 'h') ? "bzip2" : startsWith(magic, 0xfd, '7', 'z', 'X', 'Z', 0) ? "xz" : null;
            if (other != null) {
                throw new JgptException(path + ": compressed with " + other + "; jgpt decompresses .gz and .zst only"
                        + " (decompress it first, or recompress it with gzip or zstd)");
            }
            return in;
        } catch (IOException | RuntimeException e) {
            in.close();
            throw e;
        }
    }

    private static boolean startsWith(byte[] bytes, int... magic) {
        if (bytes.length < magic.length) return false;
        for (int i = 0; i < magic.length; i++) {
            if ((bytes[i] & 0xff) != magic[i]) return false;
        }
        return true;
    }

    private static boolean isCompressed(Path path) {
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".gz") || name.endsWith(".zst");
    }

    /**
     * The file name before its first dot, as a shard-name prefix: letters and digits of any script kept,
     * each run of anything else one '-', none at the ends (so "日本.txt" and "中文.txt" do not both become
     * "--", and no shard name starts with '-', which a shell command would take for an option).
     */
    private static String stem(Path path) {
        String name = path.getFileName().toString();
        int dot = name.indexOf('.');
        String stem = (dot > 0 ? name.substring(0, dot) : name).replaceAll("[^\\p{L}\\p{M}\\p{N}]+", "-").replaceAll("^-|-$", "");
        return stem.isEmpty() ? "corpus" : stem;
    }

    private static long estimate(Input input, String textField) {
        return switch (input.kind) {
            case PARQUET -> ParquetTexts.textBytes(input.path, textField);
            case ZIP -> zipTextBytes(input.path);
            // compressed text is about a third of its size (only the progress bar's ETA uses this)
            case JSONL, TEXT -> isCompressed(input.path) ? size(input.path) * 3 : size(input.path);
        };
    }

    private static long size(Path path) {
        try {
            return Files.size(path);
        } catch (IOException e) {
            throw JgptException.io(path, "read", e);
        }
    }

    private static long zipTextBytes(Path zip) {
        try (ZipFile zf = new ZipFile(zip.toFile())) {
            long bytes = 0;
            for (Enumeration<? extends ZipEntry> en = zf.entries(); en.hasMoreElements(); ) {
                ZipEntry e = en.nextElement();
                if (!e.isDirectory() && e.getSize() > 0) bytes += e.getSize();
            }
            return bytes;
        } catch (IOException e) {
            throw new JgptException(zip + ": not a readable zip file: " + e.getMessage(), e);
        }
    }

    /** Receives the documents: the input's index, the document's index in it, the text. */
    @FunctionalInterface
    interface DocumentSink {
        void accept(int input, long document, String text);
    }

    /**
     * Calls {@code sink} with each document in order, on the calling thread, from {@code from}'s
     * document on: the inputs before it are not read (nor fetched), the documents before it in its
     * input are read and passed over. {@code beforeDownload} runs before each input that must be
     * downloaded first (a prepare writes what it has then, so a lost connection loses nothing).
     */
    void forEachDocument(ShardWriter.Position from, DocumentSink sink, Runnable beforeDownload) {
        boolean folder = inputs.size() > 1;
        for (int i = from.input(); i < inputs.size(); i++) {
            Input input = inputs.get(i);
            int index = i;
            long first = i == from.input() ? from.document() : 0;
            long[] next = {0};
            Consumer<String> each = text -> {
                long document = next[0]++;
                if (document >= first) sink.accept(index, document, text);
            };
            if (input.remote != null && !input.remote.isComplete()) beforeDownload.run();
            Path path = input.remote == null ? input.path : fetch(download, input.remote, OFFLINE_HINT);
            switch (input.kind) {
                case TEXT -> readText(path, folder, each);
                case JSONL -> readJsonl(path, each);
                case PARQUET -> ParquetTexts.forEach(path, textField, each);
                case ZIP -> readZip(path, each);
            }
        }
    }

    /** One document; a file that looks binary is skipped in a folder and refused on its own. */
    private static void readText(Path path, boolean inFolder, Consumer<String> sink) {
        byte[] bytes;
        try (InputStream in = openDecompressed(path)) {
            bytes = in.readAllBytes();
        } catch (IOException e) {
            throw JgptException.io(path, "read", e);
        }
        if (looksBinary(bytes, bytes.length)) {
            if (inFolder) return;
            throw new JgptException(path + ": looks binary (a NUL byte in its first 8000 bytes" + (isCompressed(path)
                    ? " once decompressed" : "") + "), not text; pass text, .jsonl, .parquet or .zip files, or a folder of them");
        }
        sink.accept(new String(bytes, StandardCharsets.UTF_8));
    }

    private void readJsonl(Path path, Consumer<String> sink) {
        try (InputStream in = openDecompressed(path);
             BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16)) {
            long lineNo = 0;
            for (String line; (line = lines.readLine()) != null; ) {
                lineNo++;
                if (line.isBlank()) continue;
                JsonElement value;
                try {
                    JsonElement json = JsonParser.parseString(line);
                    if (!json.isJsonObject()) {
                        throw new JgptException(path + ":" + lineNo + ": not a JSON object");
                    }
                    value = json.getAsJsonObject().get(textField);
                } catch (JsonParseException e) {
                    throw new JgptException(path + ":" + lineNo + ": bad JSON: " + JgptException.jsonReason(e));
                }
                if (value == null) {
                    throw new JgptException(path + ":" + lineNo + ": no field '" + textField + "' (choose one with --text-field)");
                }
                if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isString()) {
                    sink.accept(value.getAsString());
                } else if (!value.isJsonNull()) {
                    throw new JgptException(path + ":" + lineNo + ": field '" + textField + "' is "
                            + (value.isJsonObject() ? "an object" : value.isJsonArray() ? "a list" : value) + ", not text");
                }
            }
        } catch (IOException e) {
            throw JgptException.io(path, "read", e);
        }
    }

    private static void readZip(Path zip, Consumer<String> sink) {
        try (ZipFile zf = new ZipFile(zip.toFile())) {
            for (Enumeration<? extends ZipEntry> en = zf.entries(); en.hasMoreElements(); ) {
                ZipEntry entry = en.nextElement();
                if (entry.isDirectory()) continue;
                byte[] bytes;
                try (InputStream in = zf.getInputStream(entry)) {
                    bytes = in.readAllBytes();
                }
                if (!looksBinary(bytes, bytes.length)) {
                    sink.accept(new String(bytes, StandardCharsets.UTF_8));
                }
            }
        } catch (IOException e) {
            throw JgptException.io(zip, "read zip", e);
        }
    }

    /** As git decides: a NUL byte in the first 8000 bytes means binary. */
    static boolean looksBinary(byte[] bytes, int length) {
        for (int i = 0, n = Math.min(length, 8000); i < n; i++) {
            if (bytes[i] == 0) return true;
        }
        return false;
    }
}
