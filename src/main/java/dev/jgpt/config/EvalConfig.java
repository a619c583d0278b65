package dev.jgpt.config;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the run measures and keeps along the way: validation loss, HellaSwag, text samples and
 * checkpoints. Defaults are build-nanogpt's: every 250 steps, 20 validation batches, 4 samples of
 * 32 tokens from "Hello, I'm a language model," with top-k 50. Intervals of 0 turn a job off.
 * Validation and HellaSwag also run at step 0, samples and checkpoints do not, and all of them run
 * at the last step ({@link RunConfig#valDue} and its neighbours say exactly when).
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

    static final List<String> KEYS = List.of("val_every", "val_steps", "hellaswag_every", "hellaswag_file",
            "hellaswag_limit", "sample_every", "num_samples", "sample_max_tokens", "sample_prompt", "top_k",
            "sample_seed", "checkpoint_every", "keep_last");

    public static EvalConfig defaults() {
        return new EvalConfig(250, 20, 250, null, 0, 250, 4, 32, NANOGPT_PROMPT, 50, 42, 5000, 0);
    }

    static EvalConfig from(Map<String, Object> tree, ConfigSource source) {
        ConfigSection s = ConfigSection.of(tree, "eval", KEYS, source);
        EvalConfig d = defaults();
        int valEvery = s.integer("val_every", d.valEvery);
        s.check(valEvery >= 0, "val_every", valEvery, ">= 0 (0 = never)");
        int valSteps = s.integer("val_steps", d.valSteps);
        s.check(valSteps >= 1, "val_steps", valSteps, ">= 1");
        int hsEvery = s.integer("hellaswag_every", d.hellaswagEvery);
        s.check(hsEvery >= 0, "hellaswag_every", hsEvery, ">= 0 (0 = never)");
        Path hsFile = s.path("hellaswag_file", d.hellaswagFile);
        int hsLimit = s.integer("hellaswag_limit", d.hellaswagLimit);
        s.check(hsLimit >= 0, "hellaswag_limit", hsLimit, ">= 0 (0 = all items)");
        int sampleEvery = s.integer("sample_every", d.sampleEvery);
        s.check(sampleEvery >= 0, "sample_every", sampleEvery, ">= 0 (0 = never)");
        int numSamples = s.integer("num_samples", d.numSamples);
        s.check(numSamples >= 1, "num_samples", numSamples, ">= 1");
        int maxTokens = s.integer("sample_max_tokens", d.sampleMaxTokens);
        s.check(maxTokens >= 1, "sample_max_tokens", maxTokens, ">= 1");
        String prompt = s.text("sample_prompt", d.samplePrompt);
        s.check(!prompt.isEmpty(), "sample_prompt", prompt, "non-empty text");
        int topK = s.integer("top_k", d.topK);
        s.check(topK >= 0, "top_k", topK, ">= 0 (0 = no top-k cut)");
        long sampleSeed = s.longInteger("sample_seed", d.sampleSeed);
        int ckptEvery = s.integer("checkpoint_every", d.checkpointEvery);
        s.check(ckptEvery >= 0, "checkpoint_every", ckptEvery, ">= 0 (0 = only at the end)");
        int keepLast = s.integer("keep_last", d.keepLast);
        s.check(keepLast >= 0, "keep_last", keepLast, ">= 0 (0 = keep all)");
        return new EvalConfig(valEvery, valSteps, hsEvery, hsFile, hsLimit, sampleEvery, numSamples, maxTokens,
                prompt, topK, sampleSeed, ckptEvery, keepLast);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("val_every", valEvery);
        m.put("val_steps", valSteps);
        m.put("hellaswag_every", hellaswagEvery);
        m.put("hellaswag_file", hellaswagFile == null ? null : hellaswagFile.toString());
        m.put("hellaswag_limit", hellaswagLimit);
        m.put("sample_every", sampleEvery);
        m.put("num_samples", numSamples);
        m.put("sample_max_tokens", sampleMaxTokens);
        m.put("sample_prompt", samplePrompt);
        m.put("top_k", topK);
        m.put("sample_seed", sampleSeed);
        m.put("checkpoint_every", checkpointEvery);
        m.put("keep_last", keepLast);
        return m;
    }
}
