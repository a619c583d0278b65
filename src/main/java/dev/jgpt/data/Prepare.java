package dev.jgpt.data;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;
import dev.jgpt.io.DiskSpace;
import dev.jgpt.io.Download;
import dev.jgpt.io.Downloads;
import dev.jgpt.io.HuggingFaceHub;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import dev.jgpt.track.ProgressBar;
import dev.jgpt.track.RunLock;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import java.util.function.ToLongFunction;
import java.util.stream.Stream;

/**
 * Turns a corpus into token shards: build-nanogpt's fineweb.py in Java. Every document is prefixed with
 * {@code <|endoftext|>}, tokenized in parallel on all cores (in order, so the output does not depend on
 * the number of threads) and cut into shards of a chosen size and format; the first shard is the
 * validation shard. A {@value #MANIFEST} written last marks the directory complete.
 *
 * <p>From code, for example to make the default corpus when training starts without data:
 * <pre>{@code
 * Path dir = Prepare.ensureShards(Path.of("data/jdk"), "jdk-src");   // no-op when already prepared
 * Prepare.Summary s = Prepare.run(Prepare.Options.defaults("shakespeare", Path.of("data/shakespeare")));
 * }</pre>
 */
public final class Prepare {
    public static final long DEFAULT_SHARD_TOKENS = 100_000_000L;
    public static final long MIN_SHARD_TOKENS = 1000;
    /** Written last; its presence means every shard of the directory is complete. */
    public static final String MANIFEST = "prepare.json";
    /**
     * Written first and removed when the manifest is in place: the settings, each shard's name before
     * the shard is written, and where the next shard begins once it is whole ({@link PrepareJournal}).
     * A directory holding it is a prepare of jgpt's cut short: it says which files are jgpt's, and
     * where to go on.
     */
    public static final String JOURNAL = "prepare.partial";
    /**
     * Held by the process preparing the folder (a {@link RunLock}), so that two prepares never write
     * into one folder at once: two trainings started together on one new data.dir take turns, the
     * second then finding the first one's shards. The prepare removes it as it ends, finished or not.
     */
    public static final String LOCK = "prepare.lock";
    // Documents longer than this are cut (where the tokens cannot change) so one big file uses all cores.
    private static final int PIECE_CHARS = 1 << 17;
    // Characters per parallel task: large enough to amortize scheduling, small enough to balance cores.
    private static final int BATCH_CHARS = 1 << 18;

    private Prepare() {
    }

    /**
     * What to prepare and how.
     *
     * @param source      jdk-src, shakespeare, fineweb-edu, or a file or folder (see {@link Corpus})
     * @param out         directory for the shards
     * @param format      shard format
     * @param shardTokens tokens per shard
     * @param valTokens   tokens in the first (validation) shard; 0 = automatic: about 10% of the corpus,
     *                    at most one shard
     * @param maxTokens   stop after this many tokens; 0 = the whole corpus
     * @param overwrite   replace shards already in {@code out}
     * @param threads     tokenizer threads
     * @param textField   JSONL field / parquet column holding the text
     * @param downloads   where downloaded corpora are kept
     * @param progress    draw a progress bar on stderr
     */
    public record Options(String source, Path out, ShardFormat format, long shardTokens, long valTokens,
                          long maxTokens, boolean overwrite, int threads, String textField, Path downloads,
                          boolean progress) {
        /** Defaults: .bin shards of 100M tokens, automatic validation size, all cores, field "text". */
        public static Options defaults(String source, Path out) {
            return new Options(source, out, ShardFormat.BIN, DEFAULT_SHARD_TOKENS, 0, 0, false,
                    Runtime.getRuntime().availableProcessors(), "text", Path.of("data", "downloads"), true);
        }
    }

    /**
     * What a prepare reaches outside itself: the Hub it lists FineWeb-Edu from, the downloader, and the
     * free space of a disk (tests give a local hub and a made-up free space).
     */
    record Environment(HuggingFaceHub hub, Download download, ToLongFunction<Path> freeSpace, Consumer<String> say,
                       Consumer<String> record) {
        /** Messages on stderr, the progress bar recorded nowhere else. */
        Environment(HuggingFaceHub hub, Download download, ToLongFunction<Path> freeSpace) {
            this(hub, download, freeSpace, System.err::println, null);
        }

        /** The Hub at HF_ENDPOINT or huggingface.co, the standard downloader (quiet without progress), the real disk. */
        static Environment standard(boolean progress) {
            return new Environment(HuggingFaceHub.fromEnvironment(), progress ? Download.standard() : Download.standard().quiet(),
                    DiskSpace::usable);
        }

        /** The same, its messages to {@code say} and its progress bar also recorded to {@code record} as plain lines. */
        Environment reporting(Consumer<String> say, Consumer<String> record) {
            return new Environment(hub, download, freeSpace, say, record);
        }
    }

