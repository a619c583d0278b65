package dev.jgpt.train;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import dev.jgpt.JgptException;
import dev.jgpt.data.TokenDataset;
import dev.jgpt.dist.DataParallel;
import dev.jgpt.io.TrainingCheckpoint;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;

import java.io.IOException;
import java.nio.file.Path;

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

    /** The checkpoint's state, refused when {@code processes} or {@code maxSteps} cannot go on from it. */
    public static Resume read(Path checkpoint, int processes, int maxSteps) throws IOException {
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
        return new Resume(checkpoint, s);
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
