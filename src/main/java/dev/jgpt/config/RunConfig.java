package dev.jgpt.config;

import dev.jgpt.JgptException;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.MemoryEstimate;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.Tag;

import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Everything a training run is configured by, one record per YAML section:
 *
 * <pre>
 * model: shape of the network (a GPT-2 preset or custom), or weights to start from
 * data:  token shards and the order they are read in
 * train: batch geometry, learning-rate schedule, AdamW, clipping, seeds, threads
 * eval:  validation loss, HellaSwag, samples, checkpoints
 * log:   run directory and print interval
 * </pre>
 *
 * Built by {@link #load(Path)} or {@link #defaults()}, adjusted with {@link #withOverrides(List)}
 * ({@code --set section.key=value}), written back by {@link #toYaml()}. Every way in validates:
 * an unknown key or a bad value is one {@link JgptException} naming the key, the value and what is
 * allowed, and the file or {@code --set} option it came from.
 */
public record RunConfig(ModelConfig model, DataConfig data, TrainConfig train, EvalConfig eval, LogConfig log) {

    public static final List<String> SECTIONS = List.of("model", "data", "train", "eval", "log");

    /** A micro-batch's logits (B·T·padded vocabulary) live in one Java float array. */
    static final long MAX_LOGITS = Integer.MAX_VALUE - 16;

    /** Keys whose --set value is taken verbatim, so a prompt like "No" or "[x]" stays text. */
    private static final Set<String> TEXT_KEYS = Stream.of(ModelConfig.TEXT_KEYS, DataConfig.SECTION.textKeys(),
            TrainConfig.SECTION.textKeys(), EvalConfig.SECTION.textKeys(), LogConfig.SECTION.textKeys())
            .flatMap(List::stream).collect(Collectors.toSet());

    /** build-nanogpt's GPT-2 124M run (see configs/gpt2-124m.yaml). */
    public static RunConfig defaults() {
        return fromTree(new LinkedHashMap<>(), ConfigSource.file(null));
    }

    /** Reads and validates a YAML file; errors name the file. */
    public static RunConfig load(Path yaml) {
        return load(yaml, List.of());
    }

    /**
     * Reads a YAML file and applies {@code section.key=value} overrides on top of it before
     * validating, so errors in the file name the file and errors in an override name the override.
     */
    public static RunConfig load(Path yaml, List<String> overrides) {
        String text;
        try {
            text = Files.readString(yaml, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new JgptException(yaml + ": config file not found");
        } catch (MalformedInputException e) {
            throw new JgptException(yaml + ": config file is not UTF-8 text");
        } catch (IOException e) {
            throw new JgptException(yaml + ": cannot read config file (" + e.getMessage() + ")", e);
        }
        return parse(text, yaml.toString(), overrides);
    }

    /** Parses YAML text; {@code origin} names it in errors (a file name, or null). */
    public static RunConfig parse(String yamlText, String origin, List<String> overrides) {
        String where = origin == null ? "config: " : origin + ": ";
        Object doc;
        try {
            doc = yaml().load(yamlText);
        } catch (MarkedYAMLException e) {
            Mark m = e.getProblemMark();
            String at = m == null ? "" : (m.getLine() + 1) + ":" + (m.getColumn() + 1) + ": ";
            throw new JgptException(where + at + "invalid YAML: " + oneLine(e.getProblem()), e);
        } catch (YAMLException e) {
            throw new JgptException(where + "invalid YAML: " + oneLine(e.getMessage()), e);
        }
        Map<String, Object> tree = new LinkedHashMap<>();
        if (doc instanceof Map<?, ?> map) {
            for (Map.Entry<?, ?> e : map.entrySet()) tree.put(String.valueOf(e.getKey()), e.getValue());
        } else if (doc != null) {
            throw new JgptException(where + "a config must be a mapping of sections (" + String.join(", ", SECTIONS)
                    + "), not " + ConfigSection.show(doc));
        }
        keepTextAsWritten(yamlText, tree);
        Map<String, String> applied = applyOverrides(tree, overrides);
        return fromTree(tree, new ConfigSource(origin, applied));
    }

    /**
     * YAML 1.1 reads a plain {@code 0123} as the number 83, {@code on} and {@code No} as booleans and
     * {@code 1.10} as 1.1. A text key (a run name, a path, a prompt) takes such a scalar as it is
     * written, as --set does, so {@code name: 0123} names the run 0123, not 83.
     */
    @SuppressWarnings("unchecked")
    private static void keepTextAsWritten(String yamlText, Map<String, Object> tree) {
        if (!(yaml().compose(new StringReader(yamlText)) instanceof MappingNode doc)) return;
        for (NodeTuple section : doc.getValue()) {
            if (!(section.getKeyNode() instanceof ScalarNode name) || !(section.getValueNode() instanceof MappingNode keys)
                    || !(tree.get(name.getValue()) instanceof Map<?, ?> values)) continue;
            for (NodeTuple entry : keys.getValue()) {
                if (entry.getKeyNode() instanceof ScalarNode key && entry.getValueNode() instanceof ScalarNode value
                        && TEXT_KEYS.contains(name.getValue() + "." + key.getValue())
                        && value.getScalarStyle() == DumperOptions.ScalarStyle.PLAIN
                        && (value.getTag().equals(Tag.INT) || value.getTag().equals(Tag.FLOAT) || value.getTag().equals(Tag.BOOL))) {
                    ((Map<Object, Object>) values).put(key.getValue(), value.getValue());
                }
            }
        }
    }

    /** This configuration with {@code section.key=value} settings applied, validated again. */
    public RunConfig withOverrides(List<String> overrides) {
        Map<String, Object> tree = toTree();
        Map<String, String> applied = applyOverrides(tree, overrides);
        return fromTree(tree, new ConfigSource(null, applied));
    }

    /** The same run under another directory name, which must pass log.name's rule. */
    public RunConfig withRunName(String name) {
        return withRunName(name, "log.name");
    }

    /** As {@link #withRunName(String)}; {@code option} (e.g. --name) is named when the name is refused. */
    public RunConfig withRunName(String name, String option) {
        return new RunConfig(model, data, train, eval, log.withName(name, option));
    }

    /** The fully resolved configuration as YAML; {@link #parse} or {@link #load} gives back an equal record. */
    public String toYaml() {
        DumperOptions options = new DumperOptions();
        options.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        options.setIndent(2);
        options.setWidth(Integer.MAX_VALUE);
        options.setSplitLines(false);
        return "# jgpt run configuration, fully resolved (every key, defaults included)\n"
                + new Yaml(options).dump(toTree());
    }

    // ---- derived values --------------------------------------------------------------------

    /**
     * Why the CPU engine cannot train this config's micro-batch, or null: its logits (B·T·padded
     * vocabulary) live in one Java array there. The GPU engine has no such limit, so with train.device
     * auto this is checked once the device is known.
     */
    public String cpuLimit() {
        return cpuLimit(train, model.shape());
    }

    private static String cpuLimit(TrainConfig train, GptConfig shape) {
        long logits = (long) train.microBatchSize() * train.seqLen() * shape.paddedVocabSize();
        if (logits <= MAX_LOGITS) return null;
        long maxB = MAX_LOGITS / ((long) train.seqLen() * shape.paddedVocabSize());
        return "train.micro_batch_size = " + train.microBatchSize() + " with train.seq_len = " + train.seqLen() + " needs " + logits
                + " logits in one array, more than Java allows on the CPU; use train.micro_batch_size <= " + maxB
                + " (gradient accumulation keeps train.total_batch_size), or train.device: cuda";
    }

    /** The heap this run needs on the CPU: checked before a run allocates anything, printed when it starts. */
    public MemoryEstimate memoryEstimate() {
        return memoryEstimate(false);
    }

    /** The heap this run needs, training on a GPU ({@code onGpu}: only host copies in the heap) or on the CPU. */
    public MemoryEstimate memoryEstimate(boolean onGpu) {
        int samples = eval.sampleEvery() > 0 ? eval.numSamples() : 0;
        return onGpu ? MemoryEstimate.trainingOnGpu(model.shape(), samples)
                : MemoryEstimate.training(model.shape(), train.microBatchSize(), train.seqLen(), samples);
    }

    /** Forward/backward passes per optimizer step in each of {@code worldSize} processes. */
    public int gradAccumSteps(int worldSize) {
        return train.gradAccumSteps(worldSize);
    }

    // ---- tree <-> records ----------------------------------------------------------------

    private static RunConfig fromTree(Map<String, Object> tree, ConfigSource source) {
        for (String section : tree.keySet()) {
            if (!SECTIONS.contains(section)) {
                throw new JgptException(source.where(section) + "unknown section " + section
                        + " (sections: " + String.join(", ", SECTIONS) + ")");
            }
        }
        refuseKeysOfOtherSections(tree, source);
        ModelConfig model = ModelConfig.from(tree, source);
        DataConfig data = DataConfig.from(tree, source);
        TrainConfig train = TrainConfig.from(tree, source);
        EvalConfig eval = EvalConfig.from(tree, source);
        LogConfig log = LogConfig.from(tree, source);

        GptConfig shape = model.shape();
        if (train.seqLen() > shape.blockSize()) {
            throw new JgptException(source.where("train.seq_len", "model.block_size") + "train.seq_len = "
                    + train.seqLen() + " must be <= model.block_size = " + shape.blockSize()
                    + " (the position embedding covers block_size tokens)");
        }
        if (eval.sampleMaxTokens() > shape.blockSize()) {
            throw new JgptException(source.where("eval.sample_max_tokens", "model.block_size")
                    + "eval.sample_max_tokens = " + eval.sampleMaxTokens() + " must be <= model.block_size = "
                    + shape.blockSize());
        }
        String cpuLimit = cpuLimit(train, shape);
        if (cpuLimit != null && train.device() == TrainConfig.Device.CPU) {
            throw new JgptException(source.where("train.micro_batch_size", "train.seq_len", "train.device") + cpuLimit);
        }
        if (eval.topK() > shape.vocabSize()) {
            throw new JgptException(source.where("eval.top_k", "model.vocab_size") + "eval.top_k = "
                    + eval.topK() + " must be <= model.vocab_size = " + shape.vocabSize() + " (or 0 for no cut)");
        }
        if (eval.sampleEvery() > 0) checkSamplePrompt(eval, shape, source);
        return new RunConfig(model, data, train, eval, log);
    }

    /**
     * A key written under the wrong section (max_lr under model:, a mis-indented line) is named with
     * the section it belongs to; a key no section has is left to the section's own list of keys.
     */
    private static void refuseKeysOfOtherSections(Map<String, Object> tree, ConfigSource source) {
        Map<String, List<String>> keysOf = new LinkedHashMap<>();
        keysOf.put("model", ModelConfig.KEYS);
        keysOf.put("data", DataConfig.SECTION.names());
        keysOf.put("train", TrainConfig.SECTION.names());
        keysOf.put("eval", EvalConfig.SECTION.names());
        keysOf.put("log", LogConfig.SECTION.names());
        for (Map.Entry<String, Object> section : tree.entrySet()) {
            if (!(section.getValue() instanceof Map<?, ?> values)) continue;
            for (Object k : values.keySet()) {
                String key = String.valueOf(k);
                if (keysOf.get(section.getKey()).contains(key)) continue;
                List<String> owners = keysOf.keySet().stream().filter(s -> keysOf.get(s).contains(key)).toList();
                if (owners.isEmpty()) continue;
                String path = section.getKey() + "." + key;
                throw new JgptException(source.where(path) + "unknown key " + path + ": " + key + " is a key of "
                        + String.join(" and ", owners) + ", not of " + section.getKey() + " ("
                        + owners.stream().map(o -> o + "." + key).collect(Collectors.joining(", ")) + ")");
            }
        }
    }

    /**
     * The samples continue the prompt up to eval.sample_max_tokens, prompt included, with tokens the
     * model knows: a prompt that fills them, or holds an id past a small custom vocabulary, is refused
     * here rather than failing the run at its first round of samples.
     */
    private static void checkSamplePrompt(EvalConfig eval, GptConfig shape, ConfigSource source) {
        int[] prompt = Gpt2Tokenizer.get().encode(eval.samplePrompt());
        String where = source.where("eval.sample_prompt", "eval.sample_max_tokens", "model.block_size");
        if (prompt.length >= eval.sampleMaxTokens()) {
            throw new JgptException(where + "eval.sample_prompt is " + prompt.length + " tokens, which leaves none of"
                    + " eval.sample_max_tokens = " + eval.sampleMaxTokens() + " (prompt included, at most model.block_size = "
                    + shape.blockSize() + ") to sample; shorten the prompt, raise eval.sample_max_tokens, or set"
                    + " eval.sample_every: 0");
        }
        for (int id : prompt) {
            if (id >= shape.vocabSize()) {
                throw new JgptException(source.where("eval.sample_prompt", "model.vocab_size") + "eval.sample_prompt holds"
                        + " GPT-2 token " + id + ", past model.vocab_size = " + shape.vocabSize()
                        + "; give a prompt of smaller ids, or set eval.sample_every: 0");
            }
        }
    }

    private Map<String, Object> toTree() {
        Map<String, Object> tree = new LinkedHashMap<>();
        tree.put("model", model.toMap());
        tree.put("data", DataConfig.SECTION.toMap(data));
        tree.put("train", TrainConfig.SECTION.toMap(train));
        tree.put("eval", EvalConfig.SECTION.toMap(eval));
        tree.put("log", LogConfig.SECTION.toMap(log));
        return tree;
    }

    /**
     * Sets each {@code section.key=value} in the tree (later settings win) and returns which keys
     * were set, with their --set text, for error messages. Setting a key drops the keys derived
     * from it that were not set themselves, so the derived default follows: a named model.preset
     * re-derives the shape, vocab_size re-derives padded_vocab_size, and min_lr / min_lr_ratio
     * replace each other.
     */
    private static Map<String, String> applyOverrides(Map<String, Object> tree, List<String> overrides) {
        Map<String, String> applied = new LinkedHashMap<>();
        for (String setting : overrides) {
            int eq = setting.indexOf('=');
            String[] name = eq < 0 ? new String[0] : setting.substring(0, eq).trim().split("\\.", -1);
            if (name.length != 2 || name[0].isBlank() || name[1].isBlank()) {
                throw new JgptException("--set " + setting + ": expected section.key=value, like train.max_lr=3e-4");
            }
            String section = name[0].trim();
            String key = name[1].trim();
            String rawValue = setting.substring(eq + 1).trim();
            if (!SECTIONS.contains(section)) {
                throw new JgptException("--set " + setting + ": unknown section " + section
                        + " (sections: " + String.join(", ", SECTIONS) + ")");
            }
            String path = section + "." + key;
            Map<String, Object> values = sectionMap(tree, section);
            values.put(key, overrideValue(path, rawValue));
            applied.put(path, setting.trim());
        }
        dropDerived(tree, applied, "model.preset", List.of("model.n_layer", "model.n_head", "model.n_embd"),
                v -> v != null && !ModelConfig.CUSTOM.equals(v));
        dropDerived(tree, applied, "model.vocab_size", List.of("model.padded_vocab_size"), v -> true);
        dropDerived(tree, applied, "train.min_lr", List.of("train.min_lr_ratio"), v -> true);
        dropDerived(tree, applied, "train.min_lr_ratio", List.of("train.min_lr"), v -> true);
        return applied;
    }

    private static void dropDerived(Map<String, Object> tree, Map<String, String> applied, String setKey,
                                    List<String> derived, java.util.function.Predicate<Object> when) {
        if (!applied.containsKey(setKey)) return;
        String section = setKey.substring(0, setKey.indexOf('.'));
        Map<String, Object> values = sectionMap(tree, section);
        if (!when.test(values.get(setKey.substring(section.length() + 1)))) return;
        for (String d : derived) {
            if (!applied.containsKey(d)) values.remove(d.substring(section.length() + 1));
        }
    }

    /** The section's mutable map inside the tree, created or expanded (model: gpt2) as needed. */
    private static Map<String, Object> sectionMap(Map<String, Object> tree, String section) {
        Object raw = tree.get(section);
        Map<String, Object> values = new LinkedHashMap<>();
        if (raw instanceof Map<?, ?> map) {
            for (Map.Entry<?, ?> e : map.entrySet()) values.put(String.valueOf(e.getKey()), e.getValue());
        } else if (raw instanceof String name && section.equals("model")) {
            values.put("preset", name);
        } else if (raw != null) {
            return values; // not a mapping: left as it is for validation to report
        }
        tree.put(section, values);
        return values;
    }

    /** A --set value read as YAML (so 3e-4, 12 and null mean what they mean in the file), text keys verbatim. */
    private static Object overrideValue(String path, String raw) {
        if (raw.isEmpty() || raw.equals("null") || raw.equals("~")) return null;
        if (TEXT_KEYS.contains(path)) return raw;
        try {
            Object v = yaml().load(raw);
            return v instanceof Map || v instanceof List ? raw : v;
        } catch (YAMLException e) {
            return raw;
        }
    }

    private static Yaml yaml() {
        LoaderOptions options = new LoaderOptions();
        options.setAllowDuplicateKeys(false);
        return new Yaml(new SafeConstructor(options));
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s*\\n\\s*", " ").trim();
    }
}
