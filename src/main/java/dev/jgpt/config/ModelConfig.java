package dev.jgpt.config;

import dev.jgpt.JgptException;
import dev.jgpt.model.GptConfig;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The network: a GPT-2 preset or an explicit custom shape, and optionally the weights to start from
 * (a HuggingFace GPT-2 directory or an llm.c .bin) instead of a random init. The shape's keys are
 * {@link GptConfig}'s components in snake_case (n_layer, n_head, n_embd, block_size, vocab_size,
 * padded_vocab_size); a preset fixes the first three, block_size and vocab_size default to GPT-2's
 * and padded_vocab_size to vocab_size rounded up to a multiple of 128.
 *
 * @param preset   gpt2, gpt2-medium, gpt2-large, gpt2-xl, or custom
 * @param shape    the network's shape
 * @param initFrom weights to load before training, or null for GPT-2 random init
 */
public record ModelConfig(String preset, GptConfig shape, Path initFrom) {

    public static final String CUSTOM = "custom";

    private static final List<String> SHAPE_KEYS = List.of("n_layer", "n_head", "n_embd");
    static final List<String> KEYS = List.of("preset", "n_layer", "n_head", "n_embd", "block_size",
            "vocab_size", "padded_vocab_size", "init_from");
    static final List<String> TEXT_KEYS = List.of("model.preset", "model.init_from");

    /** Preset names followed by custom, in the order they are listed in errors. */
    public static List<String> presetNames() {
        List<String> names = new ArrayList<>(GptConfig.PRESETS);
        names.add(CUSTOM);
        return names;
    }

    /** A GPT-2 preset shape with the standard block size and vocabulary. */
    public static ModelConfig preset(String name) {
        if (!GptConfig.PRESETS.contains(name)) throw new IllegalArgumentException("no preset " + name);
        return new ModelConfig(name, GptConfig.preset(name), null);
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
        for (String key : SHAPE_KEYS) s.requireValue(key, null); // their default depends on the preset
        boolean shapeGiven = SHAPE_KEYS.stream().anyMatch(s::has);
        String preset = s.choice("preset", shapeGiven ? CUSTOM : "gpt2", presetNames());

        int[] shape = new int[3];
        if (preset.equals(CUSTOM)) {
            for (int i = 0; i < shape.length; i++) {
                String key = SHAPE_KEYS.get(i);
                if (!s.has(key)) {
                    throw new JgptException(source.where("model." + key) + "model." + key + " is required when"
                            + " model.preset is custom (or pick a preset: " + String.join(", ", GptConfig.PRESETS) + ")");
                }
                shape[i] = s.integer(key, 0);
            }
        } else {
            GptConfig g = GptConfig.preset(preset);
            shape = new int[]{g.nLayer(), g.nHead(), g.nEmbd()};
            for (int i = 0; i < shape.length; i++) {
                String key = SHAPE_KEYS.get(i);
                if (s.has(key) && s.integer(key, shape[i]) != shape[i]) {
                    throw s.error(key, "conflicts with model.preset " + preset + ", which has "
                            + key + " " + shape[i] + "; set model.preset to custom to choose the shape yourself");
                }
            }
        }
        for (int i = 0; i < shape.length; i++) s.check(shape[i] >= 1, SHAPE_KEYS.get(i), shape[i], ">= 1");
        int nLayer = shape[0], nHead = shape[1], nEmbd = shape[2];
        if (nEmbd % nHead != 0) {
            throw new JgptException(source.where("model.n_embd", "model.n_head") + "model.n_embd = "
                    + nEmbd + " must be divisible by model.n_head = " + nHead + " (each head gets n_embd / n_head channels)");
        }
        int blockSize = s.integer("block_size", GptConfig.GPT2_BLOCK_SIZE);
        s.check(blockSize >= 1, "block_size", blockSize, ">= 1");
        int vocabSize = s.integer("vocab_size", GptConfig.GPT2_VOCAB);
        s.check(vocabSize >= 1, "vocab_size", vocabSize, ">= 1");
        int padded = s.integer("padded_vocab_size", GptConfig.padVocab(vocabSize));
        s.check(padded >= vocabSize, "padded_vocab_size", padded, ">= model.vocab_size (" + vocabSize + ")");
        GptConfig g;
        try {
            g = new GptConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, padded);
        } catch (JgptException tooLarge) {
            throw new JgptException(source.where("model.n_layer", "model.n_embd") + "model: " + tooLarge.getMessage());
        }
        return new ModelConfig(preset, g, s.path("init_from", null));
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("preset", preset);
        m.put("n_layer", shape.nLayer());
        m.put("n_head", shape.nHead());
        m.put("n_embd", shape.nEmbd());
        m.put("block_size", shape.blockSize());
        m.put("vocab_size", shape.vocabSize());
        m.put("padded_vocab_size", shape.paddedVocabSize());
        m.put("init_from", initFrom == null ? null : initFrom.toString());
        return m;
    }
}
