package dev.jgpt.data;

import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenDatasetTest {
    // Train shards of uneven sizes; every token is its global index, so a window is known by its first token.
    // 4800 is a multiple of every T used here (its last T tokens hold one window fewer than T divides);
    // 17 is T + 1 for T = 16 (one window, exactly).
    static final int[] TRAIN_SIZES = {5000, 7001, 3333, 20, 4800, 17};
    // windows of T = 16 tokens (+1 target) in each: (size - 1) / 16, rounded down
    static final int[] WINDOWS_OF_16 = {312, 437, 208, 1, 299, 1};

    /** Writes val + train shards; token value = index over all train shards (val: 60000 + i). */
    static Path shards(Path dir, ShardFormat format) throws IOException {
        int next = 0;
        short[] val = new short[2000];
        for (int i = 0; i < val.length; i++) val[i] = (short) (60000 + i);
        format.write(dir.resolve("t_val_000000." + format.extension), val, val.length);
        for (int s = 0; s < TRAIN_SIZES.length; s++) {
            short[] tokens = new short[TRAIN_SIZES[s]];
            for (int i = 0; i < tokens.length; i++) tokens[i] = (short) next++;
            format.write(dir.resolve(String.format("t_train_%06d.%s", s + 1, format.extension)), tokens, tokens.length);
        }
        return dir;
    }

    @Test
    void sequentialIsDataLoaderLiteAcrossRanks(@TempDir Path dir) throws IOException {
        shards(dir, ShardFormat.BIN);
        int b = 4, t = 32, world = 3;
        for (int rank = 0; rank < world; rank++) {
            TokenDataset ds = new TokenDataset(dir, "train", b, t, rank, world, TokenDataset.Order.SEQUENTIAL, 0);
            DataLoaderLite ref = new DataLoaderLite(b, t, rank, world);
            int[] x = new int[b * t], y = new int[b * t];
            for (int step = 0; step < 200; step++) {
                ds.nextBatch(x, y);
                int[] buf = ref.next();
                assertArrayEquals(Arrays.copyOfRange(buf, 0, b * t), x, "rank " + rank + " step " + step);
                assertArrayEquals(Arrays.copyOfRange(buf, 1, b * t + 1), y);
            }
        }
    }

    /**
     * build-nanogpt's DataLoaderLite, transcribed, over the same shards (the 20-token one is too small
     * and skipped), with one deliberate change: whether the next step fits in the shard is asked of the
     * step's start (rank 0's position) on every rank. DataLoaderLite asks it of each rank's own
     * position, so a higher rank can move to the next shard one step before rank 0 does, and the ranks
     * then no longer read one step's windows together.
     */
    static final class DataLoaderLite {
        final int b, t, rank, world;
        final List<int[]> shards = new ArrayList<>();
        int current;
        long pos;

        DataLoaderLite(int b, int t, int rank, int world) {
            this.b = b;
            this.t = t;
            this.rank = rank;
            this.world = world;
            int next = 0;
            for (int size : TRAIN_SIZES) {
                int[] s = new int[size];
                for (int i = 0; i < size; i++) s[i] = next++;
                if (size >= b * t * world + 1) shards.add(s);
            }
            pos = (long) b * t * rank;
        }

        int[] next() {
            int[] tokens = shards.get(current);
            int[] buf = Arrays.copyOfRange(tokens, (int) pos, (int) pos + b * t + 1);
            pos += (long) b * t * world;
            if (pos - (long) b * t * rank + ((long) b * t * world + 1) > tokens.length) {
                current = (current + 1) % shards.size();
                pos = (long) b * t * rank;
            }
            return buf;
        }
    }

    @Test
    void ranksReadOneStepTogetherAndShareOneState(@TempDir Path dir) throws IOException {
        shards(dir, ShardFormat.BIN);
        for (TokenDataset.Order order : TokenDataset.Order.values()) {
            int b = 4, t = 32, world = 3;
            // one process with world*b rows reads exactly the rows the ranks read together, step by step
            TokenDataset whole = new TokenDataset(dir, "train", world * b, t, 0, 1, order, 7);
            List<TokenDataset> ranks = new ArrayList<>();
            for (int r = 0; r < world; r++) ranks.add(new TokenDataset(dir, "train", b, t, r, world, order, 7));
            int[] wx = new int[world * b * t], wy = new int[world * b * t], x = new int[b * t], y = new int[b * t];
            for (int step = 0; step < 150; step++) {
                for (TokenDataset r : ranks) assertEquals(ranks.getFirst().state(), r.state(), order + " step " + step);
                if (step == 77) { // a resume: every rank restores rank 0's saved state
                    TokenDataset.State saved = ranks.getFirst().state();
                    ranks.clear();
                    for (int r = 0; r < world; r++) {
                        TokenDataset d = new TokenDataset(dir, "train", b, t, r, world, order, 7);
                        d.restore(TokenDataset.State.fromJson(saved.toJson()));
                        ranks.add(d);
                    }
                }
                whole.nextBatch(wx, wy);
                for (int r = 0; r < world; r++) {
                    ranks.get(r).nextBatch(x, y);
                    assertArrayEquals(Arrays.copyOfRange(wx, r * b * t, (r + 1) * b * t), x, order + " rank " + r + " step " + step);
                    assertArrayEquals(Arrays.copyOfRange(wy, r * b * t, (r + 1) * b * t), y);
                }
            }
        }
    }

    @Test
    void shuffledVisitsEveryWindowOncePerEpochWithRanksDisjoint(@TempDir Path dir) throws IOException {
        shards(dir, ShardFormat.NPY);
        int b = 5, t = 16, world = 3;
        List<TokenDataset> ranks = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            ranks.add(new TokenDataset(dir, "train", b, t, r, world, TokenDataset.Order.SHUFFLED, 1234));
        }
        long perEpoch = ranks.getFirst().windowsPerEpoch();
        assertEquals(1258, perEpoch);
        assertEquals(perEpoch, Arrays.stream(WINDOWS_OF_16).sum());
        Set<Integer> windowStarts = new HashSet<>(); // the first token of every window
        for (int s = 0, shardStart = 0; s < TRAIN_SIZES.length; shardStart += TRAIN_SIZES[s++]) {
            for (int w = 0; w < WINDOWS_OF_16[s]; w++) windowStarts.add(shardStart + w * t);
        }

        // The stream of windows, step by step, rank by rank: 3 epochs' worth plus a bit.
        List<Integer> stream = new ArrayList<>();
        int[] x = new int[b * t], y = new int[b * t];
        int steps = (int) (3 * perEpoch / (b * world)) + 2;
        for (int step = 0; step < steps; step++) {
            Set<Integer> thisStep = new HashSet<>();
            for (TokenDataset ds : ranks) {
                ds.nextBatch(x, y);
                for (int row = 0; row < b; row++) {
                    int first = x[row * t];
                    assertEquals(0, offsetInShard(first) % t, "windows start at multiples of T in their shard");
                    for (int i = 0; i < t; i++) {
                        assertEquals(first + i, x[row * t + i], "a window is T consecutive tokens");
                        assertEquals(first + i + 1, y[row * t + i], "targets are inputs shifted by one");
                    }
                    assertTrue(thisStep.add(first), "ranks share no window within a step");
                    stream.add(first);
                }
            }
        }
        List<List<Integer>> epochs = new ArrayList<>();
        for (int e = 0; e < 3; e++) {
            List<Integer> epoch = stream.subList((int) (e * perEpoch), (int) ((e + 1) * perEpoch));
            assertEquals(perEpoch, new HashSet<>(epoch).size(), "every window exactly once in epoch " + e);
            assertEquals(windowStarts, new HashSet<>(epoch), "the windows of epoch " + e);
            epochs.add(epoch);
        }
        assertNotEquals(epochs.get(0), epochs.get(1), "each epoch has its own order");
        assertNotEquals(epochs.get(1), epochs.get(2));
    }

    /** Offset of a (global) token within its shard. */
    private static int offsetInShard(int token) {
        int start = 0;
        for (int size : TRAIN_SIZES) {
            if (token < start + size) return token - start;
            start += size;
        }
        throw new IllegalArgumentException("token " + token);
    }

    @Test
    void seedDecidesTheOrder(@TempDir Path dir) throws IOException {
        shards(dir, ShardFormat.BIN);
        assertArrayEquals(firstBatch(dir, 7), firstBatch(dir, 7));
        assertFalse(Arrays.equals(firstBatch(dir, 7), firstBatch(dir, 8)));
    }

    private static int[] firstBatch(Path dir, long seed) {
        TokenDataset ds = new TokenDataset(dir, "train", 8, 16, 0, 1, TokenDataset.Order.SHUFFLED, seed);
        int[] x = new int[8 * 16], y = new int[8 * 16];
        ds.nextBatch(x, y);
        return x;
    }

    @Test
    void resumedRunSeesExactlyTheSameBatches(@TempDir Path dir) throws IOException {
        shards(dir, ShardFormat.HDF5);
        for (TokenDataset.Order order : TokenDataset.Order.values()) {
            for (int rank = 0; rank < 2; rank++) {
                int b = 3, t = 64;
                TokenDataset straight = new TokenDataset(dir, "train", b, t, rank, 2, order, 99);
                int[] x = new int[b * t], y = new int[b * t];
                for (int step = 0; step < 57; step++) straight.nextBatch(x, y);
                String saved = straight.state().toJson();

                TokenDataset resumed = new TokenDataset(dir, "train", b, t, rank, 2, order, 99);
                resumed.restore(TokenDataset.State.fromJson(saved));
                assertEquals(straight.state(), resumed.state());
                int[] x2 = new int[b * t], y2 = new int[b * t];
                for (int step = 0; step < 150; step++) {
                    straight.nextBatch(x, y);
                    resumed.nextBatch(x2, y2);
                    assertArrayEquals(x, x2, order + " rank " + rank + " step " + step);
                    assertArrayEquals(y, y2);
                }
            }
        }
    }

    @Test
    void validationReadsSequentiallyAndResets(@TempDir Path dir) throws IOException {
        shards(dir, ShardFormat.BIN);
        TokenDataset val = new TokenDataset(dir, "val", 2, 100, 0, 1, TokenDataset.Order.SEQUENTIAL, 0);
        assertEquals(2000, val.tokensInSplit());
        int[] x = new int[200], y = new int[200];
        val.nextBatch(x, y);
        assertEquals(60000, x[0]);
        assertEquals(60001, y[0]);
        val.nextBatch(x, y);
        assertEquals(60200, x[0]);
        val.reset();
        val.nextBatch(x, y);
        assertEquals(60000, x[0]);
        TokenDataset train = new TokenDataset(dir, "train", 2, 100, 0, 1, TokenDataset.Order.SEQUENTIAL, 0);
        assertEquals(Arrays.stream(TRAIN_SIZES).sum(), train.tokensInSplit());
        assertEquals(TRAIN_SIZES.length, train.shards().size());
    }

    /** A split is the word train or val in a shard's name: a corpus named retrieval or training keeps its splits apart. */
    @Test
    void splitsAreWordsInTheNameNotAnyPartOfIt(@TempDir Path dir) throws IOException {
        for (String corpus : new String[]{"retrieval", "training", "train", "val"}) { // jgpt prepare names shards after the source file
            Path d = Files.createDirectories(dir.resolve(corpus));
            ShardFormat.BIN.write(d.resolve(corpus + "_val_000000.bin"), new short[2000], 2000);
            ShardFormat.BIN.write(d.resolve(corpus + "_train_000001.bin"), new short[5000], 5000);
            TokenDataset val = new TokenDataset(d, "val", 1, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0);
            assertEquals(List.of(d.resolve(corpus + "_val_000000.bin")), val.shards());
            TokenDataset train = new TokenDataset(d, "train", 1, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0);
            assertEquals(List.of(d.resolve(corpus + "_train_000001.bin")), train.shards());
        }
        for (String name : new String[]{"fineweb_val_000000.bin", "val.bin", "TinyStories_val000.bin", "wiki.valid.npy",
                "wiki-validation.h5"}) {
            assertTrue(TokenDataset.inSplit(name, "val"), name);
            assertFalse(TokenDataset.inSplit(name, "train"), name);
        }
        for (String name : new String[]{"edufineweb_train_000001.npy", "train.bin", "retrieval_train_000001.bin"}) {
            assertTrue(TokenDataset.inSplit(name, "train"), name);
            assertFalse(TokenDataset.inSplit(name, "val"), name);
        }
    }

    @Test
    void badDirectoriesAndStatesAreClearErrors(@TempDir Path dir) throws IOException {
        JgptException e = assertThrows(JgptException.class,
                () -> new TokenDataset(dir.resolve("nope"), "train", 1, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0));
        assertTrue(e.getMessage().contains("no such data directory"), e.getMessage());
        Path file = Files.writeString(dir.resolve("a-file"), "not shards\n");
        e = assertThrows(JgptException.class, () -> new TokenDataset(file, "train", 1, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0));
        assertEquals(file + ": exists and is not a directory of shards", e.getMessage()); // not "make one with jgpt prepare"
        Files.delete(file);
        e = assertThrows(JgptException.class, () -> new TokenDataset(dir, "train", 1, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0));
        assertTrue(e.getMessage().contains("no train shards"), e.getMessage());

        shards(dir, ShardFormat.BIN);
        e = assertThrows(JgptException.class, () -> new TokenDataset(dir, "val", 64, 1024, 0, 1, TokenDataset.Order.SEQUENTIAL, 0));
        assertEquals(dir + ": the val split (2,000 tokens in 1 shard) holds no batch of 64 x 1024 tokens (65,537 tokens in one"
                + " shard, with the last target); a batch of at most 1 x 1024 fits", e.getMessage());
        e = assertThrows(JgptException.class, () -> new TokenDataset(dir, "val", 8, 200, 0, 2, TokenDataset.Order.SEQUENTIAL, 0));
        assertEquals(dir + ": the val split (2,000 tokens in 1 shard) holds no batch of 8 x 200 tokens for each of 2 processes"
                + " (3,201 tokens in one shard, with the last target); a batch of at most 4 x 200 fits", e.getMessage());
        e = assertThrows(JgptException.class, () -> new TokenDataset(dir, "val", 1, 3000, 0, 1, TokenDataset.Order.SHUFFLED, 0));
        assertEquals(dir + ": the val split (2,000 tokens in 1 shard) holds no row of 3001 tokens (T = 3000 and its last target);"
                + " its largest shard holds 2,000", e.getMessage());
        e = assertThrows(JgptException.class, () -> new TokenDataset(dir, "train", 1, 8, 2, 2, TokenDataset.Order.SEQUENTIAL, 0));
        assertTrue(e.getMessage().contains("rank 2"), e.getMessage());

        TokenDataset ds = new TokenDataset(dir, "train", 2, 8, 0, 1, TokenDataset.Order.SHUFFLED, 5);
        TokenDataset.State other = new TokenDataset(dir, "train", 2, 8, 0, 1, TokenDataset.Order.SHUFFLED, 6).state();
        e = assertThrows(JgptException.class, () -> ds.restore(other));
        assertTrue(e.getMessage().contains("seed 6"), e.getMessage());
        assertThrows(JgptException.class, () -> TokenDataset.State.fromJson("{not json"));

        short[] some = new short[100];
        ShardFormat.NPY.write(dir.resolve("t_train_000009.npy"), some, some.length);
        e = assertThrows(JgptException.class, () -> new TokenDataset(dir, "train", 1, 8, 0, 1, TokenDataset.Order.SEQUENTIAL, 0));
        assertTrue(e.getMessage().contains("more than one format"), e.getMessage());
        Files.delete(dir.resolve("t_train_000009.npy"));
    }
}
