package dev.jgpt.model;

import dev.jgpt.JgptException;

import java.util.List;

/**
 * The shape of a GPT-2 model. {@code paddedVocabSize} is the row count of the embedding / LM-head
 * buffer (rounded up for aligned matmuls, as llm.c does); only the first {@code vocabSize} logits are
 * real.
 */
public record GptConfig(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize, int paddedVocabSize) {

    public static final int GPT2_VOCAB = 50257;
    public static final int GPT2_BLOCK_SIZE = 1024;
    /** The four GPT-2 sizes OpenAI released, smallest first. */
    public static final List<String> PRESETS = List.of("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl");

    public GptConfig {
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        positive("n_embd", nEmbd);
        positive("block_size", blockSize);
        positive("vocab_size", vocabSize);
        positive("padded_vocab_size", paddedVocabSize);
        if (nEmbd % nHead != 0) {
            throw new JgptException("n_embd (" + nEmbd + ") must be divisible by n_head (" + nHead + ")");
        }
        if (paddedVocabSize < vocabSize) {
            throw new JgptException("padded_vocab_size (" + paddedVocabSize + ") must be >= vocab_size (" + vocabSize + ")");
        }
        long params = parameterCount(nLayer, nEmbd, blockSize, paddedVocabSize);
        if (params > Integer.MAX_VALUE - 16) {
            throw new JgptException("model has " + params + " parameters; jgpt keeps them in one Java array, so at most "
                    + (Integer.MAX_VALUE - 16));
        }
    }

    /** A config with the padded vocabulary rounded up to a multiple of 128. */
    public static GptConfig of(int nLayer, int nHead, int nEmbd, int blockSize, int vocabSize) {
        return new GptConfig(nLayer, nHead, nEmbd, blockSize, vocabSize, padVocab(vocabSize));
    }

    public static int padVocab(int vocabSize) {
        return (vocabSize + 127) / 128 * 128;
    }

    /** The four GPT-2 sizes OpenAI released. */
    public static GptConfig preset(String name) {
        return switch (name) {
            case "gpt2" -> of(12, 12, 768, GPT2_BLOCK_SIZE, GPT2_VOCAB);
            case "gpt2-medium" -> of(24, 16, 1024, GPT2_BLOCK_SIZE, GPT2_VOCAB);
            case "gpt2-large" -> of(36, 20, 1280, GPT2_BLOCK_SIZE, GPT2_VOCAB);
            case "gpt2-xl" -> of(48, 25, 1600, GPT2_BLOCK_SIZE, GPT2_VOCAB);
            default -> throw new JgptException("unknown model preset '" + name
                    + "' (allowed: " + String.join(", ", PRESETS) + ")");
        };
    }

    public int headSize() {
        return nEmbd / nHead;
    }

    /** Number of floats in the parameter buffer (wte counted with its padded rows). */
    public long parameterCount() {
        return parameterCount(nLayer, nEmbd, blockSize, paddedVocabSize);
    }

    /** Parameters counting the real vocabulary only, the LM head tied to wte (124,439,808 for gpt2, as transformers reports). */
    public long realParameterCount() {
        return parameterCount(nLayer, nEmbd, blockSize, vocabSize);
    }

    /**
     * Refuses a batch of B rows of T tokens this model cannot run: T beyond block_size, or an id outside
     * the vocabulary (a target may also be -1, ignored). Both engines check their input through this.
     */
    public void checkBatch(int[] inputs, int[] targets, int B, int T) {
        if (T > blockSize) throw new JgptException("sequence length " + T + " exceeds the model's block_size " + blockSize);
        checkTokens("input", inputs, B * T, false);
        if (targets != null) checkTokens("target", targets, B * T, true);
    }

    private void checkTokens(String what, int[] tokens, int n, boolean allowIgnore) {
        if (tokens.length < n) throw new IllegalArgumentException(what + " ids: expected " + n + ", got " + tokens.length);
        for (int i = 0; i < n; i++) {
            int t = tokens[i];
            if (t >= vocabSize || t < (allowIgnore ? -1 : 0)) {
                throw new JgptException(what + " id " + t + " at position " + i + " is outside the vocabulary [0, " + vocabSize + ")");
            }
        }
    }

    private static long parameterCount(long L, long C, long maxT, long Vp) {
        return Vp * C + maxT * C + L * (12 * C * C + 13 * C) + 2 * C;
    }

    private static void positive(String field, int value) {
        if (value <= 0) throw new JgptException(field + " must be positive, got " + value);
    }
}
