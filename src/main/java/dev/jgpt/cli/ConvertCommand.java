package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;
import dev.jgpt.io.HfCheckpoint;
import dev.jgpt.io.ModelCard;
import dev.jgpt.io.ModelFiles;
import dev.jgpt.model.Gpt;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** Between HuggingFace safetensors directories and llm.c .bin files. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert GPT-2 weights between a HuggingFace directory (config.json + model.safetensors) "
                + "and an llm.c .bin file; the output kind follows the --out path (.bin or a directory). "
                + "A directory gets a complete HuggingFace folder: weights, config, generation config, "
                + "GPT-2's tokenizer files and a README.md model card.")
public final class ConvertCommand implements Callable<Integer> {
    @Option(names = "--in", required = true, description = "HuggingFace model directory or llm.c .bin file")
    Path in;

    @Option(names = "--out", required = true, description = "a .bin path (llm.c, fp32) or a directory (a complete HuggingFace folder)")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (in.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new JgptException("--out must differ from --in");
        }
        // refused before the weights are read: a folder of the user's files is never written into
        AtomicFiles.checkNotUnderAFile(out, "--out");
        if (!out.getFileName().toString().endsWith(".bin")) HfCheckpoint.checkOutputFolder(out, "--out " + out);
        Gpt model = ModelFiles.load(in);
        ModelFiles.save(model, out, ModelCard.of("Converted by `jgpt convert` from `" + in + "`."));
        // the count transformers reports, as the card and download say: the padded vocabulary's extra rows hold no token
        System.err.printf("wrote %s (%,d parameters, %d layers, %d heads, n_embd %d, vocab %d)%n", out,
                model.config.realParameterCount(), model.config.nLayer(), model.config.nHead(), model.config.nEmbd(),
                model.config.vocabSize());
        return 0;
    }
}
