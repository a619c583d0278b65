package dev.jgpt.data;

import com.google.gson.Gson;
import com.google.gson.JsonParseException;
import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Serves (B, T+1) windows of tokens from the shards of one split, as inputs and next-token targets.
 *
 * <p>Shards are the files in the directory whose names hold the split's name as a word ("train" or "val",
 * as build-nanogpt and llm.c name them: {@link #inSplit}), in file-name order (numbers in names compared as numbers), in any one format ({@code .bin}, {@code .npy},
 * {@code .h5}). Two orders:
 * <ul>
 *   <li>{@link Order#SEQUENTIAL}: build-nanogpt's DataLoaderLite. Shards in order; rank r starts at token
 *       {@code B*T*r} of a shard and advances {@code B*T*worldSize} tokens a batch; when the next step would
 *       run past the shard's end the next shard starts (after the last, the first again). Shards
 *       smaller than one step ({@code B*T*worldSize + 1} tokens) are skipped.</li>
 *   <li>{@link Order#SHUFFLED}: each shard is cut into windows of T+1 tokens that overlap by one
 *       (window j starts at token {@code j*T}, so every token is a target once). Each epoch visits the
 *       shards in an order permuted from (seed, epoch) and the windows of each shard in an order
 *       permuted from (seed, epoch, shard); every window is served exactly once per epoch. Each step
 *       takes the next {@code B*worldSize} windows of that sequence, rank r getting the r-th B of them,
 *       so ranks never share a window. A step may span two shards or two epochs.</li>
 * </ul>
 * Validation uses SEQUENTIAL and {@link #reset()} before each evaluation.
 *
 * <p>{@link #state()} is where the next batch comes from; {@link #restore(State)} on a dataset built
 * with the same arguments continues with exactly the batches the saved one would have served. The
 * permutations are pure functions of the seed, so the state needs no random-generator internals.
 * Not thread-safe.
 */
public final class TokenDataset {
    /** The order in which windows are served. */
    public enum Order {
        SEQUENTIAL, SHUFFLED;

        /** Parses "sequential" or "shuffled" (any case). */
        public static Order parse(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "sequential" -> SEQUENTIAL;
                case "shuffled", "shuffle" -> SHUFFLED;
                default -> throw new JgptException("data order: unknown order '" + name + "' (use sequential or shuffled)");
            };
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * Where the next batch comes from. {@code shard} is an index into the split's shards in file order
     * (sequential) or into the epoch's shard order (shuffled); {@code position} is a token offset
     * (sequential) or a window index within the shard's permuted windows (shuffled), both of the
     * step's start, before the rank's offset: one state serves every rank. JSON via {@link #toJson()} / {@link #fromJson}.
     */
    public record State(String split, String order, long seed, int seqLen, long epoch, int shard, long position) {
        private static final Gson GSON = new Gson();

        public String toJson() {
            return GSON.toJson(this);
        }

        public static State fromJson(String json) {
            try {
                State s = GSON.fromJson(json, State.class);
                if (s == null || s.split == null || s.order == null) {
                    throw new JgptException("data state: incomplete JSON: " + json);
                }
                return s;
            } catch (JsonParseException e) {
                throw new JgptException("data state: bad JSON: " + JgptException.jsonReason(e), e);
            }
        }
    }

    private final Path dir;
    private final String split;
    private final int batch;
    private final int seqLen;
    private final int rank;
    private final int worldSize;
    private final Order order;
    private final long seed;
    private final List<Path> shards;
    private final long[] shardTokens;
    private final long[] shardWindows;
    private final long totalTokens;
    // Recently opened shards: mapped shards cost nothing to keep, decoded HDF5 shards cost 2 bytes a token.
    private final Map<Integer, TokenShard> open = new LinkedHashMap<>(4, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, TokenShard> eldest) {
            return size() > 2;
        }
    };
    private final Map<Long, int[]> permutations = new LinkedHashMap<>(4, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, int[]> eldest) {
            return size() > 3;
        }
    };
    private final int[] window;
    private final int vocabSize;
    private final boolean[] checked; // shards whose tokens were checked against vocabSize

    private long epoch;
    private int shard;
    private long position;

    /**
     * @param dir       directory of shards (as {@code jgpt prepare} writes them)
     * @param split     "train" or "val": shards whose file name contains it
     * @param batch     B, sequences per batch
     * @param seqLen    T, tokens per sequence
     * @param rank      this process's rank, 0 <= rank < worldSize
     * @param worldSize number of data-parallel processes
     * @param order     sequential (DataLoaderLite) or shuffled
     * @param seed      seed of the shuffled order (ignored by sequential)
     */
    public TokenDataset(Path dir, String split, int batch, int seqLen, int rank, int worldSize, Order order, long seed) {
        this(dir, split, batch, seqLen, rank, worldSize, order, seed, 1 << 16);
    }

    /**
     * As above, for a model of {@code vocabSize} tokens: each shard is checked once, when it is first
     * opened, to hold no token id at or above it (the error names the shard and the offset).
     */
    public TokenDataset(Path dir, String split, int batch, int seqLen, int rank, int worldSize, Order order, long seed,
                        int vocabSize) {
        if (batch < 1 || seqLen < 1) {
            throw new JgptException("data: batch size and sequence length must be positive, got B=" + batch + " T=" + seqLen);
        }
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new JgptException("data: rank " + rank + " is outside world size " + worldSize);
        }
        if ((long) batch * seqLen + 1 > Integer.MAX_VALUE / 2) {
            throw new JgptException("data: B*T = " + (long) batch * seqLen + " is too large");
        }
        this.dir = dir;
        this.split = split;
        this.vocabSize = vocabSize;
        this.batch = batch;
        this.seqLen = seqLen;
        this.rank = rank;
        this.worldSize = worldSize;
        this.order = order;
        this.seed = seed;
        this.shards = findShards(dir, split);
        this.shardTokens = new long[shards.size()];
        this.checked = new boolean[shards.size()];
        this.shardWindows = new long[shards.size()];
        long total = 0;
        long usable = 0;
        long step = (long) batch * seqLen * worldSize;
        for (int i = 0; i < shards.size(); i++) {
            shardTokens[i] = ShardFormat.of(shards.get(i)).tokenCount(shards.get(i));
            shardWindows[i] = Math.max(0, (shardTokens[i] - 1) / seqLen);
            total += shardTokens[i];
            usable += order == Order.SEQUENTIAL ? (shardTokens[i] >= step + 1 ? 1 : 0) : shardWindows[i];
        }
        this.totalTokens = total;
        if (usable == 0) throw tooSmall(total, Arrays.stream(shardTokens).max().orElse(0));
        this.window = new int[seqLen + 1];
        reset();
    }

    /**
     * A split with no whole batch (sequential) or row (shuffled) in any one shard, said in the B x T
     * the run and eval print, with the batch that does fit.
     */
    private JgptException tooSmall(long total, long largestShard) {
        String what = String.format(Locale.ROOT, "%s: the %s split (%,d tokens in %d shard%s)", dir, split, total,
                shards.size(), shards.size() == 1 ? "" : "s");
        if (order == Order.SHUFFLED) {
            return new JgptException(String.format(Locale.ROOT, "%s holds no row of %d tokens (T = %d and its last target);"
                    + " its largest shard holds %,d", what, seqLen + 1, seqLen, largestShard));
        }
        String each = worldSize == 1 ? "" : " for each of " + worldSize + " processes";
        long fits = (largestShard - 1) / ((long) seqLen * worldSize);
        return new JgptException(String.format(Locale.ROOT, "%s holds no batch of %d x %d tokens%s (%,d tokens in one shard,"
                + " with the last target); %s", what, batch, seqLen, each, (long) batch * seqLen * worldSize + 1,
                fits >= 1 ? "a batch of at most " + fits + " x " + seqLen + " fits" : "its largest shard holds " + largestShard));
    }

    private static final Pattern SPLIT_WORD = Pattern.compile("(?<![A-Za-z])(train|val|valid|validation)(?![A-Za-z])");

    /**
     * Whether a shard's file name puts it in {@code split} ("train" or "val"): the last split name in
     * it that is a word of its own (fineweb_val_000000.bin, val.bin, TinyStories_val000.bin; valid and
     * validation are val too). So the shards of a corpus named retrieval, training or train
     * (train_val_000000.bin) are not read as the other split.
     */
    public static boolean inSplit(String fileName, String split) {
        String last = null;
        for (var m = SPLIT_WORD.matcher(fileName); m.find(); ) last = m.group(1).equals("train") ? "train" : "val";
        return split.equals(last);
    }

    /** The shard files of {@code split} in {@code dir}, sorted by name. */
    static List<Path> findShards(Path dir, String split) {
        if (Files.exists(dir) && !Files.isDirectory(dir)) throw new JgptException(dir + ": exists and is not a directory of shards");
        if (!Files.isDirectory(dir)) {
            throw new JgptException(dir + ": no such data directory (make one with: jgpt prepare --out " + JgptException.shellWord(dir) + ")");
        }
        List<Path> found = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            files.filter(Files::isRegularFile)
                    .filter(ShardFormat::isShard)
                    .filter(p -> inSplit(p.getFileName().toString(), split))
                    .sorted((a, b) -> compareNatural(a.getFileName().toString(), b.getFileName().toString()))
                    .forEach(found::add);
        } catch (IOException e) {
            throw new JgptException(dir + ": cannot list shards: " + e.getMessage(), e);
        }
        if (found.isEmpty()) {
            throw new JgptException(dir + ": no " + split + " shards (files with the word '" + split
                    + "' in their name ending in .bin, .npy or .h5)");
        }
        long formats = found.stream().map(ShardFormat::of).distinct().count();
        if (formats > 1) {
            throw new JgptException(dir + ": " + split + " shards in more than one format; keep one of "
                    + found.stream().map(ShardFormat::of).distinct().map(f -> "." + f.extension).toList());
        }
        return List.copyOf(found);
    }

    /**
     * File names in natural order: runs of digits compare as numbers, so shard 1000000 (seven digits,
     * past prepare's six) follows shard 999999 instead of sorting before shard 100001.
     */
    static int compareNatural(String a, String b) {
        int i = 0, j = 0;
        while (i < a.length() && j < b.length()) {
            char x = a.charAt(i), y = b.charAt(j);
            if (Character.isDigit(x) && Character.isDigit(y)) {
                int ei = i, ej = j;
                while (ei < a.length() && Character.isDigit(a.charAt(ei))) ei++;
                while (ej < b.length() && Character.isDigit(b.charAt(ej))) ej++;
                String m = a.substring(i, ei).replaceFirst("^0+(?=.)", ""), n = b.substring(j, ej).replaceFirst("^0+(?=.)", "");
                int c = m.length() != n.length() ? Integer.compare(m.length(), n.length()) : m.compareTo(n);
                if (c != 0) return c;
                i = ei;
                j = ej;
            } else {
                if (x != y) return Character.compare(x, y);
                i++;
                j++;
            }
        }
        int c = Integer.compare(a.length() - i, b.length() - j);
        return c != 0 ? c : a.compareTo(b);
    }

    /** Back to the start: first shard, first window, epoch 0. */
    public void reset() {
        epoch = 0;
        shard = 0;
        position = 0;
        if (order == Order.SEQUENTIAL) {
            position = (long) batch * seqLen * rank;
            skipUnusableSequentialShards();
        } else {
            long[] cursor = {0, 0, 0};
            advance(cursor, 0); // steps over shards too small for a single window
            shard = (int) cursor[1];
        }
    }

    /**
     * Fills {@code inputs} and {@code targets} (B*T ints each, row-major (B, T)) with the next batch;
     * {@code targets[i]} is the token after {@code inputs[i]}.
     */
    public void nextBatch(int[] inputs, int[] targets) {
        int bt = batch * seqLen;
        if (inputs.length < bt || targets.length < bt) {
            throw new IllegalArgumentException("inputs and targets need B*T = " + bt + " ints");
        }
        if (order == Order.SEQUENTIAL) {
            nextSequential(inputs, targets);
        } else {
            nextShuffled(inputs, targets);
        }
    }

    private void nextSequential(int[] inputs, int[] targets) {
        int bt = batch * seqLen;
        TokenShard tokens = shard(shard);
        // As DataLoaderLite: buf = tokens[pos : pos+B*T+1]; x = buf[:-1]; y = buf[1:]
        tokens.read(position, inputs, 0, bt);
        tokens.read(position + 1, targets, 0, bt);
        long step = (long) bt * worldSize;
        position += step;
        // Whether the next step fits is asked of the step as a whole (its start is rank 0's
        // position), so that every rank moves to the next shard at the same step.
        long nextStepStart = position - (long) bt * rank;
        if (nextStepStart + step + 1 > shardTokens[shard]) {
            advanceSequentialShard();
            position = (long) bt * rank;
            skipUnusableSequentialShards();
        }
    }

    private void advanceSequentialShard() {
        shard++;
        if (shard == shards.size()) {
            shard = 0;
            epoch++;
        }
    }

    private void skipUnusableSequentialShards() {
        long step = (long) batch * seqLen * worldSize;
        while (shardTokens[shard] < step + 1) {
            advanceSequentialShard();
        }
    }

    private void nextShuffled(int[] inputs, int[] targets) {
        // A cursor for this rank's B windows, ahead of the step's start by rank*B windows.
        long[] cursor = {epoch, shard, position};
        advance(cursor, (long) rank * batch);
        for (int b = 0; b < batch; b++) {
            int shardIndex = shardOrder(cursor[0])[(int) cursor[1]];
            long w = windowOrder(cursor[0], shardIndex)[(int) cursor[2]];
            shard(shardIndex).read(w * seqLen, window, 0, seqLen + 1);
            System.arraycopy(window, 0, inputs, b * seqLen, seqLen);
            System.arraycopy(window, 1, targets, b * seqLen, seqLen);
            advance(cursor, 1);
        }
        long[] next = {epoch, shard, position};
        advance(next, (long) batch * worldSize);
        epoch = next[0];
        shard = (int) next[1];
        position = next[2];
    }

    /** Moves a shuffled cursor (epoch, index into the epoch's shard order, window) forward n windows. */
    private void advance(long[] cursor, long n) {
        while (true) {
            int shardIndex = shardOrder(cursor[0])[(int) cursor[1]];
            long left = shardWindows[shardIndex] - cursor[2];
            if (n < left) {
                cursor[2] += n;
                return;
            }
            n -= left;
            cursor[1]++;
            cursor[2] = 0;
            if (cursor[1] == shards.size()) {
                cursor[0]++;
                cursor[1] = 0;
            }
        }
    }

    /** The epoch's shard order. */
    private int[] shardOrder(long epochIndex) {
        return permutations.computeIfAbsent(-1 - epochIndex,
                k -> permutation(shards.size(), mix(seed, epochIndex, -1)));
    }

    /** The window order of one shard in one epoch. */
    private int[] windowOrder(long epochIndex, int shardIndex) {
        return permutations.computeIfAbsent(epochIndex * shards.size() + shardIndex,
                k -> permutation((int) shardWindows[shardIndex], mix(seed, epochIndex, shardIndex)));
    }

    /** Fisher-Yates with SplitMix64: the same permutation on every JVM, forever. */
    static int[] permutation(int n, long seed) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        long state = seed;
        for (int i = n - 1; i > 0; i--) {
            state += 0x9E3779B97F4A7C15L;
            int j = (int) Long.remainderUnsigned(splitMix(state), i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    private static long mix(long seed, long epochIndex, long shardIndex) {
        return splitMix(splitMix(splitMix(seed) ^ epochIndex) ^ shardIndex);
    }

    private static long splitMix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private TokenShard shard(int index) {
        return open.computeIfAbsent(index, i -> {
            TokenShard s = TokenShard.open(shards.get(i));
            if (s.size() != shardTokens[i]) {
                throw new JgptException(shards.get(i) + ": changed while in use (" + shardTokens[i] + " tokens, now " + s.size() + ")");
            }
            if (!checked[i]) {
                long at = s.firstTokenAtLeast(vocabSize);
                if (at >= 0) {
                    throw new JgptException(shards.get(i) + ": token " + s.get(at) + " at offset " + at
                            + " is outside the model's vocabulary of " + vocabSize + " tokens (a shard of another tokenizer?)");
                }
                checked[i] = true;
            }
            return s;
        });
    }

    /** Where the next batch comes from. */
    public State state() {
        return new State(split, order.toString(), seed, seqLen, epoch, shard, stepStart(position));
    }

    /** A sequential position as the step's start, the same on every rank (shuffled positions already are). */
    private long stepStart(long rankPosition) {
        return order == Order.SEQUENTIAL ? rankPosition - (long) batch * seqLen * rank : rankPosition;
    }

    /** Continues from a saved state (of a dataset built with the same arguments). */
    public void restore(State s) {
        // sequential order reads the files as they are: its seed is unused, and may differ
        if (!s.split().equals(split) || !s.order().equals(order.toString()) || (order == Order.SHUFFLED && s.seed() != seed)) {
            throw new JgptException("data state is for split '" + s.split() + "', order " + s.order() + ", seed " + s.seed()
                    + "; this dataset is split '" + split + "', order " + order + ", seed " + seed);
        }
        if (order == Order.SHUFFLED && s.seqLen() != seqLen) {
            throw new JgptException("data state was saved with sequence length " + s.seqLen() + ", this dataset has " + seqLen);
        }
        if (s.shard() < 0 || s.shard() >= shards.size() || s.position() < 0 || s.epoch() < 0) {
            throw new JgptException("data state points outside " + dir + " (" + shards.size() + " " + split + " shards): " + s.toJson());
        }
        long limit = order == Order.SEQUENTIAL ? shardTokens[s.shard()] : Math.max(1, shardWindows[shardOrder(s.epoch())[s.shard()]]);
        if (s.position() >= limit) {
            throw new JgptException("data state points past the end of a shard in " + dir + " (did the shards change?): " + s.toJson());
        }
        epoch = s.epoch();
        shard = s.shard();
        position = order == Order.SEQUENTIAL ? s.position() + (long) batch * seqLen * rank : s.position();
    }

    /** Tokens in all shards of this split. */
    public long tokensInSplit() {
        return totalTokens;
    }

    /** The split's shard files, in file-name order. */
    public List<Path> shards() {
        return shards;
    }

    /** Windows of T+1 tokens in one shuffled epoch (all ranks together). */
    public long windowsPerEpoch() {
        long n = 0;
        for (long w : shardWindows) n += w;
        return n;
    }
}