    /** One shard written: file name (in the output directory), "val" or "train", token count. */
    public record Shard(String file, String split, long tokens) {
    }

    /** What a prepare did. {@code bytes} counts the UTF-8 text tokenized. */
    public record Summary(String source, String out, String format, long documents, long tokens, long bytes,
                          double seconds, List<Shard> shards) {
        public double megabytesPerSecond() {
            return bytes / 1e6 / Math.max(seconds, 1e-9);
        }

        /** One line for the terminal. */
        public String describe() {
            long val = shards.isEmpty() ? 0 : shards.getFirst().tokens();
            return String.format(Locale.ROOT, "prepared %s: %,d document%s, %,d tokens (%,d validation), %d %s shard%s in %s;"
                            + " %.1f MB of text in %.1f s (%.1f MB/s)",
                    source, documents, documents == 1 ? "" : "s", tokens, val, shards.size(), format,
                    shards.size() == 1 ? "" : "s", out,
                    bytes / 1e6, seconds, megabytesPerSecond());
        }
    }

    /** The default output directory for a source: data/jdk, data/shakespeare, data/edufineweb, data/NAME. */
    public static Path defaultOut(String source) {
        return Path.of("data", Corpus.nameOf(source));
    }

    /** True if {@code dir} holds a completed prepare. */
    public static boolean isPrepared(Path dir) {
        return Files.isRegularFile(dir.resolve(MANIFEST));
    }

    /**
     * Makes {@code dir} ready for training without touching a file jgpt did not write: a completed
     * prepare is used as is; shards from elsewhere (llm.c's .bin, build-nanogpt's .npy, HDF5, told by
     * their headers, and nanoGPT's headerless train.bin and val.bin, by their names; split by the
     * "train" and "val" in their names) are read directly; a prepare of jgpt's that was cut short
     * goes on after its last whole shard (or starts over, when it was made with other settings); a
     * missing or empty directory gets {@code source} prepared into it. Anything else is
     * one clear error naming data.dir.
     */
    public static Path ensureShards(Path dir, String source) {
        return ensureShards(dir, source, Environment.standard(true));
    }

    /**
     * As above, for a training run: a JSONL or parquet source's text is read from {@code textField}
     * (data.text_field); messages go to {@code say} (the run's console and console.log) and the
     * progress bar, drawn on stderr, also goes to {@code record} as a plain line every 10 s.
     */
    public static Path ensureShards(Path dir, String source, String textField, Consumer<String> say, Consumer<String> record) {
        return ensureShards(dir, source, textField, Environment.standard(true).reporting(say, record));
    }

    static Path ensureShards(Path dir, String source, Environment env) {
        return ensureShards(dir, source, "text", env);
    }

    static Path ensureShards(Path dir, String source, String textField, Environment env) {
        requireFolderOrNothing(dir);
        if (isPrepared(dir)) return dir;
        if (!Files.isRegularFile(dir.resolve(JOURNAL)) && !isEmptyOrMissing(dir)) return foreignShards(dir, env.say());
        List<Path> created = createOut(dir);
        try (RunLock lock = RunLock.await(dir, LOCK, owner -> env.say().accept("data.dir " + dir + ": waiting for process " + owner
                + ", which is preparing it..."))) {
            if (lock == null) return ensureShards(dir, source, textField, env); // that process failed and removed the folder it made
            if (isPrepared(dir)) { // prepared by the process this one waited for
                removeLockFile(dir);
                return dir;
            }
            env.say().accept("preparing " + source + " into " + dir + (Files.isRegularFile(dir.resolve(JOURNAL)) ? "" : " (first use)") + "...");
            Options o = Options.defaults(source, dir);
            Summary s = prepareLocked(new Options(o.source(), o.out(), o.format(), o.shardTokens(), o.valTokens(), o.maxTokens(),
                    true, o.threads(), textField, o.downloads(), o.progress()), env, true, created);
            env.say().accept(s.describe());
            return dir;
        } catch (Corpus.Unreachable e) {
            boolean begun = Files.isRegularFile(dir.resolve(JOURNAL));
            throw new JgptException("data.source " + source + ": " + e.reason + ". " + (begun
                    ? "What is prepared in " + dir + " is kept: run again with network to go on from there. " : "") + offlineHint(source), e);
        } catch (JgptException e) {
            // a training run has no --source or --text-field: its settings are data.source and data.text_field
            String m = e.getMessage().replace("--source", "data.source").replace("--text-field", "data.text_field");
            throw m.equals(e.getMessage()) ? e : new JgptException(m, e);
        }
    }

