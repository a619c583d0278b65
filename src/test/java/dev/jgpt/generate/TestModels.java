package dev.jgpt.generate;

import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;

import java.util.SplittableRandom;

/** Small random-init models with GPT-2's vocabulary, so any token decodes to text. */
public final class TestModels {
    private TestModels() {
    }

    /** 2 layers, 2 heads, 32 channels, GPT-2's 50,257 tokens, a context of {@code blockSize}. */
    public static Gpt random(int blockSize, long seed) {
        return random(GptConfig.of(2, 2, 32, blockSize, GptConfig.GPT2_VOCAB), seed);
    }

    /** Every parameter N(0, 0.3): peaked distributions, so greedy and sampled texts differ. */
    public static Gpt random(GptConfig cfg, long seed) {
        Gpt model = new Gpt(cfg);
        float[] p = model.params();
        SplittableRandom rng = new SplittableRandom(seed);
        for (int i = 0; i < p.length; i++) p[i] = (float) (rng.nextGaussian() * 0.3);
        return model;
    }

    /** A model whose every next token is {@code token}: ln_f gives the constant b, and wte[token] is b scaled up. */
    public static Gpt alwaysPicks(int token, long seed) {
        Gpt model = random(32, seed);
        float[] p = model.params();
        int C = model.config.nEmbd();
        for (int c = 0; c < C; c++) {
            p[model.layout.lnfWeight.start() + c] = 0;
            p[model.layout.wte.start() + token * C + c] = 50 * p[model.layout.lnfBias.start() + c];
        }
        return model;
    }
}
