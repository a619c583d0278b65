package dev.jgpt.config;

import dev.jgpt.JgptException;
import dev.jgpt.model.GptConfig;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The network's shape: a GPT-2 preset or an explicit custom shape, and optionally the weights to
 * start from (a HuggingFace GPT-2 directory or an llm.c .bin) instead of a random init.
 *
 * @param preset           gpt2, gpt2-medium, gpt2-large, gpt2-xl, or custom
 * @param nLayer           transformer blocks
 * @param nHead            attention heads per block; divides nEmbd
 * @param nEmbd            channels of the residual stream
 * @param blockSize        longest sequence the position embedding covers
 * @param vocabSize        real tokens (50257 for GPT-2)
 * @param paddedVocabSize  rows of the embedding / LM head buffers; padded rows never take probability
 * @param initFrom         weights to load before training, or null for GPT-2 random init
 */
public record ModelConfig(String preset, int nLayer, int nHead, int nEmbd, int blockSize,
                          int vocabSize, int paddedVocabSize, Path initFrom) {

    public static final String CUSTOM = "custom";
    public static final int GPT2_VOCAB_SIZE = 50257;
    public static final int GPT2_BLOCK_SIZE = 1024;

    static final List<String> KEYS = List.of("preset", "n_layer", "n_head", "n_embd", "block_size",
            "vocab_size", "padded_vocab_size", "init_from");

    /** The OpenAI GPT-2 sizes, whose shapes {@link GptConfig#preset} holds. */
    private static final List<String> PRESETS = List.of("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl");

    /** Preset names followed by custom, in the order they are listed in errors. */
    public static List<String> presetNames() {
        List<String> names = new ArrayList<>(PRESETS);
        names.add(CUSTOM);
        return names;
    }

    /** A GPT-2 preset shape with the standard block size and vocabulary. */
    public static ModelConfig preset(String name) {
        if (!PRESETS.contains(name)) throw new IllegalArgumentException("no preset " + name);
        GptConfig g = GptConfig.preset(name);
        return new ModelConfig(name, g.nLayer(), g.nHead(), g.nEmbd(), g.blockSize(), g.vocabSize(), g.paddedVocabSize(), null);
    }

    /** The vocabulary rounded up to a multiple of 128. */
    public static int paddedVocabSize(int vocabSize) {
        return GptConfig.padVocab(vocabSize);
    }

    /** The engine's view of this shape. */
    public GptConfig gptConfig() {
        return new GptConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, paddedVocabSize);
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    /**
     * Trainable parameters with the LM head tied to the token embedding, counting the real
     * vocabulary only (124,439,808 for gpt2, the number HuggingFace reports).
     */
    public long parameterCount() {
        long c = nEmbd;
        long perBlock = 2 * c                 // ln_1
                + c * 3 * c + 3 * c           // attn.c_attn
                + c * c + c                   // attn.c_proj
                + 2 * c                       // ln_2
                + c * 4 * c + 4 * c           // mlp.c_fc
                + 4 * c * c + c;              // mlp.c_proj
        return (long) vocabSize * c + (long) blockSize * c + nLayer * perBlock + 2 * c;
    }

    static ModelConfig from(Map<String, Object> tree, ConfigSource source) {
        // `model: gpt2` is shorthand for `model: {preset: gpt2}`.
        Object raw = tree.get("model");
        if (raw instanceof String name) {
            Map<String, Object> expanded = new LinkedHashMap<>(tree);
            expanded.put("model", new LinkedHashMap<>(Map.of("preset", name)));
            tree = expanded;
        }
        ConfigSection s = ConfigSection.of(tree, "model", KEYS, source);
        boolean shapeGiven = s.has("n_layer") || s.has("n_head") || s.has("n_embd");
        String preset = s.choice("preset", shapeGiven ? CUSTOM : "gpt2", presetNames());

        int nLayer, nHead, nEmbd;
        if (preset.equals(CUSTOM)) {
            for (String key : List.of("n_layer", "n_head", "n_embd")) {
                if (!s.has(key)) {
                    throw new JgptException(source.where("model." + key) + "model." + key + " is required when"
                            + " model.preset is custom (or pick a preset: " + String.join(", ", PRESETS) + ")");
                }
            }
            nLayer = s.integer("n_layer", 0);
            nHead = s.integer("n_head", 0);
            nEmbd = s.integer("n_embd", 0);
        } else {
            GptConfig g = GptConfig.preset(preset);
            int[] shape = {g.nLayer(), g.nHead(), g.nEmbd()};
            String[] keys = {"n_layer", "n_head", "n_embd"};
            for (int i = 0; i < keys.length; i++) {
                if (s.has(keys[i]) && s.integer(keys[i], shape[i]) != shape[i]) {
                    throw s.error(keys[i], "conflicts with model.preset " + preset + ", which has "
                            + keys[i] + " " + shape[i] + "; set model.preset to custom to choose the shape yourself");
                }
            }
            nLayer = shape[0];
            nHead = shape[1];
            nEmbd = shape[2];
        }
        s.check(nLayer >= 1, "n_layer", nLayer, ">= 1");
        s.check(nHead >= 1, "n_head", nHead, ">= 1");
        s.check(nEmbd >= 1, "n_embd", nEmbd, ">= 1");
        if (nEmbd % nHead != 0) {
            throw new JgptException(source.where("model.n_embd", "model.n_head") + "model.n_embd = "
                    + nEmbd + " must be divisible by model.n_head = " + nHead + " (each head gets n_embd / n_head channels)");
        }
        int blockSize = s.integer("block_size", GPT2_BLOCK_SIZE);
        s.check(blockSize >= 1, "block_size", blockSize, ">= 1");
        int vocabSize = s.integer("vocab_size", GPT2_VOCAB_SIZE);
        s.check(vocabSize >= 1, "vocab_size", vocabSize, ">= 1");
        int padded = s.integer("padded_vocab_size", paddedVocabSize(vocabSize));
        s.check(padded >= vocabSize, "padded_vocab_size", padded, ">= model.vocab_size (" + vocabSize + ")");
        Path initFrom = s.path("init_from", null);
        return new ModelConfig(preset, nLayer, nHead, nEmbd, blockSize, vocabSize, padded, initFrom);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("preset", preset);
        m.put("n_layer", nLayer);
        m.put("n_head", nHead);
        m.put("n_embd", nEmbd);
        m.put("block_size", blockSize);
        m.put("vocab_size", vocabSize);
        m.put("padded_vocab_size", paddedVocabSize);
        m.put("init_from", initFrom == null ? null : initFrom.toString());
        return m;
    }
}
