package dev.jgpt.io;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import dev.jgpt.JgptException;
import dev.jgpt.kernels.LayerNorm;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.model.GptLayout;
import dev.jgpt.tensor.View;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import dev.jgpt.tokenizer.HfTokenizerFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.stream.Stream;

/**
 * A HuggingFace GPT-2 folder. Reading needs config.json and model.safetensors, tensors named
 * as GPT2Model names them (optionally under {@code transformer.}), Conv1D weights stored [in, out].
 * Extra tensors HF files carry ({@code lm_head.weight}, tied to wte; the {@code attn.bias} causal
 * masks of older files) are accepted and ignored. Writing gives the whole folder that
 * {@code from_pretrained} and the Hub expect: tokenizer, generation config and model card too.
 */
public final class HfCheckpoint {
    public static final String CONFIG = "config.json";
    public static final String WEIGHTS = "model.safetensors";
    public static final String GENERATION_CONFIG = "generation_config.json";
    public static final String CARD = "README.md";
    private static final Gson PRETTY = new GsonBuilder().setPrettyPrinting().create();

    private HfCheckpoint() {
    }

    /**
     * Every file a GPT-2 model folder holds, jgpt's and the Hub's alike: what {@link #save} writes and
     * {@code download} fetches, in this order, so a download cut short has config.json or its .part.
     */
    public static final List<String> FILES = Stream.of(List.of(CONFIG, GENERATION_CONFIG, WEIGHTS), HfTokenizerFiles.NAMES,
            List.of(CARD)).flatMap(List::stream).toList();

