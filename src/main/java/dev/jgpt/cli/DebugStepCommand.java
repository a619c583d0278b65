package dev.jgpt.cli;

import com.google.gson.GsonBuilder;
import dev.jgpt.JgptException;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.cuda.CudaGpt;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.model.Gpt;
import dev.jgpt.bench.DebugStep;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** Loss, logits, gradient norms and N AdamW steps on one batch, to compare with PyTorch. */
@Command(name = "debug-step", mixinStandardHelpOptions = true,
        description = "Run one batch through a model: loss, logits of row 0, gradient norms, then N AdamW steps "
                + "(the numbers to compare with PyTorch).")
public final class DebugStepCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "HuggingFace model directory or llm.c .bin file")
    Path model;

    @Option(names = "--batch", required = true, description = "JSON file: {\"inputs\": [[ids]...], \"targets\": [[ids]...]}")
    Path batch;

    @Option(names = "--steps", defaultValue = "10", description = "AdamW steps on the batch (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--lr", defaultValue = "1e-3", description = "learning rate (default: ${DEFAULT-VALUE})")
    float lr;

    @Option(names = "--weight-decay", defaultValue = "0.1", description = "weight decay on 2-D tensors (default: ${DEFAULT-VALUE})")
    float weightDecay;

    @Option(names = "--clip", defaultValue = "1.0", description = "gradient clipping norm, 0 = off (default: ${DEFAULT-VALUE})")
    float clip;

    @Option(names = "--beta1", defaultValue = "0.9", description = "AdamW beta1 (default: ${DEFAULT-VALUE})")
    float beta1;

    @Option(names = "--beta2", defaultValue = "0.95", description = "AdamW beta2 (default: ${DEFAULT-VALUE})")
    float beta2;

    @Option(names = "--eps", defaultValue = "1e-8", description = "AdamW epsilon (default: ${DEFAULT-VALUE})")
    float eps;

    @Option(names = "--micro-batches", defaultValue = "1", paramLabel = "K",
            description = "split the batch's rows into K micro-batches and accumulate their gradients, as training "
                    + "does (K must divide the rows; default: ${DEFAULT-VALUE})")
    int microBatches;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda",
            description = "where to run: cpu, or cuda (the GPU engine; needs an NVIDIA GPU) (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--json", description = "print one JSON object (otherwise a short human summary)")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (steps < 0) throw new JgptException("--steps must be >= 0, got " + steps);
        if (!(lr >= 0)) throw new JgptException("--lr must be >= 0, got " + lr);
        if (!(beta1 >= 0 && beta1 < 1)) throw new JgptException("--beta1 must be in [0, 1), got " + beta1);
        if (!(beta2 >= 0 && beta2 < 1)) throw new JgptException("--beta2 must be in [0, 1), got " + beta2);
        if (!(eps > 0)) throw new JgptException("--eps must be > 0, got " + eps);
        if (!(clip >= 0)) throw new JgptException("--clip must be >= 0, got " + clip);
        if (microBatches < 1) throw new JgptException("--micro-batches must be >= 1, got " + microBatches);
        DebugStep.Batch b = DebugStep.Batch.read(batch);
        if (b.B() % microBatches != 0) {
            throw new JgptException("--micro-batches " + microBatches + " does not divide the " + b.B() + " rows of " + batch);
        }
        Gpt m = ModelFiles.load(model);
        b.check(batch, m.config);
        DebugStep.Settings settings = new DebugStep.Settings(steps, lr, weightDecay, clip, beta1, beta2, eps, microBatches);
        DebugStep.Result r;
        try (Cuda cuda = CudaCommand.openForDevice(device)) {
            if (cuda == null) {
                r = DebugStep.run(m, b, settings);
            } else {
                try (CudaGpt gpu = new CudaGpt(cuda, m)) {
                    r = DebugStep.run(gpu.engine(settings.optimizer(m)), b, settings);
                }
            }
        }
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("loss", r.loss());
            out.put("logits_row0", r.logitsRow0());
            out.put("grad_norms", r.gradNorms());
            out.put("grad_norm", r.gradNorm());
            out.put("losses", r.losses());
            System.out.println(new GsonBuilder().serializeSpecialFloatingPointValues().create().toJson(out));
        } else {
            System.out.printf("loss %.6f, grad norm %.6f%n", r.loss(), r.gradNorm());
            for (int i = 0; i < r.losses().length; i++) System.out.printf("step %d: loss %.6f%n", i, r.losses()[i]);
        }
        return 0;
    }
}
