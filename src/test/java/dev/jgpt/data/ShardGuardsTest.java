package dev.jgpt.data;

import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shards as training meets them: in order past a million files, and with token ids the model knows. */
class ShardGuardsTest {
    static short[] tokens(int n, int value) {
        short[] t = new short[n];
        for (int i = 0; i < n; i++) t[i] = (short) ((value + i) % 1000);
        return t;
    }

    @Test
    void shardNamesSortByNumberPastSixDigits(@TempDir Path tmp) throws IOException {
        for (String name : new String[]{"x_train_1000000.bin", "x_train_999999.bin", "x_train_000001.bin", "x_train_100001.bin", "x_val_000000.bin"}) {
            ShardFormat.BIN.write(tmp.resolve(name), tokens(100, 0), 100);
        }
        List<String> names = TokenDataset.findShards(tmp, "train").stream().map(p -> p.getFileName().toString()).toList();
        assertEquals(List.of("x_train_000001.bin", "x_train_100001.bin", "x_train_999999.bin", "x_train_1000000.bin"), names);
        assertTrue(TokenDataset.compareNatural("a_2.bin", "a_10.bin") < 0);
        assertTrue(TokenDataset.compareNatural("a_02.bin", "a_2.bin") != 0, "different names never compare equal");
    }

    @Test
    void aTokenOutsideTheVocabularyIsFoundWhenItsShardIsOpenedNamingShardAndOffset(@TempDir Path tmp) throws IOException {
        short[] val = tokens(5000, 0), train = tokens(70_001, 3);
        train[65_537] = (short) 50_300; // past GPT-2's 50257, deep in the shard (and past a vector boundary)
        ShardFormat.BIN.write(tmp.resolve("d_val_000000.bin"), val, val.length);
        ShardFormat.BIN.write(tmp.resolve("d_train_000001.bin"), train, train.length);
        TokenDataset data = new TokenDataset(tmp, "train", 2, 16, 0, 1, TokenDataset.Order.SEQUENTIAL, 0, 50257);
        int[] in = new int[32], out = new int[32];
        JgptException e = assertThrows(JgptException.class, () -> data.nextBatch(in, out));
        assertEquals(tmp.resolve("d_train_000001.bin") + ": token 50300 at offset 65537 is outside the model's vocabulary of 50257"
                + " tokens (a shard of another tokenizer?)", e.getMessage());
        // a vocabulary that holds it, and the validation split, read as before
        new TokenDataset(tmp, "train", 2, 16, 0, 1, TokenDataset.Order.SEQUENTIAL, 0, 50304).nextBatch(in, out);
        new TokenDataset(tmp, "val", 2, 16, 0, 1, TokenDataset.Order.SHUFFLED, 0, 1000).nextBatch(in, out);
        assertEquals(-1, TokenShard.open(tmp.resolve("d_val_000000.bin")).firstTokenAtLeast(1000));
        assertEquals(0, TokenShard.open(tmp.resolve("d_val_000000.bin")).firstTokenAtLeast(0));
        assertEquals(999, TokenShard.open(tmp.resolve("d_val_000000.bin")).firstTokenAtLeast(999));
        short[] last = tokens(5000, 0);
        last[4999] = (short) 60_000; // above 32767: compared unsigned, in the tail after the last whole vector
        ShardFormat.BIN.write(tmp.resolve("last.bin"), last, last.length);
        assertEquals(4999, TokenShard.open(tmp.resolve("last.bin")).firstTokenAtLeast(50257));
    }
}
