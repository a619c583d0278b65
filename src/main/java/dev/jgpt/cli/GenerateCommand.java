package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.cuda.Cuda;
import dev.jgpt.cuda.CudaDecoder;
import dev.jgpt.eval.Sampler;
import dev.jgpt.generate.Generator;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.model.Decoder;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.Inference;
import dev.jgpt.tensor.Parallel;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code jgpt generate}: continue a prompt with a model, streaming the text as it is sampled. */
@Command(name = "generate",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
                "Continue a prompt with a GPT-2 model, printing each token as it is sampled.",
                "Sampling is top-k 50 at temperature 1 by default, as build-nanogpt; --temperature 0 is greedy.",
                "A sample ends after --max-tokens tokens or at <|endoftext|>. Past block_size tokens the",
                "context slides: the last half is re-read and generation goes on.",
                "The prompt may contain <|endoftext|>; on its own it asks for an unconditional sample.",
                "Speed (tokens/s) goes to standard error at the end.",
                "Examples:",
                "  jgpt generate --model models/gpt2 --prompt \"Hello, I'm a language model,\" --num-samples 4",
                "  jgpt generate --model model.bin --prompt-file prompt.txt --temperature 0.8 --top-p 0.95 --seed 1",
                "  jgpt generate --model models/gpt2 --prompt \"Hello\" --device cuda",
        })
