package dev.jgpt.io;

import dev.jgpt.JgptException;
import dev.jgpt.model.Gpt;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads or saves a model by what the path is: an llm.c {@code .bin} file or a HuggingFace directory. */
public final class ModelFiles {
    private ModelFiles() {
    }

    public static Gpt load(Path path) throws IOException {
        if (Files.isRegularFile(path) && path.getFileName().toString().endsWith(".bin")) return LlmcCheckpoint.load(path);
        if (Files.isRegularFile(path) && path.getFileName().toString().equals(HfCheckpoint.WEIGHTS)) {
            return HfCheckpoint.load(path.toAbsolutePath().getParent());
        }
        if (HfCheckpoint.isHfDirectory(path)) return HfCheckpoint.load(path);
        if (!Files.exists(path)) throw new JgptException(path + ": no such file or directory");
        throw new JgptException(path + ": not a model (expected an llm.c .bin file or a directory with "
                + HfCheckpoint.CONFIG + " and " + HfCheckpoint.WEIGHTS + ")");
    }

    public static void save(Gpt model, Path path) throws IOException {
        if (path.getFileName().toString().endsWith(".bin")) LlmcCheckpoint.save(model, path);
        else HfCheckpoint.save(model, path);
    }
}
