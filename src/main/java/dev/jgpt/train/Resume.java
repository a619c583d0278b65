package dev.jgpt.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import dev.jgpt.JgptException;
import dev.jgpt.config.DataConfig;
import dev.jgpt.config.RunConfig;
import dev.jgpt.data.TokenDataset;
import dev.jgpt.dist.DataParallel;
import dev.jgpt.io.HfCheckpoint;
import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Where a run goes on from: a checkpoint's weights, AdamW's moments and step count, the training
 * data's position, the step and its validation loss. {@link #read} checks the checkpoint fits the
 * run before anything is built; {@link #model} and {@link #restore} put it back. The ranks of a
 * data-parallel group then all take rank 0's ({@link #joinGroup}), whatever each loaded.
 *
 * @param checkpoint the checkpoint folder (step_NNNNNN)
 * @param state      its step, optimizer steps, data position, validation loss and process count
 */
public record Resume(Path checkpoint, TrainingCheckpoint.State state) {

    /**
     * The checkpoint's state, refused when {@code processes} or the run's config {@code cfg} cannot go
     * on from it: a train.max_steps below its step, another model shape, or another data order, or
     * (shuffled) seed or sequence length, each named by its config keys with the checkpoint's value and the
     * config's.
     */
    public static Resume read(Path checkpoint, int processes, RunConfig cfg) throws IOException {
        int maxSteps = cfg.train().maxSteps();
        TrainingCheckpoint.State s = TrainingCheckpoint.readState(checkpoint);
        if (s.processes() != processes) {
            // each rank's data position is the step's start plus its own offset: it holds for one rank count
            throw new JgptException(checkpoint + " was trained by " + s.processes() + " process" + (s.processes() == 1 ? "" : "es")
                    + "; resume it with the same number (" + (s.processes() == 1 ? "without mpirun" : "mpirun -np " + s.processes())
                    + "), not " + processes);
        }
        if (s.step() > maxSteps) {
            // the loop would never reach max_steps
            throw new JgptException("train.max_steps " + maxSteps + " is below the step the run has reached, " + s.step()
                    + " (" + checkpoint.getFileName() + "); to train on, set train.max_steps above " + s.step());
        }
        GptConfig trained = HfCheckpoint.readConfig(checkpoint.resolve(TrainingCheckpoint.MODEL_DIR)), shape = cfg.model().shape();
        shapeChanges(trained, shape).refuse(checkpoint, "a resumed run keeps the model it trained");

        TokenDataset.State data = TokenDataset.State.fromJson(s.dataState());
        DataConfig d = cfg.data();
        Changes reading = new Changes();
        reading.compare("data.order", data.order(), d.order().yamlName());
        // the seed orders a shuffled run's data; a run read in file order both times never used it
        boolean shuffled = d.order() == DataConfig.Order.SHUFFLED || !data.order().equals(DataConfig.Order.SEQUENTIAL.yamlName());
        if (shuffled) reading.compare("data.seed", data.seed(), d.seed());
        // a shuffled position counts windows of seq_len tokens; a sequential one counts tokens
        if (d.order() == DataConfig.Order.SHUFFLED && data.order().equals(d.order().yamlName())) {
            reading.compare("train.seq_len", data.seqLen(), cfg.train().seqLen());
        }
        reading.refuse(checkpoint, "its data position only holds for the data as it was read");
        return new Resume(checkpoint, s);
    }

    /** The model keys on which the weights' shape and the config's differ. */
    private static Changes shapeChanges(GptConfig weights, GptConfig shape) {
        Changes model = new Changes();
        model.compare("model.n_layer", weights.nLayer(), shape.nLayer());
        model.compare("model.n_head", weights.nHead(), shape.nHead());
        model.compare("model.n_embd", weights.nEmbd(), shape.nEmbd());
        model.compare("model.block_size", weights.blockSize(), shape.blockSize());
        model.compare("model.vocab_size", weights.vocabSize(), shape.vocabSize());
        model.compare("model.padded_vocab_size", weights.paddedVocabSize(), shape.paddedVocabSize());
        return model;
    }

    /** Refuses starting weights (model.init_from) of another shape than the config's, naming each key that differs. */
    public static void requireInitShape(Path initFrom, GptConfig weights, GptConfig shape) {
        Changes model = shapeChanges(weights, shape);
        if (model.trained.isEmpty()) return;
        throw new JgptException("model.init_from " + initFrom + " holds a model with " + String.join(", ", model.trained)
                + ", but the config has " + String.join(", ", model.now) + "; set the config's model to the weights' shape,"
                + " or start from other weights");
    }

    /** Config keys whose value differs between the checkpoint and the run's config. */
    private static final class Changes {
        private final List<String> trained = new ArrayList<>(), now = new ArrayList<>();

        void compare(String key, Object trainedWith, Object configured) {
            if (Objects.equals(trainedWith, configured)) return;
            trained.add(key + " = " + trainedWith);
            now.add(key + " = " + configured);
        }

        void refuse(Path checkpoint, String why) {
            if (trained.isEmpty()) return;
            throw new JgptException(checkpoint + " was trained with " + String.join(", ", trained) + ", but the run's config"
                    + " (its config.yaml with any --set) has " + String.join(", ", now) + "; " + why
                    + ": set them back, or start a new run");
        }
    }

    /** The checkpoint's weights, which must have {@code shape}. */
    public Gpt model(GptConfig shape) throws IOException {
        return TrainingCheckpoint.loadModel(checkpoint, shape);
    }

    /** AdamW's moments and step count, and the training data's position, as the checkpoint left them. */
    public void restore(Gpt model, Optimizer optimizer, TokenDataset train) throws IOException {
        TrainingCheckpoint.loadOptimizer(checkpoint, model, optimizer.m(), optimizer.v());
        optimizer.setSteps(state.optimizerSteps());
        train.restore(TokenDataset.State.fromJson(state.dataState()));
    }

    /**
     * Rank 0's weights, AdamW moments, step and data position on every rank of {@code group}, so
     * that the ranks start equal whatever each loaded or initialized (only rank 0 reads the
     * checkpoint). Returns rank 0's state; {@code mine} is this rank's.
     */
    static TrainingCheckpoint.State joinGroup(DataParallel group, Gpt model, Optimizer optimizer, TokenDataset train,
                                              TrainingCheckpoint.State mine) {
        if (group.size() == 1) return mine;
        group.broadcast(model.params());
        group.broadcast(optimizer.m());
        group.broadcast(optimizer.v());
        Gson gson = new GsonBuilder().serializeSpecialFloatingPointValues().create();
        TrainingCheckpoint.State s = gson.fromJson(group.broadcast(gson.toJson(mine)), TrainingCheckpoint.State.class);
        optimizer.setSteps(s.optimizerSteps());
        train.restore(TokenDataset.State.fromJson(s.dataState()));
        return s;
    }
}