    public static boolean isHfDirectory(Path dir) {
        return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve(CONFIG)) && Files.isRegularFile(dir.resolve(WEIGHTS));
    }

    /**
     * Refuses to write a model folder into {@code dir} when that would replace files jgpt did not
     * write: {@code dir} must be missing, empty, a GPT-2 model folder already (a config.json that reads
     * as GPT-2's, beside model.safetensors or its .part), or a write or download of one cut short (a
     * model folder's files, their .part and jgpt's temporary files only, with config.json, the
     * weights or a temporary file among them). Its files are then the model's,
     * written by jgpt or the Hub, and rewriting them loses nothing of the user's; a README.md or
     * config.json of a folder of notes would be lost. The error is one line that starts with
     * {@code name} (the option, like {@code --out D}).
     */
    public static void checkOutputFolder(Path dir, String name) throws IOException {
        if (!Files.exists(dir)) return;
        if (!Files.isDirectory(dir)) throw new JgptException(name + ": exists and is not a folder");
        List<String> entries;
        try (Stream<Path> s = Files.list(dir)) {
            entries = s.map(p -> p.getFileName().toString()).sorted().toList();
        }
        if (entries.isEmpty()) return;
        boolean gpt2Config = isGpt2Config(dir);
        if (gpt2Config && (Files.isRegularFile(dir.resolve(WEIGHTS)) || Files.isRegularFile(AtomicFiles.partFile(dir.resolve(WEIGHTS))))) {
            return;
        }
        List<String> foreign = entries.stream()
                .filter(n -> !FILES.contains(n) && !FILES.contains(n.replaceFirst("\\.part$", "")) && !AtomicFiles.isTemporary(n))
                .toList();
        // begun as a model folder: a config (or its download), the weights (jgpt writes them first), or a
        // write of jgpt's cut short; a folder of tokenizer files or a README.md alone is not one
        boolean begun = gpt2Config || Files.isRegularFile(AtomicFiles.partFile(dir.resolve(CONFIG)))
                || Files.isRegularFile(dir.resolve(WEIGHTS)) || Files.isRegularFile(AtomicFiles.partFile(dir.resolve(WEIGHTS)))
                || entries.stream().anyMatch(AtomicFiles::isTemporary);
        if (foreign.isEmpty() && begun) return;
        List<String> named = foreign.isEmpty() ? entries : foreign;
        String listed = String.join(", ", named.subList(0, Math.min(named.size(), 5))) + (named.size() > 5 ? ", ..." : "");
        String config = Files.exists(dir.resolve(CONFIG)) && !gpt2Config ? "; its " + CONFIG + " is not a GPT-2 config" : "";
        throw new JgptException(name + ": not empty and not a GPT-2 model folder (it holds " + listed + config
                + "), so jgpt will not write over it: give a new or empty folder");
    }

    /** Whether {@code dir}'s config.json reads as a GPT-2 config (jgpt's or the Hub's). */
    private static boolean isGpt2Config(Path dir) {
        if (!Files.isRegularFile(dir.resolve(CONFIG))) return false;
        try {
            readConfig(dir);
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    public static GptConfig readConfig(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        if (!Files.isRegularFile(file)) throw new JgptException(dir + ": not a HuggingFace model directory (no " + CONFIG + ")");
        JsonElement root;
        try {
            root = JsonParser.parseString(Files.readString(file));
        } catch (JsonParseException e) {
            throw new JgptException(file + ": not valid JSON: " + JgptException.jsonReason(e));
        }
        if (!root.isJsonObject()) throw new JgptException(file + ": not a JSON object");
        JsonObject o = root.getAsJsonObject();
        checkComputedAsJgptDoes(file, o);
        int vocab = intField(file, o, "vocab_size", null);
        int padded = o.has("padded_vocab_size") ? intField(file, o, "padded_vocab_size", null) : GptConfig.padVocab(vocab);
        int layers = intField(file, o, "n_layer", null), heads = intField(file, o, "n_head", null);
        int embd = intField(file, o, "n_embd", null), positions = intField(file, o, "n_positions", "n_ctx");
        try {
            return new GptConfig(layers, heads, embd, positions, vocab, padded);
        } catch (JgptException e) {
            throw new JgptException(file + ": " + e.getMessage());
        }
    }

    /** HF's names for GPT-2's GELU, the tanh approximation jgpt computes; "gelu" (erf), "relu" and the rest are other functions. */
    private static final List<String> TANH_GELU = List.of("gelu_new", "gelu_pytorch_tanh", "gelu_fast");

    /**
     * Refuses a config whose settings make transformers compute something other than jgpt's GPT-2, which
     * would otherwise load (the weights have the same shapes) and give other logits without a word: another
     * model type, activation or LayerNorm epsilon, an output layer of its own, another attention scaling or
     * MLP width. A field left out means GPT2Config's default, which is jgpt's.
     */
    private static void checkComputedAsJgptDoes(Path file, JsonObject o) {
        String modelType = stringField(o, "model_type");
        if (modelType != null && !modelType.equals("gpt2")) {
            throw new JgptException(file + ": model_type \"" + modelType + "\": jgpt computes GPT-2 (\"gpt2\") only");
        }
        String activation = stringField(o, "activation_function");
        if (activation != null && !TANH_GELU.contains(activation)) {
            throw new JgptException(file + ": activation_function \"" + activation
                    + "\": jgpt computes GPT-2's gelu_new (GELU's tanh approximation) only, so this model's outputs would differ");
        }
        JsonElement eps = o.get("layer_norm_epsilon");
        if (eps != null && !eps.isJsonNull()
                && !(eps instanceof JsonPrimitive p && p.isNumber() && (float) p.getAsDouble() == LayerNorm.EPS)) {
            throw new JgptException(file + ": layer_norm_epsilon " + eps + ": jgpt's LayerNorm uses GPT-2's 1e-5 only");
        }
        if (isFalse(o, "tie_word_embeddings")) {
            throw new JgptException(file + ": tie_word_embeddings false: jgpt's output layer is the token embedding (wte), as GPT-2's;"
                    + " this model has one of its own");
        }
        if (isFalse(o, "scale_attn_weights") || isTrue(o, "scale_attn_by_inverse_layer_idx")) {
            throw new JgptException(file + ": " + (isFalse(o, "scale_attn_weights") ? "scale_attn_weights false" : "scale_attn_by_inverse_layer_idx true")
                    + ": jgpt scales attention by 1/sqrt(head size) only, as GPT-2 does");
        }
        JsonElement inner = o.get("n_inner");
        if (inner != null && !inner.isJsonNull()) {
            int embd = intField(file, o, "n_embd", null), width = intField(file, o, "n_inner", null);
            if (width != 4 * embd) {
                throw new JgptException(file + ": n_inner " + width + ": jgpt's MLP is 4 * n_embd = " + 4 * embd + " wide, as GPT-2's");
            }
        }
    }

    /** The string field {@code name} of {@code o}, or null when it is missing or not a string. */
    static String stringField(JsonObject o, String name) {
        return o.get(name) instanceof JsonPrimitive p && p.isString() ? p.getAsString() : null;
    }

    private static boolean isFalse(JsonObject o, String name) {
        return o.get(name) instanceof JsonPrimitive p && p.isBoolean() && !p.getAsBoolean();
    }

    private static boolean isTrue(JsonObject o, String name) {
        return o.get(name) instanceof JsonPrimitive p && p.isBoolean() && p.getAsBoolean();
    }

    /** A field that must hold a whole JSON number, like 12 (not "12", "two" or 2.9). */
    private static int intField(Path file, JsonObject o, String name, String fallback) {
        String key = o.has(name) || fallback == null || !o.has(fallback) ? name : fallback;
        JsonElement v = o.get(key);
        if (v == null) throw new JgptException(file + ": missing field \"" + name + "\"");
        if (v instanceof JsonPrimitive p && p.isNumber()) {
            try {
                return p.getAsBigDecimal().intValueExact();
            } catch (ArithmeticException | NumberFormatException e) {
                // reported below
            }
        }
        throw new JgptException(file + ": field \"" + key + "\" must be a whole number, not " + v);
    }

    public static Gpt load(Path dir) throws IOException {
        return load(dir, null);
    }

    /**
     * Loads the weights; {@code config} overrides config.json's (e.g. a different padded vocabulary).
     * Everything is checked against the file before the model is allocated: a config.json can claim a
     * model far larger than the file holds.
     */
    public static Gpt load(Path dir, GptConfig config) throws IOException {
        GptConfig cfg = config != null ? config : readConfig(dir);
        Path file = dir.resolve(WEIGHTS);
        try (Safetensors st = Safetensors.open(file)) {
            // HF stores the real vocabulary's rows of wte only, and at least 2 bytes a number
            long stored = cfg.parameterCount() - (long) (cfg.paddedVocabSize() - cfg.vocabSize()) * cfg.nEmbd();
            if (2 * stored > st.dataBytes()) {
                throw new JgptException(file + ": holds " + st.dataBytes() + " bytes of tensors, but " + dir.resolve(CONFIG)
                        + " describes a model of " + stored + " parameters (at least " + 2 * stored + " bytes)");
            }
            Map<String, Safetensors.Entry> entries = st.entries();
            String prefix = entries.containsKey("wte.weight") ? "" : "transformer.";
            List<View> views = new GptLayout(cfg).layout.views();
            List<Safetensors.Entry> found = new ArrayList<>();
            for (View v : views) {
                Safetensors.Entry e = entries.get(prefix + v.name());
                if (e == null) throw new JgptException(file + ": missing tensor " + prefix + v.name());
                int[] expected = hfShape(cfg, v);
                if (!Arrays.equals(expected, e.shape())) {
                    throw new JgptException(file + ": tensor " + e.name() + ": expected shape " + Arrays.toString(expected)
                            + ", found " + Arrays.toString(e.shape()));
                }
                found.add(e);
            }
            Gpt model = new Gpt(cfg);
            for (int i = 0; i < views.size(); i++) {
                View v = views.get(i);
                st.read(found.get(i), model.params(), v.start(), GptLayout.isConv1dWeight(v.name()));
            }
            return model;
        }
    }

    /** The shape HF stores: [in, out] for Conv1D weights, the real vocabulary only for wte. */
    static int[] hfShape(GptConfig cfg, View v) {
        int[] s = v.shape();
        if (v.name().equals("wte.weight")) return new int[]{cfg.vocabSize(), s[1]};
        if (GptLayout.isConv1dWeight(v.name())) return new int[]{s[1], s[0]};
        return s;
    }

    /** Writes a complete HuggingFace folder with a card that only names jgpt as its writer. */
    public static void save(Gpt model, Path dir) throws IOException {
        save(model, dir, ModelCard.of("Written by jgpt."));
    }

    /**
     * Writes a complete HuggingFace GPT-2 folder into {@code dir} (created if needed), each file
     * atomically: config.json, generation_config.json, model.safetensors, GPT-2's tokenizer
     * (vocab.json, merges.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json) and the
     * card, README.md. A folder that holds anything but a model folder is refused ({@link #checkOutputFolder}).
     * A model whose vocabulary is smaller than GPT-2's cannot take GPT-2's token ids,
     * so its folder has no tokenizer files.
     */
    public static void save(Gpt model, Path dir, ModelCard card) throws IOException {
        save(model, dir, card, bytes -> { });
    }

    /** As above, handing {@code written} the weights' bytes as they go out (progress). */
    public static void save(Gpt model, Path dir, ModelCard card, LongConsumer written) throws IOException {
        GptConfig cfg = model.config;
        checkOutputFolder(dir, dir.toString());
        Files.createDirectories(dir);
        Safetensors.write(dir.resolve(WEIGHTS), tensors(model), Map.of("format", "pt"), written);
        AtomicFiles.writeString(dir.resolve(CONFIG), configJson(cfg));
        AtomicFiles.writeString(dir.resolve(GENERATION_CONFIG), generationConfigJson(cfg));
        boolean tokenizer = hasGpt2Tokenizer(cfg);
        if (tokenizer) {
            for (Map.Entry<String, String> f : HfTokenizerFiles.files(cfg.blockSize()).entrySet()) {
                AtomicFiles.writeString(dir.resolve(f.getKey()), f.getValue());
            }
        } else {
            // a model with GPT-2's vocabulary may have been saved here before (checkOutputFolder: this is a model folder)
            for (String name : HfTokenizerFiles.NAMES) Files.deleteIfExists(dir.resolve(name));
        }
        AtomicFiles.writeString(dir.resolve(CARD), card.render(cfg, tokenizer));
    }

    /** The weights as model.safetensors stores them: HuggingFace's names and shapes, the real vocabulary's rows. */
    static List<Safetensors.Tensor> tensors(Gpt model) {
        List<Safetensors.Tensor> tensors = new ArrayList<>();
        for (View v : model.layout.layout.views()) {
            tensors.add(new Safetensors.Tensor(v.name(), hfShape(model.config, v), model.params(), v.start(),
                    GptLayout.isConv1dWeight(v.name())));
        }
        return tensors;
    }

    /** GPT-2's tokenizer fits a model whose vocabulary holds all its 50,257 ids (50304 padded ones too). */
    static boolean hasGpt2Tokenizer(GptConfig cfg) {
        return cfg.vocabSize() >= Gpt2Tokenizer.VOCAB_SIZE;
    }

    /**
     * The id of {@code <|endoftext|>}, GPT-2's one special token (bos and eos both): 50256 where the model
     * takes GPT-2's tokenizer, otherwise the vocabulary's last id, the place GPT-2 gives it.
     */
    static int endOfTextId(GptConfig cfg) {
        return hasGpt2Tokenizer(cfg) ? Gpt2Tokenizer.EOT : cfg.vocabSize() - 1;
    }

    static String configJson(GptConfig cfg) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("model_type", "gpt2");
        c.put("architectures", List.of("GPT2LMHeadModel"));
        c.put("n_layer", cfg.nLayer());
        c.put("n_head", cfg.nHead());
        c.put("n_embd", cfg.nEmbd());
        c.put("n_positions", cfg.blockSize());
        c.put("n_ctx", cfg.blockSize());
        c.put("vocab_size", cfg.vocabSize());
        c.put("padded_vocab_size", cfg.paddedVocabSize());
        c.put("layer_norm_epsilon", 1e-5);
        c.put("activation_function", "gelu_new");
        c.put("bos_token_id", endOfTextId(cfg));
        c.put("eos_token_id", endOfTextId(cfg));
        c.put("tie_word_embeddings", true);
        return PRETTY.toJson(c) + "\n";
    }

    /** generation_config.json: the special tokens, and jgpt's default sampling (top-k 50 at temperature 1). */
    static String generationConfigJson(GptConfig cfg) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("bos_token_id", endOfTextId(cfg));
        c.put("eos_token_id", endOfTextId(cfg));
        c.put("do_sample", true);
        c.put("top_k", 50);
        c.put("temperature", 1.0);
        return PRETTY.toJson(c) + "\n";
    }
}
