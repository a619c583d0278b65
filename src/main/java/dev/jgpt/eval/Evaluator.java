package dev.jgpt.eval;

import dev.jgpt.JgptException;
import dev.jgpt.data.TokenDataset;
import dev.jgpt.generate.Generator;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.Decoder;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.Inference;
import dev.jgpt.tokenizer.Gpt2Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/** What a run measures besides its training loss: validation loss, HellaSwag, samples. */
public final class Evaluator {
    private Evaluator() {
    }

    /** Mean loss over {@code steps} batches of B×T from the start of {@code val} (reset first). */
    public static double validationLoss(Gpt model, TokenDataset val, int steps, int B, int T) {
        return validationLoss(model, val, steps, B, T, () -> { });
    }

    /** As above, calling {@code afterBatch} after each batch (progress). */
    public static double validationLoss(Gpt model, TokenDataset val, int steps, int B, int T, Runnable afterBatch) {
        return validationLoss(Engine.cpu(model), val, steps, B, T, afterBatch);
    }

    /** As above, on any engine. */
    public static double validationLoss(Engine model, TokenDataset val, int steps, int B, int T, Runnable afterBatch) {
        val.reset();
        int[] inputs = new int[B * T], targets = new int[B * T];
        double sum = 0;
        for (int i = 0; i < steps; i++) {
            val.nextBatch(inputs, targets);
            sum += model.forward(inputs, targets, B, T);
            afterBatch.run();
        }
        return sum / steps;
    }

    /**
     * A validation loss and the batches it averages.
     *
     * @param loss    mean loss over the batches
     * @param batches batches evaluated: the asked-for number, or fewer when the split ran out first
     * @param capped  whether the split held fewer batches than asked for
     */
    public record Validation(double loss, int batches, boolean capped) {
    }

    /**
     * Mean loss over up to {@code steps} batches of B×T from the start of {@code val} (reset first),
     * stopping where the split ends rather than wrapping around to its start: as llm.c caps
     * val_num_batches by what the val shard holds, so no batch is counted twice.
     */
    public static Validation validationOnce(Engine model, TokenDataset val, int steps, int B, int T, Runnable afterBatch) {
        val.reset();
        long epoch = val.state().epoch();
        int[] inputs = new int[B * T], targets = new int[B * T];
        double sum = 0;
        int done = 0;
        while (done < steps) {
            val.nextBatch(inputs, targets);
            sum += model.forward(inputs, targets, B, T);
            done++;
            afterBatch.run();
            if (val.state().epoch() != epoch) break; // that was the split's last batch; the next is its first again
        }
        return new Validation(sum / done, done, done < steps);
    }

    /**
     * build-nanogpt's completion-style HellaSwag: per item, the 4 (context + ending) rows as one batch,
     * ranked by the loss on the ending tokens. Items longer than the model's context are skipped; when
     * that leaves none, there is no score to give (acc would be 0/0).
     */
    public static HellaSwag.Score hellaswag(Gpt model, List<HellaSwag.Example> examples) {
        return hellaswag(model, examples, () -> { });
    }

    /** As above, calling {@code afterItem} after each item, scored or skipped (progress). */
    public static HellaSwag.Score hellaswag(Gpt model, List<HellaSwag.Example> examples, Runnable afterItem) {
        return hellaswag(Engine.cpu(model), examples, afterItem);
    }

    /** As above, on any engine. */
    public static HellaSwag.Score hellaswag(Engine model, List<HellaSwag.Example> examples, Runnable afterItem) {
        return hellaswag(model, examples, afterItem, note -> { });
    }

    /**
     * As above, handing {@code note} one line when items were skipped for their length (how many, and
     * the block size), so the score's total is never smaller than the items asked for without a word.
     */
    public static HellaSwag.Score hellaswag(Engine model, List<HellaSwag.Example> examples, Runnable afterItem,
                                            Consumer<String> note) {
        HellaSwag.Score score = HellaSwag.Score.ZERO;
        for (HellaSwag.Prediction p : hellaswagPredictions(model, examples, afterItem, note)) score = score.add(p);
        return score;
    }

    /** The prediction for each item {@link #hellaswag} scores, in order (items too long are left out). */
    public static List<HellaSwag.Prediction> hellaswagPredictions(Gpt model, List<HellaSwag.Example> examples) {
        return hellaswagPredictions(Engine.cpu(model), examples, () -> { }, note -> { });
    }

