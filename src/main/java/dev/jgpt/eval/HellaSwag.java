package dev.jgpt.eval;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import dev.jgpt.JgptException;
import dev.jgpt.tokenizer.Gpt2Tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * HellaSwag, scored the way build-nanogpt's hellaswag.py and train_gpt2.py score it ("completion
 * style"): the context followed by each of the 4 endings is one row, the model's loss on each
 * ending's tokens ranks them, and the ending with the lowest loss is the prediction.
 *
 * <p>The model is not called from here. The evaluation loop is:
 *
 * <pre>{@code
 * for (HellaSwag.Example example : HellaSwag.load(file, limit)) {
 *     HellaSwag.Rendered r = HellaSwag.render(example);
 *     // forward the model on r.flatTokens() as a (4, r.width()) batch, with cross-entropy
 *     // against r.flatTargets(), giving one loss per position: float[4 * r.width()]
 *     score = score.add(r.predict(losses));
 * }
 * // score.accNorm() is build-nanogpt's HellaSwag accuracy
 * }</pre>
 *
 * GPT-2 124M scores acc 0.2859, acc_norm 0.2955 this way over the 10,042 validation items
 * (build-nanogpt's numbers); chance is 0.25.
 */
public final class HellaSwag {
    /** Every item has four candidate endings. */
    public static final int ENDINGS = 4;

    private HellaSwag() {
    }

    /**
     * One item.
     *
     * @param context the text to continue ({@code ctx})
     * @param endings the four candidate continuations
     * @param label   index of the right ending
     */
    public record Example(String context, List<String> endings, int label) {
        public Example {
            endings = List.copyOf(endings);
            if (endings.size() != ENDINGS) throw new IllegalArgumentException("need 4 endings, got " + endings.size());
            if (label < 0 || label >= ENDINGS) throw new IllegalArgumentException("label " + label);
        }
    }

    /**
     * An item as token rows, as build-nanogpt's render_example makes it: row i is the context's
     * tokens followed by the tokens of {@code " " + ending i}, zero-padded to the longest row;
     * mask is 1 exactly on the ending's tokens.
     *
     * @param contextTokens the context's tokens
     * @param endingTokens  each ending's tokens (with its leading space)
     * @param tokens        4 rows of {@link #width()} tokens
     * @param mask          4 rows of {@link #width()}: 1 on ending tokens, 0 on context and padding
     * @param label         index of the right ending
     */
    public record Rendered(int[] contextTokens, int[][] endingTokens, int[][] tokens, int[][] mask, int label) {

        /** Tokens per row: the longest context + ending. */
        public int width() {
            return tokens[0].length;
        }

        /** The 4 rows one after another: the model's input as a batch of B = 4, T = width(). */
        public int[] flatTokens() {
            int w = width();
            int[] flat = new int[ENDINGS * w];
            for (int r = 0; r < ENDINGS; r++) System.arraycopy(tokens[r], 0, flat, r * w, w);
            return flat;
        }

        /**
         * The target of each position in {@link #flatTokens()}: the row's next token. The last
         * position of a row has no next token; its target is 0 and its loss is never read.
         */
        public int[] flatTargets() {
            int w = width();
            int[] flat = new int[ENDINGS * w];
            for (int r = 0; r < ENDINGS; r++) System.arraycopy(tokens[r], 1, flat, r * w, w - 1);
            return flat;
        }

        /**
         * Scores the item from the model's per-position losses over {@link #flatTokens()}:
         * {@code losses[r * width() + t]} is the cross-entropy of predicting {@code tokens[r][t + 1]}
         * from {@code tokens[r][0..t]} (that is, against {@link #flatTargets()}).
         */
        public Prediction predict(float[] losses) {
            int w = width();
            if (losses.length != ENDINGS * w) {
                throw new IllegalArgumentException("need 4 x " + w + " = " + ENDINGS * w + " losses, got " + losses.length);
            }
            float[][] rows = new float[ENDINGS][];
            for (int r = 0; r < ENDINGS; r++) rows[r] = Arrays.copyOfRange(losses, r * w, (r + 1) * w);
            return predict(rows);
        }

        /**
         * Scores the item from per-position losses, one row per ending: {@code losses[r][t]} is the
         * cross-entropy of predicting {@code tokens[r][t + 1]}; each row needs at least width() - 1
         * positions (build-nanogpt's shift_losses).
         */
        public Prediction predict(float[][] losses) {
            int w = width();
            if (losses.length != ENDINGS) throw new IllegalArgumentException("need 4 rows of losses, got " + losses.length);
            double[] sum = new double[ENDINGS];
            double[] mean = new double[ENDINGS];
            for (int r = 0; r < ENDINGS; r++) {
                if (losses[r].length < w - 1) {
                    throw new IllegalArgumentException("row " + r + " needs " + (w - 1) + " losses, got " + losses[r].length);
                }
                // Position t predicts token t+1, so the mask shifts left by one: the loss at the
                // context's last token scores the ending's first token.
                int count = 0;
                for (int t = 0; t < w - 1; t++) {
                    if (mask[r][t + 1] == 1) {
                        sum[r] += losses[r][t];
                        count++;
                    }
                }
                mean[r] = sum[r] / count;
            }
            return new Prediction(sum, mean, argmin(sum), argmin(mean), label);
        }
    }

    /**
     * The scores of one item.
     *
     * @param sumLoss       total loss of each ending's tokens
     * @param meanLoss      mean loss per token of each ending
     * @param predicted     ending with the lowest total loss (counts toward acc)
     * @param predictedNorm ending with the lowest mean loss (counts toward acc_norm, the number
     *                      build-nanogpt's training loop reports)
     * @param label         the right ending
     */
    public record Prediction(double[] sumLoss, double[] meanLoss, int predicted, int predictedNorm, int label) {
        public boolean correct() {
            return predicted == label;
        }

        public boolean correctNorm() {
            return predictedNorm == label;
        }
    }

    /** Running totals over items; {@link #plus} combines the totals of several processes. */
    public record Score(int total, int correct, int correctNorm) {
        public static final Score ZERO = new Score(0, 0, 0);

        public Score add(Prediction p) {
            return new Score(total + 1, correct + (p.correct() ? 1 : 0), correctNorm + (p.correctNorm() ? 1 : 0));
        }

        public Score plus(Score other) {
            return new Score(total + other.total, correct + other.correct, correctNorm + other.correctNorm);
        }

        /** Fraction right by total loss. */
        public double acc() {
            return (double) correct / total;
        }

        /** Fraction right by mean loss per token: build-nanogpt's HellaSwag accuracy. */
        public double accNorm() {
            return (double) correctNorm / total;
        }
    }

    /** Renders an item with the GPT-2 tokenizer. */
    public static Rendered render(Example example) {
        Gpt2Tokenizer tokenizer = Gpt2Tokenizer.get();
        return render(example, tokenizer::encode);
    }

    /** Renders an item with the given text-to-tokens function. */
    public static Rendered render(Example example, Function<String, int[]> encode) {
        int[] ctx = encode.apply(example.context());
        int[][] endingTokens = new int[ENDINGS][];
        int width = 0;
        for (int i = 0; i < ENDINGS; i++) {
            // The leading space makes the ending's first word the token GPT-2 sees mid-sentence.
            endingTokens[i] = encode.apply(" " + example.endings().get(i));
            width = Math.max(width, ctx.length + endingTokens[i].length);
        }
        int[][] tokens = new int[ENDINGS][width];
        int[][] mask = new int[ENDINGS][width];
        for (int i = 0; i < ENDINGS; i++) {
            System.arraycopy(ctx, 0, tokens[i], 0, ctx.length);
            System.arraycopy(endingTokens[i], 0, tokens[i], ctx.length, endingTokens[i].length);
            Arrays.fill(mask[i], ctx.length, ctx.length + endingTokens[i].length, 1);
        }
        return new Rendered(ctx, endingTokens, tokens, mask, example.label());
    }

    /**
     * Why a training run evaluates no HellaSwag although {@code every} asks for it, or null when it does:
     * no file set, or the file set is not there (a run goes on without HellaSwag rather than stop: the
     * file is a separate download). A file that is there but unreadable is an error of {@link #load}.
     */
    public static String offInTraining(int every, Path file) {
        if (every <= 0) return null;
        if (file == null) return "HellaSwag is off: set eval.hellaswag_file to a HellaSwag JSONL file";
        if (!Files.exists(file)) {
            return "HellaSwag is off: eval.hellaswag_file " + file + " does not exist (jgpt download hellaswag puts it in "
                    + "data/hellaswag/hellaswag_val.jsonl); training goes on without it";
        }
        return null;
    }

    /** The items a training run evaluates: none when {@link #offInTraining} says why, else the first {@code limit}. */
    public static List<Example> forTraining(int every, Path file, int limit) {
        return every > 0 && offInTraining(every, file) == null ? load(file, limit) : List.of();
    }

    /** Every item of a HellaSwag JSONL file. */
    public static List<Example> load(Path file) {
        return load(file, 0);
    }

    /**
     * The first {@code limit} items (all when 0) of a HellaSwag JSONL file: the rowanz/hellaswag
     * format (ctx or ctx_a + ctx_b, endings, label as a number or, as in the HuggingFace copy, text).
     */
    public static List<Example> load(Path file, int limit) {
        List<Example> examples = new ArrayList<>();
        refuseCompressed(file);
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            int lineNumber = 0;
            for (String line; (limit == 0 || examples.size() < limit) && (line = in.readLine()) != null; ) {
                lineNumber++;
                if (line.isBlank()) continue;
                try {
                    examples.add(parse(line));
                } catch (IllegalArgumentException e) {
                    throw new JgptException(file + ":" + lineNumber + ": " + e.getMessage());
                }
            }
        } catch (NoSuchFileException e) {
            throw new JgptException(file + ": HellaSwag file not found (the validation set is data/hellaswag_val.jsonl"
                    + " in github.com/rowanz/hellaswag)");
        } catch (CharacterCodingException e) {
            throw new JgptException(file + notUtf8(file), e);
        } catch (IOException e) {
            throw new JgptException(file + ": cannot read HellaSwag file (" + JgptException.reason(e) + ")", e);
        }
        if (examples.isEmpty()) throw new JgptException(file + ": no HellaSwag items in the file");
        return examples;
    }

    /**
     * The compressed downloads (rowanz/hellaswag's files are plain, but copies circulate as .gz and
     * .bz2) start with a magic number, not JSON: say that, rather than "not UTF-8" or "not valid JSON".
     */
    private static void refuseCompressed(Path file) {
        byte[] head = new byte[3];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            return; // the reader below reports it
        }
        String kind = n >= 2 && head[0] == 0x1f && head[1] == (byte) 0x8b ? "gzip"
                : n >= 3 && head[0] == 'B' && head[1] == 'Z' && head[2] == 'h' ? "bzip2" : null;
        if (kind != null) {
            throw new JgptException(file + ": a " + kind + "-compressed file; jgpt reads HellaSwag as plain UTF-8 JSON lines: "
                    + "decompress it first (" + (kind.equals("gzip") ? "gunzip" : "bunzip2") + ")");
        }
    }

    /**
     * Where the first byte that is not UTF-8 is, as {@code ":LINE: not UTF-8 text (...)"}: the reader
     * decodes ahead of the line it returns, so its line count cannot say.
     */
    private static String notUtf8(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            return ": not UTF-8 text (a HellaSwag file is JSON lines)";
        }
        ByteBuffer in = ByteBuffer.wrap(bytes);
        StandardCharsets.UTF_8.newDecoder().decode(in, CharBuffer.allocate(bytes.length), true);
        int at = in.position(), line = 1;
        for (int i = 0; i < at; i++) if (bytes[i] == '\n') line++;
        String where = at < bytes.length ? "byte 0x" + String.format("%02X", bytes[at] & 0xff) + " at offset " + at : "at its end";
        return ":" + line + ": not UTF-8 text (" + where + "); a HellaSwag file is UTF-8 JSON lines";
    }

    private static Example parse(String line) {
        JsonElement root;
        try {
            root = JsonParser.parseString(line);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("not valid JSON");
        }
        if (!root.isJsonObject()) throw new IllegalArgumentException("not a JSON object");
        JsonObject o = root.getAsJsonObject();

        String context = text(o, "ctx");
        if (context == null) {
            // "If ctx_b is nonempty, then ctx is the same thing as ctx_a, followed by a space, then ctx_b."
            String a = text(o, "ctx_a");
            String b = text(o, "ctx_b");
            if (a == null) throw new IllegalArgumentException("no \"ctx\" (or \"ctx_a\") text");
            context = b == null || b.isEmpty() ? a : a + " " + b;
        }
        // An empty context leaves the ending's first token unscored (nothing predicts it), and the
        // loss ranks endings by what follows the context: without one there is nothing to rank.
        if (context.isBlank()) throw new IllegalArgumentException("the context (\"ctx\") is empty");

        if (!(o.get("endings") instanceof JsonArray endingsJson) || endingsJson.size() != ENDINGS) {
            throw new IllegalArgumentException("\"endings\" must be a list of 4 texts");
        }
        List<String> endings = new ArrayList<>(ENDINGS);
        for (JsonElement e : endingsJson) {
            if (!(e instanceof JsonPrimitive p) || !p.isString()) {
                throw new IllegalArgumentException("\"endings\" must be a list of 4 texts");
            }
            // An empty ending renders as the lone space every other empty ending renders as: equal
            // losses, so the first one "wins" and a file of them scores whatever its labels say.
            if (p.getAsString().isBlank()) {
                throw new IllegalArgumentException("ending " + endings.size() + " of \"endings\" is empty");
            }
            endings.add(p.getAsString());
        }

        JsonElement labelJson = o.get("label");
        if (labelJson == null || labelJson.isJsonNull()
                || labelJson instanceof JsonPrimitive p && p.isString() && p.getAsString().isBlank()) {
            throw new IllegalArgumentException("no \"label\" (the test split is unlabeled; use the validation split)");
        }
        int label = -1;
        if (labelJson instanceof JsonPrimitive p && (p.isNumber() || p.isString())) {
            try {
                label = new BigDecimal(p.getAsString().trim()).intValueExact();
            } catch (NumberFormatException | ArithmeticException e) {
                // reported below
            }
        }
        if (label < 0 || label >= ENDINGS) {
            throw new IllegalArgumentException("\"label\" must be 0, 1, 2 or 3, not " + labelJson);
        }
        return new Example(context, endings, label);
    }

    private static String text(JsonObject o, String key) {
        return o.get(key) instanceof JsonPrimitive p && p.isString() ? p.getAsString() : null;
    }

    private static int argmin(double[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] < values[best]) best = i; // ties keep the first, as torch.argmin
        }
        return best;
    }
}
