package dev.jgpt.io;

import dev.jgpt.JgptException;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.jgpt.TestFiles.copyTree;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Checkpoints on disk: atomic saves, listing, pruning, and what a damaged one does to a resume. */
class TrainingCheckpointTest {
    @TempDir
    Path dir;

    static Gpt model(long seed) {
        Gpt m = new Gpt(GptConfig.of(1, 2, 8, 8, 33));
        m.initialize(seed);
        return m;
    }

    /** Saves a checkpoint of a model initialized from {@code step}, with validation loss {@code valLoss}. */
    static Path save(Path checkpoints, int step, double valLoss) throws IOException {
        Gpt m = model(step);
        float[] moments = new float[m.params().length];
        Arrays.fill(moments, step);
        TrainingCheckpoint.save(checkpoints, m, moments, moments, new TrainingCheckpoint.State(step, step, "{}", valLoss, 1), card(step));
        return TrainingCheckpoint.dirFor(checkpoints, step);
    }

    static ModelCard card(int step) {
        return new ModelCard("Trained by a test.", null, step, -1, Double.NaN, Double.NaN);
    }

    static List<String> names(List<Path> paths) {
        return paths.stream().map(p -> p.getFileName().toString()).toList();
    }

    @Test
    void aSaveReportsEveryTensorByteItWrites() throws IOException {
        Gpt m = model(3);
        float[] moments = new float[m.params().length];
        long[] written = {0};
        TrainingCheckpoint.save(dir, m, moments, moments, new TrainingCheckpoint.State(3, 3, "{}", 1, 1), card(3), n -> written[0] += n);
        assertEquals(TrainingCheckpoint.bytes(m), written[0]);
        Path saved = TrainingCheckpoint.dirFor(dir, 3);
        long files = Files.size(saved.resolve("model/model.safetensors")) + Files.size(saved.resolve(TrainingCheckpoint.OPTIMIZER));
        assertTrue(files > written[0] && files < written[0] + 64 * 1024, "the tensors are all but the files' headers: " + files);
    }

    @Test
    void listingIgnoresTemporaryFoldersAndFoldersWithoutState() throws IOException {
        save(dir, 2, 5);
        save(dir, 4, 4);
        Files.createDirectories(dir.resolve(".step_000006.tmp999991234/model")); // a save in progress or killed
        Files.createDirectories(dir.resolve(".step_000001.tmp999999999-old"));     // a prune or replace killed midway
        Files.createDirectories(dir.resolve("step_000008/model"));          // state.json gone
        Files.writeString(dir.resolve("notes.txt"), "x");
        assertEquals(List.of("step_000002", "step_000004"), names(TrainingCheckpoint.list(dir)));

        TrainingCheckpoint.removeLeftovers(dir);
        assertTrue(Files.notExists(dir.resolve(".step_000006.tmp999991234")) && Files.notExists(dir.resolve(".step_000001.tmp999999999-old")));
        assertTrue(Files.exists(dir.resolve("notes.txt")) && Files.exists(dir.resolve("step_000008")), "only its own leftovers");
    }

    @Test
    void pruneKeepsTheNewestAndTheBest() throws IOException {
        double[] loss = {3, 1.5, 2, 2.5, 2.2, 2.1};
        for (int i = 0; i < loss.length; i++) save(dir, i + 1, loss[i]);
        TrainingCheckpoint.prune(dir, 2);
        assertEquals(List.of("step_000002", "step_000005", "step_000006"), names(TrainingCheckpoint.list(dir)));
        try (var files = Files.list(dir)) {
            assertEquals(3, files.count(), "pruned checkpoints leave nothing behind");
        }
        TrainingCheckpoint.prune(dir, 0); // 0 keeps all
        assertEquals(3, TrainingCheckpoint.list(dir).size());
    }

