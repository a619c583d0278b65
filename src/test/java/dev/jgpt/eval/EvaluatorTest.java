package dev.jgpt.eval;

import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvaluatorTest {
    static final Path ITEMS = Path.of("src/test/resources/hellaswag/hellaswag_val_head10.jsonl");

    /** Scoring the 4 endings as one padded batch must pick what scoring each ending on its own picks. */
    @Test
    void hellaswagBatchedEqualsOneEndingAtATime() {
        Gpt model = new Gpt(GptConfig.of(2, 2, 32, 256, GptConfig.GPT2_VOCAB));
        model.initialize(5);
        List<HellaSwag.Example> examples = HellaSwag.load(ITEMS);
        model.forward(new int[8 * 128], null, 8, 128); // a bigger batch first: buffers larger than an item
        HellaSwag.Score batched = Evaluator.hellaswag(model, examples);
        assertEquals(10, batched.total());

        HellaSwag.Score single = HellaSwag.Score.ZERO;
        for (HellaSwag.Example ex : examples) {
            HellaSwag.Rendered r = HellaSwag.render(ex);
            int w = r.width();
            float[][] losses = new float[HellaSwag.ENDINGS][];
            for (int e = 0; e < HellaSwag.ENDINGS; e++) {
                int n = r.contextTokens().length + r.endingTokens()[e].length; // this row without padding
                int[] in = java.util.Arrays.copyOf(r.tokens()[e], n - 1);
                int[] tg = java.util.Arrays.copyOfRange(r.tokens()[e], 1, n);
                model.forward(in, tg, 1, n - 1);
                losses[e] = java.util.Arrays.copyOf(model.losses(), w);
            }
            single = single.add(r.predict(losses));
        }
        assertEquals(single.correct(), batched.correct());
        assertEquals(single.correctNorm(), batched.correctNorm());
        assertTrue(batched.acc() >= 0 && batched.acc() <= 1);
    }
}
