package dev.jgpt.io;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import dev.jgpt.JgptException;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.tensor.View;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
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
 * The directory is written under a temporary name ({@code .step_000100.tmpPID}) and renamed when
 * complete, so a crash leaves either the whole checkpoint or none; deleting one renames it away
 * first. Listing ignores the temporary names and the next owner of the run removes them.
 */
public final class TrainingCheckpoint {
    public static final String MODEL_DIR = "model";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "state.json";
    private static final String PREFIX = "step_";

    /** What besides the tensors a checkpoint records. */
    public record State(int step, long optimizerSteps, String dataState, double valLoss, int processes) {
        /** The data-parallel processes that trained it; checkpoints from before this was recorded had one. */
        public int processes() {
            return Math.max(1, processes);
        }
    }

    private TrainingCheckpoint() {
    }

    public static Path dirFor(Path checkpoints, int step) {
        return checkpoints.resolve(String.format("%s%06d", PREFIX, step));
    }

    public static void save(Path checkpoints, Gpt model, float[] m, float[] v, State state, ModelCard card) throws IOException {
        save(checkpoints, model, m, v, state, card, bytes -> { });
    }

    /** As above, handing {@code written} the tensors' bytes as they go out (progress; {@link #bytes} in all). */
    public static void save(Path checkpoints, Gpt model, float[] m, float[] v, State state, ModelCard card,
                            LongConsumer written) throws IOException {
        AtomicFiles.writeDirectory(dirFor(checkpoints, state.step()), tmp -> {
            HfCheckpoint.save(model, tmp.resolve(MODEL_DIR), card, written);
            Safetensors.write(tmp.resolve(OPTIMIZER), moments(model, m, v), Map.of("format", "jgpt-adamw"), written);
            Files.writeString(tmp.resolve(STATE), new GsonBuilder().setPrettyPrinting().serializeSpecialFloatingPointValues()
                    .create().toJson(state) + "\n");
        });
    }

    /** The bytes of tensors a checkpoint of {@code model} holds: its weights and AdamW's two moments. */
    public static long bytes(Gpt model) {
        float[] none = new float[0];
        return Safetensors.dataBytes(HfCheckpoint.tensors(model)) + Safetensors.dataBytes(moments(model, none, none));
    }

    private static List<Safetensors.Tensor> moments(Gpt model, float[] m, float[] v) {
        List<Safetensors.Tensor> moments = new ArrayList<>();
        for (View t : model.layout.layout.views()) moments.add(new Safetensors.Tensor("m." + t.name(), t.shape(), m, t.start(), false));
        for (View t : model.layout.layout.views()) moments.add(new Safetensors.Tensor("v." + t.name(), t.shape(), v, t.start(), false));
        return moments;
    }

    /**
     * The checkpoints in {@code checkpoints}, oldest first: the {@code step_NNNNNN} folders holding a
     * state.json. A save in progress or killed ({@code .step_N.tmpPID}) and a folder whose state.json is
     * gone are not checkpoints.
     */
    public static List<Path> list(Path checkpoints) throws IOException {
        if (!Files.isDirectory(checkpoints)) return List.of();
        try (Stream<Path> s = Files.list(checkpoints)) {
            return s.filter(p -> p.getFileName().toString().startsWith(PREFIX) && Files.isRegularFile(p.resolve(STATE)))
                    .sorted(Comparator.comparing(p -> p.getFileName().toString())).toList();
        }
    }

    /**
     * The newest checkpoint that is whole (see {@link #check}); each newer one that is not is named
     * through {@code warn} with its reason. Null when there is no checkpoint; when every one is
     * damaged, the newest one's reason is thrown.
     */
    public static Path newestWhole(Path checkpoints, Consumer<String> warn) throws IOException {
        List<Path> all = list(checkpoints);
        JgptException newest = null;
        for (int i = all.size() - 1; i >= 0; i--) {
            try {
                check(all.get(i));
                return all.get(i);
            } catch (JgptException e) {
                if (newest == null) newest = e;
                warn.accept("checkpoint " + all.get(i).getFileName() + " is damaged (" + e.getMessage() + ")"
                        + (i > 0 ? "; trying " + all.get(i - 1).getFileName() : ""));
            }
        }
        if (newest != null) throw new JgptException("no whole checkpoint in " + checkpoints + "; the newest: " + newest.getMessage(), newest);
        return null;
    }

