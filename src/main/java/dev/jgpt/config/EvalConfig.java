package dev.jgpt.config;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What the run measures and keeps along the way: validation loss, HellaSwag, text samples and
 * checkpoints. Defaults are build-nanogpt's: every 250 steps, 20 validation batches, 4 samples of
 * 32 tokens from "Hello, I'm a language model," with top-k 50. Intervals of 0 turn a job off.
 * Validation and HellaSwag also run at step 0, samples and checkpoints do not, and all of them run
 * at the last step (the training loop's cadence, in {@code Trainer}, says exactly when).
 *
 * @param valEvery        steps between validation-loss evaluations; 0 = never
 * @param valSteps        validation micro-batches (B x T each) averaged per evaluation
 * @param hellaswagEvery  steps between HellaSwag evaluations; 0 = never
 * @param hellaswagFile   HellaSwag validation JSONL (rowanz/hellaswag data/hellaswag_val.jsonl); null
 *                        when not configured
 * @param hellaswagLimit  evaluate only the first this-many items; 0 = all 10,042
 * @param sampleEvery     steps between text samples; 0 = never
 * @param numSamples      samples drawn each time
 * @param sampleMaxTokens length of each sample in tokens, prompt included (build-nanogpt's max_length)
 * @param samplePrompt    text every sample continues
 * @param topK            sample from the k most likely tokens; 0 = from all of them
 * @param sampleSeed      seed of the sampling generator, reset before each round of samples
 * @param checkpointEvery steps between checkpoints; 0 = only at the end
 * @param keepLast        checkpoints kept on disk, oldest deleted first; 0 = keep all
 */
public record EvalConfig(int valEvery, int valSteps, int hellaswagEvery, Path hellaswagFile, int hellaswagLimit,
                         int sampleEvery, int numSamples, int sampleMaxTokens, String samplePrompt, int topK,
                         long sampleSeed, int checkpointEvery, int keepLast) {

    public static final String NANOGPT_PROMPT = "Hello, I'm a language model,";

    static final Section<EvalConfig> SECTION = new Section<>("eval", EvalConfig.class, List.of(
            Key.integer("val_every", 250).check(v -> v >= 0, ">= 0 (0 = never)"),
            Key.integer("val_steps", 20).check(v -> v >= 1, ">= 1"),
            Key.integer("hellaswag_every", 250).check(v -> v >= 0, ">= 0 (0 = never)"),
            Key.path("hellaswag_file", null),
            Key.integer("hellaswag_limit", 0).check(v -> v >= 0, ">= 0 (0 = all items)"),
            Key.integer("sample_every", 250).check(v -> v >= 0, ">= 0 (0 = never)"),
            Key.integer("num_samples", 4).check(v -> v >= 1, ">= 1"),
            Key.integer("sample_max_tokens", 32).check(v -> v >= 1, ">= 1"),
            Key.text("sample_prompt", NANOGPT_PROMPT).check(v -> !v.isEmpty(), "non-empty text"),
            Key.integer("top_k", 50).check(v -> v >= 0, ">= 0 (0 = no top-k cut)"),
            Key.longInteger("sample_seed", 42),
            Key.integer("checkpoint_every", 5000).check(v -> v >= 0, ">= 0 (0 = only at the end)"),
            Key.integer("keep_last", 0).check(v -> v >= 0, ">= 0 (0 = keep all)")));

    public static EvalConfig defaults() {
        return SECTION.defaults();
    }

    static EvalConfig from(Map<String, Object> tree, ConfigSource source) {
        return SECTION.read(SECTION.open(tree, source));
    }
}
