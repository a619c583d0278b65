package dev.jgpt.model;

import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The batch check both engines run before a forward: one message naming what is wrong. */
class GptConfigTest {
    private final GptConfig cfg = GptConfig.of(1, 2, 8, 4, 10);

    @Test
    void acceptsABatchWithinTheBlockAndTheVocabulary() {
        cfg.checkBatch(new int[]{0, 9, 3, 4}, new int[]{9, -1, 0, 1}, 1, 4);
        cfg.checkBatch(new int[]{0, 1, 2, 3, 4, 5}, null, 3, 2);
    }

    @Test
    void refusesASequenceLongerThanTheBlock() {
        var e = assertThrows(JgptException.class, () -> cfg.checkBatch(new int[5], null, 1, 5));
        assertEquals("sequence length 5 exceeds the model's block_size 4", e.getMessage());
    }

    @Test
    void refusesIdsOutsideTheVocabularyAndNamesTheirPosition() {
        var input = assertThrows(JgptException.class, () -> cfg.checkBatch(new int[]{1, 2, 10, 3}, null, 2, 2));
        assertEquals("input id 10 at position 2 is outside the vocabulary [0, 10)", input.getMessage());
        // -1 marks an ignored target, never an input
        assertThrows(JgptException.class, () -> cfg.checkBatch(new int[]{1, -1}, null, 1, 2));
        var target = assertThrows(JgptException.class, () -> cfg.checkBatch(new int[]{1, 2}, new int[]{-2, 0}, 1, 2));
        assertTrue(target.getMessage().startsWith("target id -2 at position 0"), target.getMessage());
    }

    @Test
    void theModelsForwardRunsTheCheck() {
        Gpt model = InferenceTest.randomModel(cfg, 1);
        var e = assertThrows(JgptException.class, () -> model.forward(new int[]{1, 2}, new int[]{3, 10}, 1, 2));
        assertEquals("target id 10 at position 1 is outside the vocabulary [0, 10)", e.getMessage());
    }
}