    @Test
    void aCorruptOldStateNoLongerBreaksLaterSaves() throws IOException {
        save(dir, 1, 9);
        save(dir, 2, 8);
        Files.writeString(dir.resolve("step_000001/state.json"), "{\"step\": 1, \"optim");
        save(dir, 3, 7);
        TrainingCheckpoint.prune(dir, 2); // read every state.json, and threw on the corrupt one
        assertEquals(List.of("step_000002", "step_000003"), names(TrainingCheckpoint.list(dir)));
    }

    @Test
    void aDamagedNewestCheckpointFallsBackToTheOneBefore() throws IOException {
        save(dir, 2, 5);
        Path newest = save(dir, 4, 4);
        Path weights = newest.resolve("model/model.safetensors");
        Files.write(weights, Arrays.copyOf(Files.readAllBytes(weights), (int) Files.size(weights) - 100));
        List<String> warnings = new ArrayList<>();
        assertEquals(dir.resolve("step_000002"), TrainingCheckpoint.newestWhole(dir, warnings::add));
        assertEquals(1, warnings.size());
        assertTrue(warnings.getFirst().startsWith("checkpoint step_000004 is damaged (") && warnings.getFirst().contains("truncated"),
                warnings.getFirst());

        Files.writeString(dir.resolve("step_000002/state.json"), "");
        JgptException none = assertThrows(JgptException.class, () -> TrainingCheckpoint.newestWhole(dir, w -> { }));
        assertTrue(none.getMessage().startsWith("no whole checkpoint in " + dir) && none.getMessage().contains("model.safetensors"),
                none.getMessage());
        assertNull(TrainingCheckpoint.newestWhole(dir.resolve("absent"), w -> { }));
    }

    @Test
    void aCheckpointCopiedUnderAnotherStepIsNotResumedFrom() throws Exception {
        save(dir, 2, 5);
        Path elsewhere = save(dir.resolve("other-run"), 1, 3); // not a step_ folder: not listed
        // another run's (or an older) checkpoint copied in as the newest: resuming from it would go back to its step
        copyTree(elsewhere, dir.resolve("step_000007"));
        List<String> warnings = new ArrayList<>();
        assertEquals(dir.resolve("step_000002"), TrainingCheckpoint.newestWhole(dir, warnings::add));
        assertEquals(List.of("checkpoint step_000007 is damaged (" + dir.resolve("step_000007/state.json")
                + " is of step 1, not of step_000007 (a checkpoint copied or renamed from elsewhere)); trying step_000002"), warnings);
    }

    @Test
    void aSaveThatFailsHalfwayLeavesThePreviousCheckpointOfThatStep() throws IOException {
        Path before = save(dir, 3, 2);
        byte[] weights = Files.readAllBytes(before.resolve("model/model.safetensors"));
        Gpt other = model(99);
        float[] tooShort = new float[10]; // the optimizer tensors are written after the model: the save fails midway
        assertThrows(RuntimeException.class, () -> TrainingCheckpoint.save(dir, other, tooShort, tooShort,
                new TrainingCheckpoint.State(3, 3, "{}", 1, 1), card(3)));
        assertArrayEquals(weights, Files.readAllBytes(before.resolve("model/model.safetensors")));
        TrainingCheckpoint.check(before);
        try (var files = Files.list(dir)) {
            assertEquals(List.of("step_000003"), names(files.toList()), "no temporary folder left");
        }
        // a save of a step that has a checkpoint replaces it whole
        save(dir, 3, 1);
        assertEquals(1.0, TrainingCheckpoint.readState(before).valLoss());
    }

    @Test
    void anAtomicWriteThatFailsHalfwayLeavesThePreviousFile() throws IOException {
        Path file = dir.resolve("status.json");
        AtomicFiles.writeString(file, "first\n");
        JgptException e = assertThrows(JgptException.class, () -> AtomicFiles.write(file, tmp -> {
            Files.writeString(tmp, "second, half");
            throw new IOException("disk full");
        }));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("disk full"), e.getMessage());
        assertEquals("first\n", Files.readString(file));
        try (var files = Files.list(dir)) {
            assertEquals(List.of("status.json"), names(files.toList()));
        }
    }
}
