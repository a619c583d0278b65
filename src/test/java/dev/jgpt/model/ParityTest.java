package dev.jgpt.model;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.bench.DebugStep;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * debug-step against the PyTorch reference (tools/reference/make_fixtures.py, float64). Tolerances,
 * relative: loss and the 10 AdamW-step losses 1e-5, logits 1e-5 of the row's largest magnitude,
 * gradient norms 1e-4. jgpt computes in float32, so these bound float32 rounding, not luck.
 * {@code long} runs 150 queries through attention (three query blocks); {@code accum} accumulates
 * two micro-batches of 2 rows, and must give the same numbers as its 4 rows in one batch.
 */
class ParityTest {
    static final Path FIXTURES = Path.of("src/test/resources/fixtures");

    @ParameterizedTest(name = "{0} from {1}")
    @CsvSource({
            "tiny, hf", "tiny, model.bin",
            "odd_heads, hf", "odd_heads, model.bin",
            "wider, hf", "wider, model.bin",
            "vocab128, hf", "vocab128, model.bin",
            "long, hf", "long, model.bin",
            "accum, hf", "accum, model.bin",
    })
    void debugStepMatchesPyTorch(String fixture, String weights) throws Exception {
        Path dir = FIXTURES.resolve(fixture);
        JsonObject expected = new Gson().fromJson(Files.readString(dir.resolve("expected.json")), JsonObject.class);
        JsonObject settings = expected.getAsJsonObject("settings");
        int microBatches = settings.has("micro_batches") ? settings.get("micro_batches").getAsInt() : 1;
        check(fixture, weights, microBatches);
    }

    /** The accumulation fixture's 4 rows in one batch: the same loss, gradients and steps as its two micro-batches. */
    @org.junit.jupiter.api.Test
    void oneBatchEqualsTheAccumulatedMicroBatches() throws Exception {
        check("accum", "hf", 1);
    }

    static void check(String fixture, String weights, int microBatches) throws Exception {
        Path dir = FIXTURES.resolve(fixture);
        JsonObject expected = new Gson().fromJson(Files.readString(dir.resolve("expected.json")), JsonObject.class);
        Gpt model = ModelFiles.load(dir.resolve(weights));
        DebugStep.Result r = DebugStep.run(model, DebugStep.Batch.read(dir.resolve("batch.json")),
                DebugStep.Settings.defaults().withMicroBatches(microBatches));

        assertClose("loss", expected.get("loss").getAsDouble(), r.loss(), 1e-5);
        double[][] logits = new Gson().fromJson(expected.get("logits_row0"), double[][].class);
        assertEquals(logits.length, r.logitsRow0().length);
        double maxLogitErr = 0, maxLogit = 0;
        for (int t = 0; t < logits.length; t++) {
            assertEquals(logits[t].length, r.logitsRow0()[t].length);
            for (int v = 0; v < logits[t].length; v++) {
                maxLogit = Math.max(maxLogit, Math.abs(logits[t][v]));
                maxLogitErr = Math.max(maxLogitErr, Math.abs(logits[t][v] - r.logitsRow0()[t][v]));
            }
        }
        assertTrue(maxLogitErr <= 1e-5 * maxLogit, "logits: max error " + maxLogitErr + " vs max |logit| " + maxLogit);

        Map<String, Double> norms = new Gson().fromJson(expected.get("grad_norms"), new com.google.gson.reflect.TypeToken<Map<String, Double>>() {}.getType());
        assertEquals(norms.keySet(), r.gradNorms().keySet());
        for (var e : norms.entrySet()) assertClose("grad norm " + e.getKey(), e.getValue(), r.gradNorms().get(e.getKey()), 1e-4);
        assertClose("grad_norm", expected.get("grad_norm").getAsDouble(), r.gradNorm(), 1e-4);

        double[] losses = new Gson().fromJson(expected.get("losses"), double[].class);
        for (int i = 0; i < losses.length; i++) assertClose("losses[" + i + "]", losses[i], r.losses()[i], 1e-5);
    }

    static void assertClose(String what, double expected, double actual, double rel) {
        double err = Math.abs(expected - actual) / Math.max(Math.abs(expected), 1e-12);
        assertTrue(err <= rel, what + ": expected " + expected + ", got " + actual + " (relative error " + err + ")");
    }
}