public final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "PATH",
            description = "A run directory (its newest checkpoint), a checkpoint directory, a HuggingFace directory "
                    + "(config.json + model.safetensors) or an llm.c .bin file.")
    Path model;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "The text to continue.")
    String prompt;

    @Option(names = "--prompt-file", paramLabel = "FILE", description = "Read the prompt from a UTF-8 file (used as is; - for standard input).")
    Path promptFile;

    @Option(names = "--max-tokens", defaultValue = "100", paramLabel = "N",
            description = "Tokens to generate per sample. Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "1.0", paramLabel = "T",
            description = "Softmax temperature; 0 = greedy (always the most likely token). Default: ${DEFAULT-VALUE}.")
    float temperature;

    @Option(names = "--top-k", defaultValue = "50", paramLabel = "K",
            description = "Sample among the K most likely tokens; 0 = no limit. Default: ${DEFAULT-VALUE}.")
    int topK;

    @Option(names = "--top-p", defaultValue = "1.0", paramLabel = "P",
            description = "Nucleus sampling: among the fewest most likely tokens whose probability reaches P; "
                    + "1 = no limit. Default: ${DEFAULT-VALUE}.")
    float topP;

    @Option(names = "--seed", paramLabel = "S", description = "Random seed; the same seed gives the same text. Default: random (printed).")
    Long seed;

    @Option(names = "--num-samples", defaultValue = "1", paramLabel = "N",
            description = "Samples to generate, one after another. Default: ${DEFAULT-VALUE}.")
    int numSamples;

    @Option(names = "--threads", paramLabel = "N",
            description = "Threads for the model. Default: all cores. On a busy machine fewer can be faster.")
    Integer threads;

    @Option(names = "--dtype", paramLabel = "bf16|fp32",
            description = "How the weight matrices are read while decoding: bf16 (half the memory traffic, about "
                    + "twice the tokens/s; logits within 2%% of the largest) or fp32 (the model's exact float32 logits). "
                    + "Default: bf16 on the CPU; the GPU decodes fp32 only.")
    String dtype;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda",
            description = "Where to decode: cpu, or cuda (the GPU, fp32, the key/value cache in its memory). Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--ignore-eot", description = "Keep going past <|endoftext|> instead of ending the sample.")
    boolean ignoreEot;

    @Override
    public Integer call() throws IOException {
        validateOptions();
        Inference.Precision precision = precision(dtype, device);
        Parallel pool = threads == null ? Parallel.allCores() : new Parallel(Parallel.threadsFor(threads, "--threads", System.err::println));
        String text = promptText();
        Gpt2Tokenizer tokenizer = Gpt2Tokenizer.get();
        int[] ids = tokenizer.encodeWithSpecial(text);
        if (ids.length == 0) {
            throw new JgptException(promptOption() + ": the prompt is empty (use " + Gpt2Tokenizer.EOT_TEXT
                    + " for an unconditional sample)");
        }
        try (Cuda cuda = CudaCommand.openForDevice(device)) {
            return generate(text, ids, precision, pool, cuda);
        }
    }

    /** Loads the model and prints its samples of the prompt's tokens, decoding on the GPU when {@code cuda} is open. */
    private int generate(String text, int[] ids, Inference.Precision precision, Parallel pool, Cuda cuda) throws IOException {
        Gpt2Tokenizer tokenizer = Gpt2Tokenizer.get();
        Gpt gpt = ModelFiles.load(model);
        gpt.runOn(pool);
        GptConfig cfg = gpt.config;
        for (int id : ids) {
            if (id >= cfg.vocabSize()) {
                throw new JgptException(promptOption() + ": token " + id + " ('" + tokenizer.decode(new int[]{id})
                        + "') is outside the model's vocabulary of " + cfg.vocabSize() + " tokens");
            }
        }
        if (ids.length > cfg.blockSize()) {
            throw new JgptException(promptOption() + ": the prompt is " + ids.length + " tokens, more than the model's block_size "
                    + cfg.blockSize());
        }
        long seedValue = seed != null ? seed : System.nanoTime() ^ Double.doubleToLongBits(Math.random());
        // Only ids the tokenizer can print take part (a model may pad its vocabulary past GPT-2's).
        int vocab = Math.min(cfg.vocabSize(), Gpt2Tokenizer.VOCAB_SIZE);
        Sampler sampler = new Sampler(vocab, temperature, topK, topP, seedValue);
        Generator.Limits limits = new Generator.Limits(maxTokens, List.of(), !ignoreEot);
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        PrintStream err = System.err;
        if (seed == null && temperature > 0) err.println("seed " + seedValue); // greedy decoding draws no random number

        long prefillNanos = 0, decodeNanos = 0;
        int generated = 0, prefilled = 0;
        try (Decoder decoder = decoder(gpt, precision, cuda)) {
            Generator generator = new Generator(decoder, 1);
            for (int s = 0; s < numSamples; s++) {
                if (numSamples > 1) out.println((s > 0 ? "\n" : "") + "--- sample " + (s + 1) + " of " + numSamples + " ---");
                out.print(text);
                out.flush();
                // one sampler for all samples: sample 2 continues sample 1's random stream
                Generator.Sequence sample = generator.add(ids, limits, sampler, piece -> {
                    out.print(piece);
                    out.flush();
                });
                generator.run();
                if (sample.finish() == Generator.Finish.ERROR) throw sample.error();
                out.println();
                out.flush();
                prefillNanos += sample.prefillNanos();
                decodeNanos += sample.decodeNanos();
                generated += sample.generated();
                if (sample.prefilled()) prefilled += ids.length;
            }
        }

        double decodeSeconds = decodeNanos / 1e9, prefillSeconds = prefillNanos / 1e9;
        err.printf(Locale.ROOT, "%d tokens in %.2f s: %.1f tokens/s, %s weights%s (prompt: %d tokens, prefill %.2f s%s)%n",
                generated, decodeSeconds, generated / Math.max(decodeSeconds, 1e-9), precision,
                cuda == null ? "" : " on " + cuda.deviceName, ids.length, prefillSeconds,
                prefilled > ids.length ? ", " + prefilled + " tokens prefilled in all" : "");
        return 0;
    }

    /**
     * The --dtype of generate, bench generate and serve, given their --device: on the CPU bf16 unless
     * told fp32; on the GPU fp32, the only precision its decoder has.
     */
    static Inference.Precision precision(String dtype, String device) {
        if (CudaCommand.onGpu(device)) {
            if (dtype != null && !dtype.equals("fp32")) {
                throw new JgptException("--dtype " + dtype + ": the GPU decoder (--device cuda) runs fp32 only; give --dtype fp32 or leave --dtype out");
            }
            return Inference.Precision.FP32;
        }
        if (dtype == null) return Inference.Precision.BF16;
        for (Inference.Precision p : Inference.Precision.values()) {
            if (p.toString().equals(dtype)) return p;
        }
        throw new JgptException("--dtype must be bf16 or fp32, got '" + dtype + "'");
    }

    /** The decoder of --device: the CPU's at {@code precision}, or the GPU's when {@code cuda} is open. */
    static Decoder decoder(Gpt gpt, Inference.Precision precision, Cuda cuda) {
        return cuda == null ? new Inference(gpt, precision) : new CudaDecoder(cuda, gpt);
    }

    private void validateOptions() {
        if (model == null) throw new JgptException("give the model with --model PATH");
        if (maxTokens < 1) throw new JgptException("--max-tokens must be >= 1, got " + maxTokens);
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new JgptException("--temperature must be a number >= 0 (0 = greedy), got " + temperature);
        }
        if (topK < 0) throw new JgptException("--top-k must be >= 0 (0 = no limit), got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new JgptException("--top-p must be in (0, 1], got " + topP);
        if (threads != null && threads < 1) throw new JgptException("--threads must be >= 1, got " + threads);
        if (numSamples < 1) throw new JgptException("--num-samples must be >= 1, got " + numSamples);
        if ((prompt == null) == (promptFile == null)) {
            throw new JgptException(prompt == null ? "give the prompt with --prompt TEXT or --prompt-file FILE"
                    : "--prompt and --prompt-file exclude each other");
        }
    }

    private String promptText() throws IOException {
        return prompt != null ? prompt : TokenizeCommand.readText(promptFile, "--prompt-file");
    }

    private String promptOption() {
        return prompt != null ? "--prompt" : "--prompt-file " + promptFile;
    }
}