    /**
     * Throws a {@link JgptException} naming the first part of the checkpoint that is missing, cut
     * short or unparsable: state.json, the model's config.json and both safetensors files (whose
     * headers must account for every byte of their tensors). Reads headers only. A step_NNNNNN
     * folder whose state.json is of another step is refused too: it was copied or renamed from
     * elsewhere, and resuming from it would go back to that step and drop the run's later metrics.
     */
    public static void check(Path checkpoint) throws IOException {
        int step = readState(checkpoint).step();
        String name = checkpoint.getFileName().toString();
        if (name.matches(PREFIX + "\\d{1,9}") && Integer.parseInt(name.substring(PREFIX.length())) != step) {
            throw new JgptException(checkpoint.resolve(STATE) + " is of step " + step + ", not of " + name
                    + " (a checkpoint copied or renamed from elsewhere)");
        }
        HfCheckpoint.readConfig(checkpoint.resolve(MODEL_DIR));
        try (Safetensors ignored = Safetensors.open(checkpoint.resolve(MODEL_DIR).resolve(HfCheckpoint.WEIGHTS));
             Safetensors ignored2 = Safetensors.open(checkpoint.resolve(OPTIMIZER))) {
            // opening checks that the file holds every byte its header promises
        }
    }

    /**
     * Removes what killed saves and prunes left behind ({@code .step_N.tmpPID} folders). Only the
     * process that owns the run calls this, so no save of a live process is in progress.
     */
    public static void removeLeftovers(Path checkpoints) throws IOException {
        if (!Files.isDirectory(checkpoints)) return;
        try (Stream<Path> s = Files.list(checkpoints)) {
            for (Path p : s.toList()) {
                String name = p.getFileName().toString();
                if (name.startsWith("." + PREFIX) && AtomicFiles.isTemporary(name)) AtomicFiles.deleteTree(p);
            }
        }
    }

    public static State readState(Path checkpoint) throws IOException {
        Path file = checkpoint.resolve(STATE);
        if (!Files.isRegularFile(file)) throw new JgptException(checkpoint + ": not a checkpoint (no " + STATE + ")");
        State s;
        try {
            s = new GsonBuilder().serializeSpecialFloatingPointValues().create().fromJson(Files.readString(file), State.class);
        } catch (JsonParseException | IllegalStateException | NumberFormatException e) {
            throw new JgptException(file + ": not valid JSON: " + JgptException.jsonReason(e));
        }
        if (s == null) throw new JgptException(file + ": empty");
        if (s.step() < 0 || s.optimizerSteps() < 0 || s.dataState() == null) {
            throw new JgptException(file + ": needs a step >= 0, an optimizerSteps >= 0 and a dataState; found step "
                    + s.step() + ", optimizerSteps " + s.optimizerSteps() + (s.dataState() == null ? ", no dataState" : ""));
        }
        return s;
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
     * with the lowest validation loss. A checkpoint whose state.json cannot be read has no loss and is
     * pruned by age like any other. Each is first renamed to a temporary name, so a prune killed
     * midway leaves whole checkpoints and a leftover that listing ignores.
     */
    public static void prune(Path checkpoints, int keepLast) throws IOException {
        if (keepLast <= 0) return;
        List<Path> all = list(checkpoints);
        Path best = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        for (Path p : all) {
            double loss;
            try {
                loss = readState(p).valLoss();
            } catch (JgptException unreadable) {
                continue;
            }
            if (loss < bestLoss) {
                bestLoss = loss;
                best = p;
            }
        }
        for (int i = 0; i < all.size() - keepLast; i++) {
            Path old = all.get(i);
            if (old.equals(best)) continue;
            AtomicFiles.deleteDirectory(old);
        }
    }
}
