package dev.jgpt.io;

import dev.jgpt.JgptException;

import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code jgpt download} fetches, and from where: OpenAI's GPT-2 weights from the HuggingFace Hub,
 * HellaSwag's validation set from its GitHub repository, FineWeb-Edu's sample-10BT from the Hub.
 */
public final class Downloads {
    public static final List<String> MODELS = List.of("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl");
    public static final String HELLASWAG = "hellaswag";
    public static final String FINEWEB_EDU = "fineweb-edu";
    public static final List<String> NAMES = List.of("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", HELLASWAG, FINEWEB_EDU);

    /** Where {@code prepare} keeps downloaded corpora, and the folder of FineWeb-Edu's files in it. */
    public static final Path CORPORA = Path.of("data", "downloads");
    public static final String FINEWEB_FOLDER = "fineweb-edu-10BT";
    public static final String HELLASWAG_FILE = "hellaswag_val.jsonl";

    /** The Hub keeps OpenAI's four GPT-2 sizes under this owner. */
    static final String MODEL_OWNER = "openai-community/";
    /** The files of a model repository that make a HuggingFace GPT-2 folder (the Hub's repos also hold other frameworks' weights). */
    static final List<String> MODEL_FILES = HfCheckpoint.FILES;
    static final URI HELLASWAG_URL =
            URI.create("https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl");
    static final String FINEWEB_REPO = "HuggingFaceFW/fineweb-edu";
    static final String FINEWEB_SAMPLE = "sample/10BT";

    private Downloads() {
    }

    /** Where a download goes unless --out says otherwise. */
    public static Path defaultOut(String name) {
        if (MODELS.contains(name)) return Path.of("models", name);
        return switch (name) {
            case HELLASWAG -> Path.of("data", "hellaswag");
            case FINEWEB_EDU -> CORPORA.resolve(FINEWEB_FOLDER);
            default -> throw unknown(name);
        };
    }

    public static JgptException unknown(String name) {
        return new JgptException("no such download '" + name + "' (one of: " + String.join(", ", NAMES) + ")");
    }

    /** A GPT-2 model's folder: weights, config and tokenizer, each with its size, the weights with their sha256. */
    public static List<Download.Remote> model(HuggingFaceHub hub, Download download, String name, Path out) {
        if (!MODELS.contains(name)) throw unknown(name);
        String repo = MODEL_OWNER + name;
        Map<String, HuggingFaceHub.File> byPath = new HashMap<>();
        for (HuggingFaceHub.File f : hub.list(download, HuggingFaceHub.Kind.MODEL, repo, "")) byPath.put(f.path(), f);
        for (String required : List.of(HfCheckpoint.CONFIG, HfCheckpoint.WEIGHTS)) {
            if (!byPath.containsKey(required)) {
                throw new JgptException("the Hub's " + repo + " has no " + required + " (" + hub.fileUrl(HuggingFaceHub.Kind.MODEL, repo, required) + ")");
            }
        }
        List<Download.Remote> files = new ArrayList<>();
        for (String path : MODEL_FILES) {
            HuggingFaceHub.File f = byPath.get(path);
            if (f != null) {
                files.add(new Download.Remote(hub.fileUrl(HuggingFaceHub.Kind.MODEL, repo, path), out.resolve(path), f.size(), f.sha256()));
            }
        }
        return files;
    }

    /** HellaSwag's 10,042 validation items, rowanz/hellaswag's {@code data/hellaswag_val.jsonl}; GitHub gives its size only. */
    public static Download.Remote hellaswag(Path out) {
        return new Download.Remote(HELLASWAG_URL, out.resolve(HELLASWAG_FILE));
    }

    /** FineWeb-Edu sample-10BT's parquet files in name order, the first {@code maxFiles} (0 = all), with size and sha256. */
    public static List<Download.Remote> finewebEdu(HuggingFaceHub hub, Download download, Path out, int maxFiles) {
        List<HuggingFaceHub.File> listed;
        try {
            listed = hub.list(download, HuggingFaceHub.Kind.DATASET, FINEWEB_REPO, FINEWEB_SAMPLE);
        } catch (JgptException offline) {
            // the list an earlier download kept in the folder (this one, or the one it was copied from)
            List<Download.Remote> kept = Download.keptListing(out);
            if (kept == null) throw offline;
            return maxFiles > 0 && maxFiles < kept.size() ? kept.subList(0, maxFiles) : kept;
        }
        List<HuggingFaceHub.File> parquet = new ArrayList<>(listed.stream().filter(f -> f.path().endsWith(".parquet")).toList());
        if (parquet.isEmpty()) {
            throw new JgptException("the Hub's " + FINEWEB_REPO + " lists no parquet files in " + FINEWEB_SAMPLE);
        }
        parquet.sort(Comparator.comparing(HuggingFaceHub.File::path));
        if (maxFiles > 0 && maxFiles < parquet.size()) parquet = parquet.subList(0, maxFiles);
        List<Download.Remote> files = new ArrayList<>();
        for (HuggingFaceHub.File f : parquet) {
            String name = f.path().substring(f.path().lastIndexOf('/') + 1);
            files.add(new Download.Remote(hub.fileUrl(HuggingFaceHub.Kind.DATASET, FINEWEB_REPO, f.path()), out.resolve(name),
                    f.size(), f.sha256()));
        }
        return files;
    }
}