    /**
     * Makes sure {@code dir} is ready for training as it is, preparing nothing: a completed prepare, or
     * shards from elsewhere. For a process that must not prepare (a rank other than 0 of an mpirun
     * job, which reads what rank 0 prepared); {@code hint} says what to do instead.
     */
    public static Path requireShards(Path dir, String hint) {
        requireFolderOrNothing(dir);
        if (isPrepared(dir)) return dir;
        if (Files.isRegularFile(dir.resolve(JOURNAL)) || isEmptyOrMissing(dir)) {
            throw new JgptException("data.dir " + dir + ": " + (Files.exists(dir) ? "not prepared" : "no such folder") + " here; " + hint);
        }
        return foreignShards(dir, line -> { });
    }

    /** data.dir is a folder of shards, or a place to prepare one: a file there is neither. */
    private static void requireFolderOrNothing(Path dir) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) throw new JgptException("data.dir " + dir + ": exists and is not a directory");
    }

    /** A folder of shards jgpt did not write, read as it is when it holds both splits; else one clear error. */
    private static Path foreignShards(Path dir, Consumer<String> say) {
        List<Path> shards = recognizedShards(dir);
        if (shards.isEmpty()) {
            throw new JgptException("data.dir " + dir + ": holds no token shards (llm.c .bin, .npy or HDF5 files with train"
                    + " or val in their names, or nanoGPT's train.bin and val.bin) and no " + MANIFEST + "; jgpt prepares data.source only into a missing or empty folder");
        }
        for (String split : List.of("train", "val")) {
            if (shards.stream().noneMatch(p -> TokenDataset.inSplit(p.getFileName().toString(), split))) {
                throw new JgptException("data.dir " + dir + ": " + shards.size() + " shard" + (shards.size() == 1 ? "" : "s")
                        + " but no " + (split.equals("val") ? "validation" : "training") + " shard (a file with '" + split
                        + "' in its name, like fineweb_" + split + "_000000.bin)");
            }
        }
        for (Path shard : shards) ShardFormat.of(shard).tokenCount(shard); // a shard that cannot be read is said before "reading"
        if (!isPrepared(dir)) { // else a prepare of another process finished just now
            say.accept("data.dir " + dir + ": reading its " + shards.size() + " shards directly (no " + MANIFEST
                    + ": not written by jgpt prepare)");
        }
        return dir;
    }

    /** What training can do when data.source cannot be downloaded: fetch it elsewhere, or use a corpus that is here. */
    private static String offlineHint(String source) {
        String elsewhere = Corpus.nameOf(source).equals(Corpus.nameOf(Corpus.FINEWEB_EDU))
                ? "Without network here, run `jgpt download fineweb-edu` on a machine with network, copy its folder "
                        + Downloads.defaultOut(Downloads.FINEWEB_EDU) + " (its hidden file list included) to the same place here and "
                        + "run again; or train"
                : "Without network, train";
        return elsewhere + " on a corpus that is here: --set data.source=jdk-src --set data.dir=data/jdk (the JDK's own "
                + "sources), or --set data.source=FILE --set data.dir=data/NAME (a text, .jsonl or .parquet file, or a folder of them)";
    }

    /**
     * The files in {@code dir} whose headers say they are token shards, by name. A file that the
     * dataset would read as a shard (a shard's extension, "train" or "val" in its name) but whose first
     * bytes are not a shard's is one error naming it: passed over, it would surface only as a split
     * that seems to be missing.
     */
    static List<Path> recognizedShards(Path dir) {
        List<Path> named;
        try (Stream<Path> files = Files.list(dir)) {
            named = files.filter(ShardFormat::isShard).filter(Files::isRegularFile).sorted().toList();
        } catch (IOException e) {
            throw new JgptException("data.dir " + dir + ": cannot list (" + e.getMessage() + ")", e);
        }
        List<Path> shards = new ArrayList<>();
        for (Path p : named) {
            String name = p.getFileName().toString();
            if (ShardFormat.sniff(p) != null) {
                shards.add(p);
            } else if (TokenDataset.inSplit(name, "train") || TokenDataset.inSplit(name, "val")) {
                throw new JgptException("data.dir " + dir + ": " + name + " is named as a token shard but is not one: its first bytes"
                        + " are not a ." + ShardFormat.of(p).extension + " shard's header (damaged, or another kind of file)");
            }
        }
        return shards;
    }

    /** Missing, or holding nothing but the lock file a prepare leaves. */
    private static boolean isEmptyOrMissing(Path dir) {
        if (!Files.exists(dir)) return true;
        try (Stream<Path> files = Files.list(dir)) {
            return files.noneMatch(f -> !f.getFileName().toString().equals(LOCK));
        } catch (IOException e) {
            throw new JgptException(dir + ": cannot list (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Prepares shards as {@code options} say. A prepare of the same settings that was cut short in the
     * output directory goes on after its last whole shard, unless {@code overwrite} asks to start over.
     */
    public static Summary run(Options options) {
        return run(options, Environment.standard(options.progress()), !options.overwrite());
    }

    /**
     * As {@link #run(Options)}; {@code continueCutShort}: go on with a prepare of the same settings cut
     * short in the output directory. Another process preparing into it is one error naming it.
     */
    static Summary run(Options options, Environment env, boolean continueCutShort) {
        check(options);
        List<Path> created = createOut(options.out());
        try (RunLock lock = RunLock.acquire(options.out(), LOCK)) {
            return prepareLocked(options, env, continueCutShort, created);
        }
    }

    /**
     * The prepare itself, in a folder this process holds. When it fails before its first whole shard
     * (a bad input, most often) it leaves nothing behind: its journal goes, and the folder too when
     * it made it ({@code created}: the folders it made, the deepest first), so the corrected command
     * starts as if it were the first.
     */
    private static Summary prepareLocked(Options options, Environment env, boolean continueCutShort, List<Path> created) {
        boolean fresh = false; // this prepare began the folder's journal: what it names is this prepare's own
        ShardWriter writer = null;
        try {
            Corpus corpus = Corpus.resolve(options.source(), options.textField(), options.downloads(), env.hub(), env.download());
            int val = (int) validationTokens(options, corpus.estimatedBytes);
            PrepareJournal.Settings settings = PrepareJournal.Settings.of(options, corpus, val);
            List<ShardWriter.Done> kept = continueCutShort ? PrepareJournal.continuable(options.out(), settings) : null;
            long keptTokens = kept == null ? 0 : kept.stream().mapToLong(ShardWriter.Done::tokens).sum();
            PreparePlan plan = PreparePlan.of(options.source(), corpus, options.out(), keptTokens, options.maxTokens(), options.threads());
            if (options.progress() && plan.downloads()) env.say().accept(plan.describe(env.freeSpace()));
            plan.refuseIfNoRoom(env.freeSpace());
            corpus.keepListing();
            Path journal = options.out().resolve(JOURNAL);
            ShardWriter.Position from = ShardWriter.Position.START;
            try {
                if (kept == null) {
                    prepareOutput(options.out(), options.overwrite());
                    PrepareJournal.start(journal, settings);
                    fresh = true;
                } else {
                    from = kept.getLast().next();
                    removeUnfinished(options.out(), kept);
                    PrepareJournal.restart(journal, settings, kept);
                    if (options.progress()) {
                        env.say().accept(String.format(Locale.ROOT, "continuing the prepare cut short in %s: %d whole shard%s (%,d tokens) kept",
                                options.out(), kept.size(), kept.size() == 1 ? "" : "s", keptTokens));
                    }
                }
            } catch (IOException e) {
                throw new JgptException("--out " + options.out() + ": cannot write (" + e.getMessage() + ")", e);
            }
            writer = new ShardWriter(options.out(), corpus.name, options.format(), val,
                    (int) options.shardTokens(), options.maxTokens(), journal, kept == null ? List.of() : kept);
            Thread cleanup = new Thread(() -> deleteTemporaries(options.out()));
            Runtime.getRuntime().addShutdownHook(cleanup);
            ExecutorService pool = Executors.newFixedThreadPool(options.threads(), r -> {
                Thread t = new Thread(r, "prepare-tokenizer");
                t.setDaemon(true);
                return t;
            });
            ProgressBar bar = options.progress()
                    ? ProgressBar.start("prepare " + options.source(), corpus.estimatedBytes, "B", "docs", "tokens")
                    : null;
            if (bar != null && env.record() != null) bar.recording(env.record(), 10);
            Pipeline pipeline = new Pipeline(pool, writer, bar, 2 * options.threads(), from);
            long start = System.nanoTime();
            try {
                try {
                    corpus.forEachDocument(from, pipeline::document, pipeline::writeAll);
                    pipeline.writeAll();
                } catch (Pipeline.Stop stop) {
                    // --max-tokens reached
                }
                List<Shard> shards = writer.finish(pipeline.position);
                if (shards.isEmpty()) {
                    throw new JgptException("--source " + options.source() + ": no documents found (binary files are skipped)");
                }
                long documents = pipeline.position.documents();
                boolean cut = options.maxTokens() > 0 && writer.totalTokens() >= options.maxTokens(); // --max-tokens ended it
                if (writer.totalTokens() == documents && !cut) { // each document is its <|endoftext|> alone: nothing to learn from
                    if (fresh) discard(options.out(), true, created);
                    throw new JgptException(String.format(Locale.ROOT, "--source %s: no text: %s empty", options.source(),
                            documents == 1 ? "its one document is" : String.format(Locale.ROOT, "all its %,d documents are", documents)));
                }
                if (shards.size() == 1) { // all in the validation shard: nothing to train on, so no prepare to keep
                    if (fresh) discard(options.out(), true, created);
                    throw new JgptException(String.format(Locale.ROOT, "--source %s: %,d token%s, all of them in the validation shard"
                                    + " (%,d tokens): nothing is left to train on; give more text%s", options.source(), writer.totalTokens(),
                            writer.totalTokens() == 1 ? "" : "s", val, options.valTokens() > 0 ? " or a smaller --val-tokens" : ""));
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                Summary summary = new Summary(options.source(), options.out().toString(), options.format().name().toLowerCase(Locale.ROOT),
                        pipeline.position.documents(), writer.totalTokens(), pipeline.bytes, seconds, shards);
                writeManifest(options.out(), summary);
                Files.delete(journal);
                if (bar != null) bar.finish();
                return summary;
            } catch (IOException e) {
                throw JgptException.io(options.out(), "write shards", e);
            } finally {
                pool.shutdownNow();
                if (bar != null) bar.abandon(); // after finish() a no-op: only a failed prepare gets here with the bar open
                try {
                    Runtime.getRuntime().removeShutdownHook(cleanup);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running already
                }
            }
        } catch (RuntimeException e) {
            if (fresh ? writer == null || writer.shardsWritten() == 0 : !created.isEmpty()) discard(options.out(), fresh, created);
            throw e;
        } finally {
            removeLockFile(options.out());
        }
    }

    /** Removes the folder's lock file while this process still holds it: one waiting for it then takes a new one. */
    private static void removeLockFile(Path out) {
        try {
            Files.deleteIfExists(out.resolve(LOCK));
        } catch (IOException e) {
            // a lock file left behind is unlocked, and taken anew by the next prepare
        }
    }

    /** Removes the shards a cut-short prepare began but did not finish (and their temporary files), keeping {@code kept}. */
    private static void removeUnfinished(Path out, List<ShardWriter.Done> kept) throws IOException {
        List<String> keep = kept.stream().map(ShardWriter.Done::file).toList();
        for (String name : ownFiles(out)) {
            if (!keep.contains(name)) Files.deleteIfExists(out.resolve(name));
            AtomicFiles.removeLeftovers(out.resolve(name));
        }
        AtomicFiles.removeLeftovers(out.resolve(MANIFEST));
    }

    private static void check(Options o) {
        if (o.shardTokens() < MIN_SHARD_TOKENS || o.shardTokens() > Integer.MAX_VALUE - 16) {
            throw new JgptException("--shard-size: must be between " + MIN_SHARD_TOKENS + " and 2^31 tokens, got " + o.shardTokens()
                    + (o.shardTokens() < MIN_SHARD_TOKENS ? " (smaller shards only multiply files)" : ""));
        }
        if (o.valTokens() < 0 || o.valTokens() > Integer.MAX_VALUE - 16) {
            throw new JgptException("--val-tokens: must be between 0 (automatic) and 2^31 tokens, got " + o.valTokens());
        }
        if (o.threads() < 1) {
            throw new JgptException("--threads: must be at least 1, got " + o.threads());
        }
    }

    /** The size of the validation shard: as asked, or about 10% of the corpus (4 bytes a token), at most a shard. */
    static long validationTokens(Options o, long estimatedBytes) {
        if (o.valTokens() > 0) {
            return o.valTokens();
        }
        long estimatedTokens = estimatedBytes / 4;
        if (o.maxTokens() > 0 && (estimatedTokens == 0 || o.maxTokens() < estimatedTokens)) {
            estimatedTokens = o.maxTokens();
        }
        if (estimatedTokens <= 0) {
            return o.shardTokens();
        }
        return Math.max(1, Math.min(o.shardTokens(), estimatedTokens / 10));
    }

    /**
     * Makes the output folder (and those above it) where it is missing; returns the folders it made,
     * the deepest first, which a failed prepare removes again (none when {@code out} was there).
     */
    private static List<Path> createOut(Path out) {
        if (Files.exists(out) && !Files.isDirectory(out)) throw new JgptException("--out " + out + ": exists and is not a directory");
        List<Path> made = AtomicFiles.missingFolders(out);
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw JgptException.io(out, "create the folder", e);
        }
        return made;
    }

    /**
     * Removes what a failed prepare wrote: with {@code ownJournal}, the shards its journal names, their
     * temporary files and the journal; then the folders this prepare made ({@code created}, the deepest
     * first), each as far as nothing else is left in it (the lock file, held by
     * this process until it closes, goes with the output folder).
     */
    private static void discard(Path out, boolean ownJournal, List<Path> created) {
        try {
            if (ownJournal) {
                for (String name : ownFiles(out)) {
                    Files.deleteIfExists(out.resolve(name));
                    AtomicFiles.removeLeftovers(out.resolve(name));
                }
                AtomicFiles.removeLeftovers(out.resolve(MANIFEST));
                Files.deleteIfExists(out.resolve(JOURNAL));
            }
            if (!created.isEmpty() && isEmptyOrMissing(out)) {
                Files.deleteIfExists(out.resolve(LOCK));
                AtomicFiles.removeIfEmpty(created);
            }
        } catch (IOException | RuntimeException e) {
            // the failure that brought us here is the error to report; what is left, --overwrite removes
        }
    }

    /**
     * Refuses a non-empty output directory unless overwriting; then removes what an earlier prepare
     * wrote there (the shards its manifest or journal names, their temporary files, the manifest) and
     * nothing else. Shards it did not write are refused rather than deleted or mixed with new ones.
     */
    private static void prepareOutput(Path out, boolean overwrite) {
        try {
            if (isEmptyOrMissing(out)) {
                return;
            }
            if (!overwrite && (isPrepared(out) || Files.isRegularFile(out.resolve(JOURNAL)))) {
                String state = isPrepared(out) ? "holds prepared shards" : "holds a prepare that was cut short";
                throw new JgptException("--out " + out + " " + state + "; pass --overwrite to replace them, or choose another --out");
            }
            List<String> own = ownFiles(out);
            List<Path> foreign;
            try (Stream<Path> files = Files.list(out)) {
                foreign = files.filter(ShardFormat::isShard).filter(p -> !own.contains(p.getFileName().toString())).sorted().toList();
            }
            if (!foreign.isEmpty()) {
                throw new JgptException("--out " + out + " holds shards jgpt prepare did not write (" + foreign.getFirst().getFileName()
                        + (foreign.size() > 1 ? " and " + (foreign.size() - 1) + " more" : "")
                        + "); --overwrite replaces only jgpt's own: move them or choose another --out");
            }
            if (!overwrite) {
                // files of someone else's: --overwrite writes beside them and never removes them, so say that
                List<String> names;
                try (Stream<Path> files = Files.list(out)) {
                    names = files.map(p -> p.getFileName().toString()).filter(n -> !n.equals(LOCK)).sorted().limit(4).toList();
                }
                throw new JgptException("--out " + out + " holds other files (" + String.join(", ", names.subList(0, Math.min(3, names.size())))
                        + (names.size() > 3 ? ", ..." : "") + "); choose another --out, or pass --overwrite to write the shards beside"
                        + " them (they are kept)");
            }
            for (String name : own) {
                Files.deleteIfExists(out.resolve(name));
                AtomicFiles.removeLeftovers(out.resolve(name));
            }
            AtomicFiles.removeLeftovers(out.resolve(MANIFEST));
            Files.deleteIfExists(out.resolve(MANIFEST));
            Files.deleteIfExists(out.resolve(JOURNAL));
        } catch (IOException e) {
            throw new JgptException("--out " + out + ": " + JgptException.reason(e), e);
        }
    }

    /** The shard files an earlier prepare wrote into {@code out}, by its manifest and its journal. */
    private static List<String> ownFiles(Path out) throws IOException {
        List<String> names = new ArrayList<>();
        Path manifest = out.resolve(MANIFEST);
        if (Files.isRegularFile(manifest)) {
            try {
                JsonObject o = JsonParser.parseString(Files.readString(manifest)).getAsJsonObject();
                for (JsonElement shard : o.getAsJsonObject("summary").getAsJsonArray("shards")) {
                    names.add(shard.getAsJsonObject().get("file").getAsString());
                }
            } catch (RuntimeException e) {
                throw new JgptException(manifest + ": unreadable (" + e.getMessage() + "); remove the folder's shards by hand or choose another --out");
            }
        }
        Path journal = out.resolve(JOURNAL);
        if (Files.isRegularFile(journal)) names.addAll(PrepareJournal.shardNames(journal));
        // only plain names in out itself: a damaged list must not reach outside the folder
        return names.stream().filter(n -> !n.contains("/") && !n.contains("\\") && !n.startsWith(".")).toList();
    }

    /** Removes the temporary files of the shards this prepare was writing (when the JVM exits midway). */
    private static void deleteTemporaries(Path out) {
        try {
            for (String name : ownFiles(out)) AtomicFiles.removeLeftovers(out.resolve(name));
            AtomicFiles.removeLeftovers(out.resolve(MANIFEST));
        } catch (IOException | RuntimeException ignored) {
            // exiting anyway; a stale .tmp is never read as a shard and --overwrite removes it
        }
    }

    private static void writeManifest(Path out, Summary summary) {
        Gson gson = new GsonBuilder().setPrettyPrinting().create();
        try {
            AtomicFiles.writeString(out.resolve(MANIFEST), gson.toJson(new Manifest(summary, Gpt2Tokenizer.VOCAB_SIZE)) + "\n");
        } catch (IOException e) {
            throw JgptException.io(out.resolve(MANIFEST), "write", e);
        }
    }

    /** The manifest's JSON: the summary plus what the tokens mean. */
    private record Manifest(String tokenizer, int vocabSize, int eot, Summary summary) {
        Manifest(Summary summary, int vocabSize) {
            this("gpt2 (r50k_base)", vocabSize, Gpt2Tokenizer.EOT, summary);
        }
    }

    /**
     * Documents in, shards out: the reading thread cuts documents into batches, the pool encodes them,
     * and finished batches are written strictly in submission order, each piece of a document with its
     * place in the corpus, so that each shard's journal line says where the next one begins.
     */
    private static final class Pipeline {
        /** Thrown through the corpus reader to stop early at --max-tokens. */
        static final class Stop extends RuntimeException {
            Stop() {
                super(null, null, false, false);
            }
        }

        /** A piece of a document: its input and document index, and whether it is the document's start. */
        private record Piece(String text, int input, long document, boolean starts) {
        }

        /** Encoded batch: tokens (EOT-prefixed documents), where each piece's tokens end, documents begun in it, text bytes. */
        private record Encoded(short[] tokens, int[] ends, List<Piece> pieces, int documents, long bytes) {
        }

        private final ExecutorService pool;
        private final ShardWriter writer;
        private final ProgressBar bar;
        private final int maxInFlight;
        private final ArrayDeque<Future<Encoded>> inFlight = new ArrayDeque<>();
        private List<Piece> pieces = new ArrayList<>();
        private int batchChars;
        /** Where the next token written is in the corpus. */
        ShardWriter.Position position;
        /** Tokens of the first document still to drop: those a continued prepare wrote already. */
        private long drop;
        long bytes;

        Pipeline(ExecutorService pool, ShardWriter writer, ProgressBar bar, int maxInFlight, ShardWriter.Position from) {
            this.pool = pool;
            this.writer = writer;
            this.bar = bar;
            this.maxInFlight = maxInFlight;
            this.position = from;
            this.drop = from.skip();
        }

        void document(int input, long document, String text) {
            int from = 0;
            boolean first = true;
            while (text.length() - from > 2 * PIECE_CHARS) {
                int cut = Gpt2Tokenizer.splitPoint(text, from + PIECE_CHARS);
                if (cut < 0) break;
                piece(new Piece(text.substring(from, cut), input, document, first));
                first = false;
                from = cut;
            }
            piece(new Piece(from == 0 ? text : text.substring(from), input, document, first));
        }

        private void piece(Piece piece) {
            pieces.add(piece);
            batchChars += piece.text.length();
            if (batchChars >= BATCH_CHARS) {
                submit();
            }
        }

        void submit() {
            if (pieces.isEmpty()) return;
            List<Piece> batch = pieces;
            inFlight.add(pool.submit(() -> encode(batch)));
            pieces = new ArrayList<>();
            batchChars = 0;
            while (inFlight.size() > maxInFlight) {
                drainOne();
            }
        }

        /** Encodes and writes every document received so far. */
        void writeAll() {
            submit();
            while (!inFlight.isEmpty()) {
                drainOne();
            }
        }

        private void drainOne() {
            Encoded e;
            try {
                e = inFlight.removeFirst().get();
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                throw new JgptException("prepare interrupted", ex);
            } catch (ExecutionException ex) {
                if (ex.getCause() instanceof RuntimeException re) throw re;
                throw new IllegalStateException(ex.getCause());
            }
            boolean more = true;
            try {
                for (int p = 0, from = 0; p < e.pieces.size() && more; from = e.ends[p], p++) {
                    Piece piece = e.pieces.get(p);
                    int start = from, count = e.ends[p] - from;
                    if (drop > 0) { // the first document of a continued prepare: position is past the tokens a kept shard holds
                        int n = (int) Math.min(drop, count);
                        drop -= n;
                        start += n;
                        count -= n;
                    } else if (piece.starts) {
                        position = new ShardWriter.Position(piece.input, piece.document, 0, position.documents());
                    }
                    more = writer.append(e.tokens, start, count, position);
                    position = position.advance(count);
                }
            } catch (IOException ex) {
                throw JgptException.io(writer.dir(), "write shards", ex);
            }
            bytes += e.bytes;
            if (bar != null) {
                bar.add("docs", e.documents);
                bar.add("tokens", e.ends.length == 0 ? 0 : e.ends[e.ends.length - 1]);
                bar.add(e.bytes);
            }
            if (!more) {
                throw new Stop();
            }
        }

        private static Encoded encode(List<Piece> pieces) {
            Gpt2Tokenizer tokenizer = Gpt2Tokenizer.get();
            short[] out = new short[1024];
            int[] ends = new int[pieces.size()];
            int count = 0;
            int docs = 0;
            long bytes = 0;
            for (int p = 0; p < pieces.size(); p++) {
                Piece piece = pieces.get(p);
                int[] ids = tokenizer.encode(piece.text);
                if (count + ids.length + 1 > out.length) {
                    out = java.util.Arrays.copyOf(out, Math.max(2 * out.length, count + ids.length + 1));
                }
                if (piece.starts) {
                    out[count++] = (short) Gpt2Tokenizer.EOT;
                    docs++;
                }
                for (int id : ids) {
                    out[count++] = (short) id;
                }
                ends[p] = count;
                bytes += utf8Length(piece.text);
            }
            return new Encoded(out, ends, pieces, docs, bytes);
        }

        private static long utf8Length(String s) {
            long n = 0;
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                n += c < 0x80 ? 1 : c < 0x800 ? 2 : Character.isSurrogate(c) ? 2 : 3;
            }
            return n;
        }
    }
}
