package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.data.Prepare;
import dev.jgpt.data.ShardFormat;
import dev.jgpt.io.AtomicFiles;
import dev.jgpt.tensor.Parallel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code jgpt prepare}: tokenize a corpus into shards (build-nanogpt's fineweb.py). */
@Command(name = "prepare",
        mixinStandardHelpOptions = true,
        description = {
                "Tokenize a corpus with GPT-2's tokenizer into token shards for training.",
                "Each document is prefixed with <|endoftext|>; the first shard is the validation shard.",
                "Examples:",
                "  jgpt prepare                          # the JDK's sources into data/jdk",
                "  jgpt prepare --source input.txt       # a text file into data/input",
                "  jgpt prepare --source docs.parquet --format hdf5 --shard-size 10M",
        })
public final class PrepareCommand implements Callable<Integer> {
    @Option(names = "--source", defaultValue = "jdk-src", paramLabel = "SOURCE",
            description = "jdk-src (the running JDK's lib/src.zip, offline), shakespeare or fineweb-edu "
                    + "(downloaded), or a file or folder: .txt and other text files, .jsonl[.gz], .parquet, .zip. "
                    + "Default: ${DEFAULT-VALUE}.")
    String source;

    @Option(names = "--out", paramLabel = "DIR", description = "Output directory. Default: data/<source name>.")
    Path out;

    @Option(names = "--format", defaultValue = "bin", paramLabel = "FORMAT",
            description = "bin (llm.c), npy (numpy) or hdf5. Default: ${DEFAULT-VALUE}.")
    String format;

    @Option(names = "--shard-size", defaultValue = "100M", paramLabel = "TOKENS",
            description = "Tokens per shard (k, M, G suffixes). Default: ${DEFAULT-VALUE}.")
    String shardSize;

    @Option(names = "--val-tokens", defaultValue = "auto", paramLabel = "TOKENS",
            description = "Tokens in the validation shard. Default: auto, about 10%% of the corpus, at most one shard.")
    String valTokens;

    @Option(names = "--max-tokens", paramLabel = "TOKENS", description = "Stop after this many tokens.")
    String maxTokens;

    @Option(names = "--text-field", defaultValue = "text", paramLabel = "NAME",
            description = "JSONL field or parquet column with the text. Default: ${DEFAULT-VALUE}.")
    String textField;

    @Option(names = "--threads", paramLabel = "N", description = "Tokenizer threads. Default: all cores.")
    Integer threads;

    @Option(names = "--downloads", defaultValue = "data/downloads", paramLabel = "DIR",
            description = "Where downloaded corpora are kept. Default: ${DEFAULT-VALUE}.")
    Path downloads;

    @Option(names = "--overwrite", description = "Start over: replace the shards an earlier jgpt prepare wrote into the output directory "
            + "(never other files: shards it did not write are refused). Without it, a prepare with the same settings that was "
            + "cut short there goes on after its last whole shard.")
    boolean overwrite;

    @Override
    public Integer call() {
        if (out != null) AtomicFiles.checkNotUnderAFile(out, "--out");
        Prepare.Options options = new Prepare.Options(
                source,
                out != null ? out : Prepare.defaultOut(source),
                ShardFormat.parse(format),
                tokens("--shard-size", shardSize),
                valTokens.equalsIgnoreCase("auto") ? 0 : tokens("--val-tokens", valTokens),
                maxTokens == null ? 0 : tokens("--max-tokens", maxTokens),
                overwrite,
                threads == null ? Runtime.getRuntime().availableProcessors()
                        : Parallel.threadsFor(threads, "--threads", System.err::println),
                textField,
                downloads,
                true);
        Prepare.Summary summary = Prepare.run(options);
        System.out.println(summary.describe());
        return 0;
    }

    /** Parses a token count: 1000, 10k, 100M, 1G, 1e8, 1_000_000. */
    static long tokens(String option, String value) {
        String v = value.trim().replace("_", "").replace(",", "");
        long scale = 1;
        if (!v.isEmpty()) {
            switch (Character.toLowerCase(v.charAt(v.length() - 1))) {
                case 'k' -> scale = 1_000L;
                case 'm' -> scale = 1_000_000L;
                case 'g', 'b' -> scale = 1_000_000_000L;
                default -> scale = 1;
            }
        }
        if (scale != 1) {
            v = v.substring(0, v.length() - 1);
        }
        try {
            double d = Double.parseDouble(v) * scale;
            if (d < 1 || d != Math.rint(d) || d > Long.MAX_VALUE) {
                throw new NumberFormatException();
            }
            return (long) d;
        } catch (NumberFormatException e) {
            throw new JgptException(option + ": '" + value + "' is not a positive whole number of tokens (like 100M or 5000)");
        }
    }
}
