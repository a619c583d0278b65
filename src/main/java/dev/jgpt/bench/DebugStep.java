package dev.jgpt.bench;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.JsonParseException;
import dev.jgpt.JgptException;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.tensor.View;
import dev.jgpt.train.Optimizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The parity harness anyone can run against PyTorch: on one batch, the loss and logits at the loaded
 * weights, every tensor's gradient norm, then the losses of N AdamW steps on that same batch (the
 * same thing llm.c's test_gpt2 checks). With K micro-batches the batch's rows are cut into K equal
 * parts whose gradients accumulate, each part's mean loss scaled by 1/K, as training accumulates them.
 */
public final class DebugStep {

    public record Settings(int steps, float lr, float weightDecay, float clip, float beta1, float beta2, float eps,
                           int microBatches) {
        public static Settings defaults() {
            return new Settings(10, 1e-3f, 0.1f, 1.0f, 0.9f, 0.95f, 1e-8f, 1);
        }

        public Settings withMicroBatches(int k) {
            return new Settings(steps, lr, weightDecay, clip, beta1, beta2, eps, k);
        }

        /** An AdamW for {@code model} with these hyperparameters. */
        public Optimizer optimizer(Gpt model) {
            return new Optimizer(model, weightDecay, beta1, beta2, eps);
        }
    }

    /** B rows of T token ids and their targets (-1 = ignored). */
    public record Batch(int B, int T, int[] inputs, int[] targets) {
        public static Batch read(Path file) throws IOException {
            if (Files.isDirectory(file)) throw new JgptException(file + ": is a directory, not a batch file");
            if (!Files.isRegularFile(file)) throw new JgptException(file + ": no such file");
            JsonElement json;
            try {
                json = new Gson().fromJson(Files.readString(file), JsonElement.class);
            } catch (JsonParseException e) {
                throw new JgptException(file + ": not valid JSON: " + JgptException.jsonReason(e));
            }
            // a list or a bare value is valid JSON, just not a batch: say what a batch is
            if (!(json instanceof JsonObject o) || !o.has("inputs") || !o.has("targets")) {
                throw new JgptException(file + ": expected an object with \"inputs\" and \"targets\" (B rows of T ids each)");
            }
            int[][] in = rows(file, o, "inputs", 0), tg = rows(file, o, "targets", -1);
            if (in.length == 0 || in.length != tg.length) {
                throw new JgptException(file + ": \"inputs\" has " + in.length + " rows and \"targets\" " + tg.length
                        + "; they must match and be non-empty");
            }
            int T = in[0].length;
            int[] inputs = new int[in.length * T], targets = new int[in.length * T];
            for (int b = 0; b < in.length; b++) {
                if (in[b].length != T || tg[b].length != T) {
                    throw new JgptException(file + ": row " + b + " has " + in[b].length + " inputs and " + tg[b].length
                            + " targets; every row must have " + T);
                }
                System.arraycopy(in[b], 0, inputs, b * T, T);
                System.arraycopy(tg[b], 0, targets, b * T, T);
            }
            return new Batch(in.length, T, inputs, targets);
        }

        /**
         * The rows of one key, each id read exactly as written: Gson's int mapping would narrow
         * 4294967301 to 5 and truncate 2.5 to 2, giving a loss for a batch nobody wrote. Ids below
         * {@code min} are refused (targets may be -1, the ignored position both engines skip).
         */
        private static int[][] rows(Path file, JsonObject o, String key, int min) {
            if (!(o.get(key) instanceof JsonArray rows)) {
                throw new JgptException(file + ": \"" + key + "\" must be a list of rows, each a list of integer ids");
            }
            int[][] out = new int[rows.size()][];
            for (int r = 0; r < rows.size(); r++) {
                if (!(rows.get(r) instanceof JsonArray row)) {
                    throw new JgptException(file + ": \"" + key + "\" row " + r + " is not a list of ids: " + rows.get(r));
                }
                if (row.isEmpty()) throw new JgptException(file + ": \"" + key + "\" row " + r + " is empty");
                out[r] = new int[row.size()];
                for (int c = 0; c < row.size(); c++) {
                    String where = file + ": \"" + key + "\" row " + r + " column " + c + ": ";
                    JsonElement e = row.get(c);
                    // a number's text as written (Gson keeps it), so 2.0, 1e3 and 2.5 are all refused
                    String text = e instanceof JsonPrimitive p && p.isNumber() ? p.getAsString() : null;
                    if (text == null || !text.matches("-?[0-9]+")) {
                        throw new JgptException(where + e + " is not an integer token id");
                    }
                    long id;
                    try {
                        id = Long.parseLong(text);
                    } catch (NumberFormatException x) {
                        id = Long.MAX_VALUE; // more digits than a long: out of range below
                    }
                    if (id < min || id > Integer.MAX_VALUE) {
                        throw new JgptException(where + text + " is not a token id (ids are 0 or more"
                                + (min < 0 ? ", or -1 to ignore the position)" : ")"));
                    }
                    out[r][c] = (int) id;
                }
            }
            return out;
        }

