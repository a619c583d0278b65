package dev.jgpt.io;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import dev.jgpt.JgptException;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.tensor.View;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A training checkpoint, one directory per step ({@code step_000100/}):
 * <ul>
 *   <li>{@code model/}: a complete HuggingFace GPT-2 folder (weights, config, tokenizer, model card);</li>
 *   <li>{@code optimizer.safetensors}: AdamW's m and v, one tensor each per parameter
 *       ({@code m.h.0.attn.c_attn.weight}...), stored in jgpt's [out, in] order;</li>
 *   <li>{@code state.json}: step (the next step to run), AdamW's step count, the training data's
 *       position, the validation loss at this step.</li>
 * </ul>
 * The directory is written under a temporary name and renamed when complete, so a crash leaves
 * either the whole checkpoint or none.
 */
public final class TrainingCheckpoint {
    public static final String MODEL_DIR = "model";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "state.json";
    private static final String PREFIX = "step_";

    /** What besides the tensors a checkpoint records. */
    public record State(int step, long optimizerSteps, String dataState, double valLoss) {
    }

    private TrainingCheckpoint() {
    }

    public static Path dirFor(Path checkpoints, int step) {
        return checkpoints.resolve(String.format("%s%06d", PREFIX, step));
    }

    public static void save(Path checkpoints, Gpt model, float[] m, float[] v, State state, ModelCard card) throws IOException {
        Path target = dirFor(checkpoints, state.step());
        Path tmp = checkpoints.resolve("." + target.getFileName() + ".tmp" + ProcessHandle.current().pid());
        deleteTree(tmp);
        Files.createDirectories(tmp);
        try {
            HfCheckpoint.save(model, tmp.resolve(MODEL_DIR), card);
            List<Safetensors.Tensor> moments = new ArrayList<>();
            for (View t : model.layout.layout.views()) moments.add(new Safetensors.Tensor("m." + t.name(), t.shape(), m, t.start(), false));
            for (View t : model.layout.layout.views()) moments.add(new Safetensors.Tensor("v." + t.name(), t.shape(), v, t.start(), false));
            Safetensors.write(tmp.resolve(OPTIMIZER), moments, Map.of("format", "jgpt-adamw"));
            Files.writeString(tmp.resolve(STATE), new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues()
                    .create().toJson(state) + "\n");
            deleteTree(target);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target);
            }
        } finally {
            deleteTree(tmp);
        }
    }

    /** The checkpoints in {@code checkpoints}, oldest first. */
    public static List<Path> list(Path checkpoints) throws IOException {
        if (!Files.isDirectory(checkpoints)) return List.of();
        try (Stream<Path> s = Files.list(checkpoints)) {
            return s.filter(p -> p.getFileName().toString().startsWith(PREFIX) && Files.isRegularFile(p.resolve(STATE)))
                    .sorted(Comparator.comparing(p -> p.getFileName().toString())).toList();
        }
    }

    public static State readState(Path checkpoint) throws IOException {
        Path file = checkpoint.resolve(STATE);
        if (!Files.isRegularFile(file)) throw new JgptException(checkpoint + ": not a checkpoint (no " + STATE + ")");
        try {
            State s = new GsonBuilder().serializeSpecialFloatingPointValues().create().fromJson(Files.readString(file), State.class);
            if (s == null) throw new JgptException(file + ": empty");
            if (s.step() < 0 || s.optimizerSteps() < 0 || s.dataState() == null) {
                throw new JgptException(file + ": needs a step >= 0, an optimizerSteps >= 0 and a dataState; found step "
                        + s.step() + ", optimizerSteps " + s.optimizerSteps() + (s.dataState() == null ? ", no dataState" : ""));
            }
            return s;
        } catch (JsonParseException e) {
            throw new JgptException(file + ": not valid JSON: " + e.getMessage());
        }
    }

    /** Loads the weights into a new model, checking they have the shape {@code expected} (when given). */
    public static Gpt loadModel(Path checkpoint, GptConfig expected) throws IOException {
        Path dir = checkpoint.resolve(MODEL_DIR);
        GptConfig found = HfCheckpoint.readConfig(dir);
        if (expected != null && !expected.equals(found)) {
            throw new JgptException(checkpoint + ": the checkpoint's model " + found + " differs from the run's " + expected);
        }
        return HfCheckpoint.load(dir, found);
    }

    /** Reads AdamW's moments into m and v. */
    public static void loadOptimizer(Path checkpoint, Gpt model, float[] m, float[] v) throws IOException {
        Path file = checkpoint.resolve(OPTIMIZER);
        try (Safetensors st = Safetensors.open(file)) {
            for (View t : model.layout.layout.views()) {
                readMoment(st, "m." + t.name(), t, m);
                readMoment(st, "v." + t.name(), t, v);
            }
        }
    }

    private static void readMoment(Safetensors st, String name, View t, float[] dst) {
        Safetensors.Entry e = st.entries().get(name);
        if (e == null) throw new JgptException(st.file() + ": missing tensor " + name);
        if (!java.util.Arrays.equals(e.shape(), t.shape())) {
            throw new JgptException(st.file() + ": tensor " + name + ": expected shape " + t.shapeString() + ", found "
                    + java.util.Arrays.toString(e.shape()));
        }
        st.read(e, dst, t.start(), false);
    }

    /**
     * Deletes all but the newest {@code keepLast} checkpoints (0 = keep all), always keeping the one
     * with the lowest validation loss.
     */
    public static void prune(Path checkpoints, int keepLast) throws IOException {
        if (keepLast <= 0) return;
        List<Path> all = list(checkpoints);
        Path best = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        for (Path p : all) {
            double loss = readState(p).valLoss();
            if (loss < bestLoss) {
                bestLoss = loss;
                best = p;
            }
        }
        for (int i = 0; i < all.size() - keepLast; i++) {
            if (!all.get(i).equals(best)) deleteTree(all.get(i));
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

}
