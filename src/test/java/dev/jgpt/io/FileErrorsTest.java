package dev.jgpt.io;

import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Failed writes and bad checkpoint state name the file and the reason, in one line. */
class FileErrorsTest {
    @Test
    void aWriterThatFailsNamesTheTargetAndTheReasonAndLeavesNothing(@TempDir Path tmp) throws IOException {
        Path target = tmp.resolve("model.safetensors");
        JgptException full = assertThrows(JgptException.class, () -> AtomicFiles.write(target, t -> {
            Files.writeString(t, "half");
            throw new IOException("No space left on device");
        }));
        assertEquals(target + ": cannot write: No space left on device", full.getMessage());

        JgptException denied = assertThrows(JgptException.class, () -> AtomicFiles.write(target, t -> {
            throw new AccessDeniedException(t.toString());
        }));
        assertTrue(denied.getMessage().startsWith(target + ": cannot write: permission denied ("), denied.getMessage());
        assertFalse(Files.exists(target));
        try (var files = Files.list(tmp)) {
            assertEquals(0, files.count(), "no temporary file is left behind");
        }
    }

    @Test
    void aCheckpointStateOutOfRangeIsRefused(@TempDir Path tmp) throws IOException {
        Path state = tmp.resolve(TrainingCheckpoint.STATE);
        Files.writeString(state, "{\"step\": -5, \"optimizerSteps\": 2, \"dataState\": \"{}\", \"valLoss\": NaN}");
        JgptException e = assertThrows(JgptException.class, () -> TrainingCheckpoint.readState(tmp));
        assertTrue(e.getMessage().startsWith(state + ": needs a step >= 0") && e.getMessage().contains("step -5"), e.getMessage());
        Files.writeString(state, "{\"step\": 3, \"optimizerSteps\": 3, \"valLoss\": 1.5}");
        e = assertThrows(JgptException.class, () -> TrainingCheckpoint.readState(tmp));
        assertTrue(e.getMessage().contains("no dataState"), e.getMessage());
    }
}