    /**
     * Refuses a model whose vocabulary cannot take GPT-2's token ids: HellaSwag is tokenized with GPT-2's
     * tokenizer, so such a model would fail on some id deep into the file, naming no item.
     */
    public static void requireGpt2Vocabulary(GptConfig config) {
        if (config.vocabSize() < Gpt2Tokenizer.VOCAB_SIZE) {
            throw new JgptException("HellaSwag is tokenized with GPT-2's tokenizer (ids up to " + (Gpt2Tokenizer.VOCAB_SIZE - 1)
                    + "), which needs a model with GPT-2's vocabulary; this model's vocab_size is " + config.vocabSize());
        }
    }

    private static List<HellaSwag.Prediction> hellaswagPredictions(Engine model, List<HellaSwag.Example> examples, Runnable afterItem,
                                                                   Consumer<String> note) {
        requireGpt2Vocabulary(model.config());
        int blockSize = model.config().blockSize();
        List<HellaSwag.Prediction> predictions = new ArrayList<>();
        int shortest = Integer.MAX_VALUE, skipped = 0, longest = 0;
        for (HellaSwag.Example ex : examples) {
            HellaSwag.Rendered r = HellaSwag.render(ex);
            int width = r.width();
            shortest = Math.min(shortest, width);
            if (width > blockSize) {
                skipped++;
                longest = Math.max(longest, width);
                afterItem.run();
                continue;
            }
            model.forward(r.flatTokens(), r.flatTargets(), HellaSwag.ENDINGS, width);
            predictions.add(r.predict(model.losses(HellaSwag.ENDINGS * width)));
            afterItem.run();
        }
        if (predictions.isEmpty()) {
            throw new JgptException("no HellaSwag item fits the model's block_size of " + blockSize
                    + " tokens: the shortest of the " + examples.size() + " items is " + shortest + " tokens");
        }
        if (skipped > 0) {
            note.accept("HellaSwag: skipped " + skipped + " of " + examples.size() + " items longer than the model's block_size of "
                    + blockSize + " tokens (up to " + longest + "); the score covers the other " + predictions.size());
        }
        return predictions;
    }

    /**
     * {@code count} samples continuing {@code prompt}, each {@code maxTokens} tokens long including
     * the prompt (build-nanogpt's max_length), top-k sampling at temperature 1, sample i seeded with
     * seed + i so a round is reproducible. The samples are decoded together (each gets the tokens it
     * would get alone).
     */
    public static List<String> samples(Decoder decoder, String prompt, int count, int maxTokens, int topK, long seed) {
        return samples(decoder, prompt, count, maxTokens, topK, seed, tokens -> { });
    }

    /**
     * As above, handing {@code progress} the samples' tokens so far, prompts included (count x maxTokens
     * at the end), after each decoding step (progress).
     */
    public static List<String> samples(Decoder decoder, String prompt, int count, int maxTokens, int topK, long seed,
                                       LongConsumer progress) {
        Gpt2Tokenizer tok = Gpt2Tokenizer.get();
        int[] promptTokens = tok.encode(prompt);
        int V = decoder.config().vocabSize();
        int limit = Math.min(maxTokens, decoder.config().blockSize());
        // build-nanogpt samples to max_length whatever comes: <|endoftext|> is a token like any other
        Generator.Limits limits = new Generator.Limits(Math.max(0, limit - promptTokens.length), List.of(), false);
        Generator generator = new Generator(decoder, Math.clamp(count, 1, Inference.CHUNK));
        List<Generator.Sequence> sequences = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            sequences.add(generator.add(promptTokens, limits, new Sampler(V, 1.0f, topK, 1.0f, seed + i), null));
        }
        while (generator.busy()) {
            generator.step();
            long done = (long) count * promptTokens.length;
            for (Generator.Sequence s : sequences) done += s.generated();
            progress.accept(done);
        }
        List<String> out = new ArrayList<>();
        for (Generator.Sequence s : sequences) {
            if (s.finish() == Generator.Finish.ERROR) throw s.error();
            int[] tokens = s.tokens();
            int[] all = java.util.Arrays.copyOf(promptTokens, promptTokens.length + tokens.length);
            System.arraycopy(tokens, 0, all, promptTokens.length, tokens.length);
            out.add(tok.decode(all));
        }
        return out;
    }
}
