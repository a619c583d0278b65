package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.data.TokenDataset;
import dev.jgpt.model.MemoryEstimate;
import dev.jgpt.eval.Evaluator;
import dev.jgpt.eval.HellaSwag;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.cuda.CudaGpt;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.model.Engine;
import dev.jgpt.model.Gpt;
import dev.jgpt.track.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** Validation loss on token shards and HellaSwag accuracy, for any model jgpt can load. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a model: validation loss over the val shards of --data, and/or HellaSwag accuracy "
                + "(build-nanogpt's completion scoring) from a HellaSwag JSONL file.")
public final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "run directory, checkpoint, HuggingFace directory or llm.c .bin")
    Path model;

    @Option(names = "--data", description = "directory of token shards (as jgpt prepare, llm.c or build-nanogpt write them, "
            + "or nanoGPT's train.bin and val.bin)")
    Path data;

    @Option(names = "--hellaswag", description = "HellaSwag JSONL file (e.g. hellaswag_val.jsonl)")
    Path hellaswag;

    @Option(names = "--limit", defaultValue = "0", description = "HellaSwag items to score, 0 = all (default: ${DEFAULT-VALUE})")
    int limit;

    @Option(names = "--batch", defaultValue = "4", description = "validation batch size B (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--seq", defaultValue = "0", description = "validation sequence length T, 0 = the model's block size (default: ${DEFAULT-VALUE})")
    int seq;

    @Option(names = "--steps", defaultValue = "20", description = "validation batches, at most as many as the val split "
            + "holds: each is evaluated once (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, or cuda: the GPU engine, fp32 (default: ${DEFAULT-VALUE})")
    String device;

    @Override
    public Integer call() throws Exception {
        if (data == null && hellaswag == null) throw new JgptException("give --data DIR (validation loss) and/or --hellaswag FILE");
        if (batch < 1) throw new JgptException("--batch must be >= 1, got " + batch);
        if (steps < 1) throw new JgptException("--steps must be >= 1, got " + steps);
        if (limit < 0) throw new JgptException("--limit must be >= 0, got " + limit);
        try (Cuda cuda = CudaCommand.openForDevice(device)) {
            Gpt host = ModelFiles.load(model);
            int T = seq == 0 ? host.config.blockSize() : seq;
            if (T < 1 || T > host.config.blockSize()) throw new JgptException("--seq must be in [1, " + host.config.blockSize() + "], got " + seq);
            // the weights are in; one batch's forward is allocated next: refuse it now rather than run out of heap
            if (data != null && cuda == null) MemoryEstimate.evaluation(host.config, batch, T).requireFits(MemoryEstimate.heap(), "--batch");
            if (hellaswag != null) {
                try {
                    Evaluator.requireGpt2Vocabulary(host.config);
                } catch (JgptException e) {
                    throw new JgptException("--hellaswag: " + e.getMessage() + " (" + model + ")", e);
                }
            }
            try (CudaGpt gpu = cuda == null ? null : new CudaGpt(cuda, host)) {
                evaluate(gpu == null ? Engine.cpu(host) : gpu.engine(), T);
            }
        }
        return 0;
    }

    private void evaluate(Engine m, int T) {
        if (data != null) {
            TokenDataset val = new TokenDataset(data, "val", batch, T, 0, 1, TokenDataset.Order.SEQUENTIAL, 0, m.config().vocabSize());
            Evaluator.Validation v;
            ProgressBar bar = ProgressBar.start("validation", steps, "batches").quietFor(2);
            try {
                v = Evaluator.validationOnce(m, val, steps, batch, T, () -> bar.add(1));
            } finally {
                bar.clear(); // the result line (or the error) follows
            }
            System.out.printf("validation loss %.4f (%d batches of %dx%d from %s)%n", v.loss(), v.batches(), batch, T, data);
            if (v.capped()) {
                System.out.printf("validation: --steps %d asks for more batches of %dx%d than the val split holds (%d); "
                        + "each was evaluated once%n", steps, batch, T, v.batches());
            }
        }
        if (hellaswag != null) {
            var items = HellaSwag.load(hellaswag, limit);
            HellaSwag.Score s;
            List<String> notes = new ArrayList<>(); // printed after the bar is cleared, with the score
            ProgressBar bar = ProgressBar.start("HellaSwag", items.size(), "items").quietFor(2);
            try {
                s = Evaluator.hellaswag(m, items, () -> bar.add(1), notes::add);
            } catch (JgptException e) {
                throw new JgptException("--hellaswag " + hellaswag + ": " + e.getMessage(), e);
            } finally {
                bar.clear();
            }
            System.out.printf("HellaSwag: acc %.4f (%d/%d), acc_norm %.4f (%d/%d)%n", s.acc(), s.correct(), s.total(),
                    s.accNorm(), s.correctNorm(), s.total());
            notes.forEach(System.out::println);
        }
    }
}