        /**
         * Refuses what the model cannot take, naming the file, row and column: an id outside its
         * vocabulary, or rows longer than its block size.
         */
        public void check(Path file, GptConfig config) {
            if (T > config.blockSize()) {
                throw new JgptException(file + ": rows of " + T + " ids exceed the model's block_size " + config.blockSize());
            }
            int V = config.vocabSize();
            for (int i = 0; i < B * T; i++) {
                for (int k = 0; k < 2; k++) {
                    int id = k == 0 ? inputs[i] : targets[i];
                    if (id >= V) {
                        throw new JgptException(file + ": \"" + (k == 0 ? "inputs" : "targets") + "\" row " + i / T + " column " + i % T
                                + ": id " + id + " is outside the model's vocabulary [0, " + V + ")");
                    }
                }
            }
        }
    }

    public record Result(float loss, float[][] logitsRow0, Map<String, Double> gradNorms, double gradNorm, float[] losses) {
    }

    /** The parity step on the CPU: {@code model}, updated by an AdamW with the settings' hyperparameters. */
    public static Result run(Gpt model, Batch batch, Settings s) {
        return run(Engine.cpu(model, s.optimizer(model)::step), batch, s);
    }

    /** The parity step on any engine, its AdamW made with the settings' hyperparameters ({@link Settings#optimizer}). */
    public static Result run(Engine model, Batch batch, Settings s) {
        int K = s.microBatches();
        if (K < 1 || batch.B() % K != 0) {
            throw new JgptException("micro-batches: " + K + " does not divide the batch's " + batch.B() + " rows");
        }
        float[][] row0 = new float[batch.T()][model.config().vocabSize()];
        model.zeroGrad();
        float loss = forwardBackward(model, batch, K, row0);
        Map<String, Double> norms = new LinkedHashMap<>();
        for (View v : model.layout().layout.views()) norms.put(v.name(), model.gradNorm(v));
        double gradNorm = model.gradNorm();

        float[] losses = new float[s.steps()];
        model.zeroGrad(); // the norms above left a gradient behind; each AdamW step zeroes its own
        for (int i = 0; i < s.steps(); i++) {
            losses[i] = forwardBackward(model, batch, K, null);
            model.step(s.lr(), s.clip());
        }
        return new Result(loss, row0, norms, gradNorm, losses);
    }

    /**
     * The batch as K micro-batches of B/K rows: each one's gradient accumulated with scale 1/K, the
     * mean of their losses returned. Copies row 0's logits (of the first micro-batch) into
     * {@code logitsRow0} when given.
     */
    private static float forwardBackward(Engine model, Batch batch, int K, float[][] logitsRow0) {
        int rows = batch.B() / K, T = batch.T(), n = rows * T;
        double loss = 0;
        for (int k = 0; k < K; k++) {
            int[] inputs = Arrays.copyOfRange(batch.inputs(), k * n, (k + 1) * n);
            int[] targets = Arrays.copyOfRange(batch.targets(), k * n, (k + 1) * n);
            loss += model.forward(inputs, targets, rows, T) / K;
            if (k == 0 && logitsRow0 != null) {
                float[] logits = model.logits(0, T);
                int V = model.config().vocabSize(), Vp = model.config().paddedVocabSize();
                for (int t = 0; t < T; t++) System.arraycopy(logits, t * Vp, logitsRow0[t], 0, V);
            }
            model.backward(1f / K);
        }
        return (float) loss;
    }
}
