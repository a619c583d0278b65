package dev.jgpt.io;

import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import dev.jgpt.data.Prepare;
import dev.jgpt.model.GptConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The {@code README.md} of a HuggingFace model folder: what the model is, what it was trained on and
 * how far, and how to load it. The YAML header is the metadata the Hub reads.
 *
 * @param origin    one sentence on where the weights come from ("Trained with jgpt.", "Converted from X.")
 * @param data      the training data (a shard folder and the corpus it was prepared from); null if unknown
 * @param steps     optimizer steps taken; negative if unknown
 * @param tokens    training tokens seen; negative if unknown
 * @param trainLoss the last training loss; NaN if unknown
 * @param valLoss   the last validation loss; NaN if unknown
 */
public record ModelCard(String origin, String data, long steps, long tokens, double trainLoss, double valLoss) {

    /**
     * The card's words for training data read from {@code dir}: the folder and the source its
     * {@code prepare.json} records (what {@code jgpt prepare} actually read, which a config's
     * data.source need not be), or the folder alone for shards jgpt did not prepare.
     */
    public static String trainingData(Path dir) {
        String folder = "`" + dir + "`";
        Path manifest = dir.resolve(Prepare.MANIFEST);
        if (!Files.isRegularFile(manifest)) return folder;
        try {
            JsonElement source = JsonParser.parseString(Files.readString(manifest)).getAsJsonObject()
                    .getAsJsonObject("summary").get("source");
            if (source != null && source.isJsonPrimitive()) return folder + " (source " + source.getAsString() + ")";
        } catch (IOException | RuntimeException e) {
            // training read the shards whatever the manifest says; the card names what it knows for sure
        }
        return folder;
    }

    /** A card that only says where the weights come from. */
    public static ModelCard of(String origin) {
        return new ModelCard(origin, null, -1, -1, Double.NaN, Double.NaN);
    }

    /** The card's markdown for a model of shape {@code cfg}; {@code withTokenizer} says whether the folder has GPT-2's tokenizer. */
    String render(GptConfig cfg, boolean withTokenizer) {
        StringBuilder md = new StringBuilder();
        md.append("---\nlibrary_name: transformers\npipeline_tag: text-generation\ntags:\n- gpt2\n- jgpt\n---\n\n");
        md.append("# GPT-2 ").append(size(cfg.realParameterCount())).append("\n\n");
        md.append(origin).append(" A GPT-2 language model: ").append(cfg.nLayer()).append(" layers, ").append(cfg.nHead())
                .append(" heads, ").append(cfg.nEmbd()).append(" channels, a context of ").append(cfg.blockSize())
                .append(" tokens and a vocabulary of ").append(String.format(Locale.ROOT, "%,d", cfg.vocabSize()))
                .append(" tokens (").append(String.format(Locale.ROOT, "%,d", cfg.realParameterCount())).append(" parameters).\n");

        if (data != null || steps >= 0 || tokens >= 0 || !Double.isNaN(trainLoss) || !Double.isNaN(valLoss)) {
            md.append("\n## Training\n\n| | |\n|---|---|\n");
            if (data != null) md.append("| data | ").append(data).append(" |\n");
            if (steps >= 0) md.append("| steps | ").append(String.format(Locale.ROOT, "%,d", steps)).append(" |\n");
            if (tokens >= 0) md.append("| tokens | ").append(String.format(Locale.ROOT, "%,d", tokens)).append(" |\n");
            if (!Double.isNaN(trainLoss)) md.append(String.format(Locale.ROOT, "| final training loss | %.4f |\n", trainLoss));
            if (!Double.isNaN(valLoss)) md.append(String.format(Locale.ROOT, "| final validation loss | %.4f |\n", valLoss));
        }

        md.append("\n## Use\n\n");
        if (withTokenizer) {
            md.append("The folder is a complete GPT-2 model for `transformers` (weights, config and GPT-2's tokenizer):\n\n")
                    .append("```python\nfrom transformers import AutoTokenizer, GPT2LMHeadModel\n")
                    .append("tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")\n")
                    .append("model = GPT2LMHeadModel.from_pretrained(\"path/to/this/folder\")\n```\n\n");
        } else {
            md.append("The vocabulary is smaller than GPT-2's 50,257 tokens, so the folder has no tokenizer: feed it "
                    + "token ids below ").append(cfg.vocabSize()).append(". `GPT2LMHeadModel.from_pretrained` loads the weights.\n\n");
        }
        md.append("With jgpt: `jgpt generate --model path/to/this/folder --prompt \"...\"`.\n");
        return md.toString();
    }

    private static String size(long n) {
        if (n >= 1_000_000_000) return String.format(Locale.ROOT, "%.1fB", n / 1e9);
        if (n >= 10_000_000) return Math.round(n / 1e6) + "M";
        if (n >= 1_000_000) return String.format(Locale.ROOT, "%.1fM", n / 1e6);
        if (n >= 1_000) return Math.round(n / 1e3) + "k";
        return Long.toString(n);
    }
}
