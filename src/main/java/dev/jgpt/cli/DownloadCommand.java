package dev.jgpt.cli;

import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;
import dev.jgpt.io.Download;
import dev.jgpt.io.Downloads;
import dev.jgpt.io.HfCheckpoint;
import dev.jgpt.io.HuggingFaceHub;
import dev.jgpt.model.GptConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/** {@code jgpt download}: GPT-2's weights, HellaSwag and FineWeb-Edu, each into the place jgpt looks for it. */
@Command(name = "download",
        mixinStandardHelpOptions = true,
        description = {
                "Download OpenAI's GPT-2 weights (HuggingFace Hub), HellaSwag's validation set or FineWeb-Edu sample-10BT.",
                "Sizes and sha256 are checked; an interrupted download continues where it stopped when run again.",
                "Examples:",
                "  jgpt download gpt2                       # models/gpt2 (548 MB)",
                "  jgpt download hellaswag                  # data/hellaswag/hellaswag_val.jsonl",
                "  jgpt download fineweb-edu --max-files 1  # the first parquet file of 14, for prepare",
                "HF_ENDPOINT, when set, names a mirror of the Hub.",
        })
public final class DownloadCommand implements Callable<Integer> {
    @Parameters(paramLabel = "NAME", description = "gpt2, gpt2-medium, gpt2-large, gpt2-xl, hellaswag or fineweb-edu.")
    String name;

    @Option(names = "--out", paramLabel = "DIR",
            description = "Folder to download into. Default: models/NAME for models, data/hellaswag, "
                    + "data/downloads/fineweb-edu-10BT (where prepare --source fineweb-edu reads).")
    Path out;

    @Option(names = "--max-files", paramLabel = "N", description = "fineweb-edu only: the first N parquet files (~2 GB each).")
    Integer maxFiles;

    @Override
    public Integer call() throws IOException {
        if (!Downloads.NAMES.contains(name)) throw Downloads.unknown(name);
        if (maxFiles != null && !name.equals(Downloads.FINEWEB_EDU)) {
            throw new JgptException("--max-files applies to fineweb-edu only");
        }
        if (maxFiles != null && maxFiles < 1) throw new JgptException("--max-files must be at least 1, got " + maxFiles);
        Path dir = out != null ? out : Downloads.defaultOut(name);
        String option = out != null ? "--out " + out : dir.toString();
        HuggingFaceHub hub = HuggingFaceHub.fromEnvironment();
        AtomicFiles.checkNotUnderAFile(dir, out != null ? "--out" : "the folder");
        if (Downloads.MODELS.contains(name)) HfCheckpoint.checkOutputFolder(dir, option);
        else if (Files.exists(dir) && !Files.isDirectory(dir)) throw new JgptException(option + ": exists and is not a folder");
        List<Path> created = AtomicFiles.missingFolders(dir);
        try {
            download(dir, hub);
        } catch (RuntimeException | IOException e) {
            // what was fetched stays for the next run to continue; folders left empty go
            AtomicFiles.removeIfEmpty(created);
            throw e;
        }
        return 0;
    }

    private void download(Path dir, HuggingFaceHub hub) throws IOException {
        Download download = Download.standard();
        if (Downloads.MODELS.contains(name)) {
            download.fetchAll(name, dir, Downloads.model(hub, download, name, dir));
            GptConfig cfg = HfCheckpoint.readConfig(dir);
            System.out.printf("%s: GPT-2 with %,d parameters (%d layers, %d heads, n_embd %d)%n", dir, cfg.realParameterCount(),
                    cfg.nLayer(), cfg.nHead(), cfg.nEmbd());
            System.out.println("try: jgpt generate --model " + JgptException.shellWord(dir) + " --prompt \"Hello, I'm a language model,\"");
        } else if (name.equals(Downloads.HELLASWAG)) {
            Path file = download.fetch(Downloads.hellaswag(dir));
            long items;
            try (Stream<String> lines = Files.lines(file)) {
                items = lines.filter(l -> !l.isBlank()).count();
            }
            System.out.printf("%s: %,d HellaSwag validation items%n", file, items);
            System.out.println("use: jgpt eval --model M --hellaswag " + JgptException.shellWord(file) + "   (or eval.hellaswag_file in a training config)");
        } else {
            List<Download.Remote> files = Downloads.finewebEdu(hub, download, dir, maxFiles == null ? 0 : maxFiles);
            List<Download.Remote> todo = download.plan("fineweb-edu", dir, files);
            if (maxFiles == null) Download.keepListing(dir, files); // the folder can be copied to a machine offline
            for (Download.Remote f : todo) download.fetch(f);
            System.out.printf("%s: %d FineWeb-Edu parquet file%s%n", dir, files.size(), files.size() == 1 ? "" : "s");
            // prepare --source fineweb-edu reads all 14 files of the default folder, fetching what is missing
            boolean all = maxFiles == null && dir.normalize().equals(Downloads.defaultOut(name));
            System.out.println("tokenize: jgpt prepare --source " + (all ? Downloads.FINEWEB_EDU : JgptException.shellWord(dir)));
        }
    }
}
