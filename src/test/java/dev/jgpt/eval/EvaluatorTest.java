package dev.jgpt.eval;

import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
