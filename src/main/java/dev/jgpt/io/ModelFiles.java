package dev.jgpt.io;

import dev.jgpt.JgptException;
import dev.jgpt.model.Gpt;
import dev.jgpt.track.RunDirectory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Loads or saves a model by what the path is: an llm.c {@code .bin} file, a HuggingFace directory, a
 * training checkpoint or a run directory (its newest checkpoint).
 */
public final class ModelFiles {
    private ModelFiles() {
    }

    public static Gpt load(Path path) throws IOException {
        Path resolved = resolveTrainingOutput(path);
        if (resolved != null) return HfCheckpoint.load(resolved);
        if (Files.isRegularFile(path) && path.getFileName().toString().endsWith(".bin")) return LlmcCheckpoint.load(path);
        if (Files.isRegularFile(path) && path.getFileName().toString().equals(HfCheckpoint.WEIGHTS)) {
            return HfCheckpoint.load(path.toAbsolutePath().getParent());
        }
        if (HfCheckpoint.isHfDirectory(path)) return HfCheckpoint.load(path);
        if (!Files.exists(path)) throw new JgptException(path + ": no such file or directory");
        throw new JgptException(path + ": not a model (expected a run directory, a checkpoint, an llm.c .bin file "
                + "or a directory with " + HfCheckpoint.CONFIG + " and " + HfCheckpoint.WEIGHTS + ")");
    }

    /**
     * A run directory (its newest checkpoint) or a checkpoint directory, resolved to the HuggingFace
     * model directory inside; null when {@code path} is neither.
     */
    public static Path resolveTrainingOutput(Path path) throws IOException {
        if (!Files.isDirectory(path)) return null;
        Path checkpoint = path;
        Path checkpoints = path.resolve(RunDirectory.CHECKPOINTS_DIR);
        // a run's folder, also one copied without its checkpoints (as "not a model" would contradict)
        boolean run = Files.isDirectory(checkpoints) || Files.isRegularFile(path.resolve(RunDirectory.CONFIG_FILE))
                && Files.isRegularFile(path.resolve(RunDirectory.METRICS_FILE));
        if (run) {
            var all = Files.isDirectory(checkpoints) ? TrainingCheckpoint.list(checkpoints) : List.<Path>of();
            if (all.isEmpty()) throw new JgptException(path + ": the run has no checkpoint" + (Files.isDirectory(checkpoints) ? " yet"
                    : " (its " + RunDirectory.CHECKPOINTS_DIR + " folder is missing)"));
            checkpoint = all.getLast();
        }
        Path model = checkpoint.resolve(TrainingCheckpoint.MODEL_DIR);
        return HfCheckpoint.isHfDirectory(model) ? model : null;
    }

    public static void save(Gpt model, Path path) throws IOException {
        save(model, path, ModelCard.of("Written by jgpt."));
    }

    /** An llm.c {@code .bin} for a path ending in .bin, else a complete HuggingFace folder with {@code card}. */
    public static void save(Gpt model, Path path, ModelCard card) throws IOException {
        if (path.getFileName().toString().endsWith(".bin")) LlmcCheckpoint.save(model, path);
        else HfCheckpoint.save(model, path, card);
    }
}
