package dev.jgpt.eval;

import dev.jgpt.JgptException;
import dev.jgpt.data.ShardFormat;
import dev.jgpt.data.TokenDataset;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvaluatorTest {
    static final Path ITEMS = Path.of("src/test/resources/hellaswag/hellaswag_val_head10.jsonl");

    /** Scoring the 4 endings as one padded batch must give each item what scoring each ending on its own gives. */
    @Test
    void hellaswagBatchedEqualsOneEndingAtATime() {
        Gpt model = new Gpt(GptConfig.of(2, 2, 32, 256, GptConfig.GPT2_VOCAB));
        model.initialize(5);
        List<HellaSwag.Example> examples = HellaSwag.load(ITEMS);
        model.forward(new int[8 * 128], null, 8, 128); // a bigger batch first: buffers larger than an item
        List<HellaSwag.Prediction> batched = Evaluator.hellaswagPredictions(model, examples);
        assertEquals(10, batched.size());

        int correct = 0, correctNorm = 0;
        for (int i = 0; i < examples.size(); i++) {
            HellaSwag.Rendered r = HellaSwag.render(examples.get(i));
            int w = r.width();
            float[][] losses = new float[HellaSwag.ENDINGS][];
            for (int e = 0; e < HellaSwag.ENDINGS; e++) {
                int n = r.contextTokens().length + r.endingTokens()[e].length; // this row without padding
                int[] in = Arrays.copyOf(r.tokens()[e], n - 1);
                int[] tg = Arrays.copyOfRange(r.tokens()[e], 1, n);
                model.forward(in, tg, 1, n - 1);
                losses[e] = Arrays.copyOf(model.losses(), w);
            }
            HellaSwag.Prediction single = r.predict(losses), got = batched.get(i);
            String item = "item " + i;
            for (int e = 0; e < HellaSwag.ENDINGS; e++) {
                assertEquals(single.sumLoss()[e], got.sumLoss()[e], 1e-5 * single.sumLoss()[e], item + " ending " + e);
                assertEquals(single.meanLoss()[e], got.meanLoss()[e], 1e-5 * single.meanLoss()[e], item + " ending " + e);
            }
            assertEquals(single.predicted(), got.predicted(), item);
            assertEquals(single.predictedNorm(), got.predictedNorm(), item);
            assertEquals(examples.get(i).label(), got.label(), item);
            correct += single.correct() ? 1 : 0;
            correctNorm += single.correctNorm() ? 1 : 0;
        }
        assertEquals(new HellaSwag.Score(10, correct, correctNorm), Evaluator.hellaswag(model, examples));
    }

    /** Items longer than the block size are left out, and the caller is told how many and why. */
    @Test
    void hellaswagSaysHowManyItemsWereTooLong() {
        List<HellaSwag.Example> examples = HellaSwag.load(ITEMS);
        int[] widths = examples.stream().mapToInt(e -> HellaSwag.render(e).width()).sorted().toArray();
        int block = widths[widths.length / 2];
        int tooLong = (int) Arrays.stream(widths).filter(w -> w > block).count();
        assertTrue(tooLong > 0 && tooLong < examples.size(), Arrays.toString(widths));
        Gpt model = new Gpt(GptConfig.of(2, 2, 32, block, GptConfig.GPT2_VOCAB));
        model.initialize(5);
        List<String> notes = new ArrayList<>();
        HellaSwag.Score s = Evaluator.hellaswag(Engine.cpu(model), examples, () -> { }, notes::add);
        assertEquals(examples.size() - tooLong, s.total());
        assertEquals(List.of("HellaSwag: skipped " + tooLong + " of " + examples.size() + " items longer than the model's block_size of "
                + block + " tokens (up to " + widths[widths.length - 1] + "); the score covers the other " + s.total()), notes);

        Gpt roomy = new Gpt(GptConfig.of(2, 2, 32, widths[widths.length - 1], GptConfig.GPT2_VOCAB));
        roomy.initialize(5);
        notes.clear();
        Evaluator.hellaswag(Engine.cpu(roomy), examples, () -> { }, notes::add);
        assertEquals(List.of(), notes);
    }

    /** When no item fits, there is no score: an error naming the block size and the shortest item. */
    @Test
    void hellaswagWithNoItemThatFitsIsAnError() {
        Gpt model = new Gpt(GptConfig.of(2, 2, 32, 16, GptConfig.GPT2_VOCAB));
        model.initialize(5);
        String m = assertThrows(JgptException.class, () -> Evaluator.hellaswag(model, HellaSwag.load(ITEMS))).getMessage();
        assertTrue(m.startsWith("no HellaSwag item fits the model's block_size of 16 tokens: the shortest of the 10 items is"), m);
    }

    /** A model without GPT-2's vocabulary is refused before any item, naming its vocab_size. */
    @Test
    void hellaswagNeedsGpt2sVocabulary() {
        Gpt model = new Gpt(GptConfig.of(2, 2, 32, 256, 1000));
        model.initialize(5);
        String m = assertThrows(JgptException.class, () -> Evaluator.hellaswag(model, HellaSwag.load(ITEMS))).getMessage();
        assertTrue(m.contains("GPT-2's vocabulary") && m.contains("vocab_size is 1000"), m);
    }

    /** More batches than the split holds: each is evaluated once, and the result says how many there were. */
    @Test
    void validationStopsWhereTheSplitEnds(@TempDir Path dir) throws IOException {
        short[] tokens = new short[2000];
        for (int i = 0; i < tokens.length; i++) tokens[i] = (short) (i * 7 % 97);
        ShardFormat.BIN.write(dir.resolve("t_val_000000.bin"), tokens, tokens.length);
        Gpt model = new Gpt(GptConfig.of(2, 2, 32, 16, 97));
        model.initialize(5);
        int B = 2, T = 16, held = (tokens.length - 1) / (B * T); // 62 batches, as DataLoaderLite serves them
        TokenDataset val = new TokenDataset(dir, "val", B, T, 0, 1, TokenDataset.Order.SEQUENTIAL, 0, 97);

        Evaluator.Validation all = Evaluator.validationOnce(Engine.cpu(model), val, 1000, B, T, () -> { });
        assertEquals(held, all.batches());
        assertTrue(all.capped());
        assertEquals(Evaluator.validationLoss(model, val, held, B, T), all.loss(), 1e-9);

        Evaluator.Validation some = Evaluator.validationOnce(Engine.cpu(model), val, 10, B, T, () -> { });
        assertEquals(10, some.batches());
        assertFalse(some.capped());
        assertEquals(Evaluator.validationLoss(model, val, 10, B, T), some.loss(), 1e-9);

        Evaluator.Validation exact = Evaluator.validationOnce(Engine.cpu(model), val, held, B, T, () -> { });
        assertEquals(held, exact.batches());
        assertFalse(exact.capped());
    }
}
