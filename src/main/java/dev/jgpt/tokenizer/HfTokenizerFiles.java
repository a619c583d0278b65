package dev.jgpt.tokenizer;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * GPT-2's tokenizer as the files a HuggingFace model folder carries: {@code vocab.json} and
 * {@code merges.txt} (OpenAI's encoder.json and vocab.bpe under their HuggingFace names),
 * {@code tokenizer.json} (the {@code tokenizers} library's one-file format), {@code tokenizer_config.json}
 * and {@code special_tokens_map.json}.
 *
 * <p>Nothing is shipped: all of it is derived from the BPE ranks jtokkit holds. A GPT-2 token's text
 * in these files is its bytes through {@link #byteToUnicode}, OpenAI's map of the 256 bytes to printable
 * characters. The merges come back in rank order the way minbpe's {@code recover_merges} finds them:
 * BPE run on a token's own bytes with only the lower-ranked tokens allowed stops at the two parts
 * whose merge made it.
 */
public final class HfTokenizerFiles {
    public static final String VOCAB = "vocab.json";
    public static final String MERGES = "merges.txt";
    public static final String TOKENIZER = "tokenizer.json";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    public static final String SPECIAL_TOKENS = "special_tokens_map.json";
    public static final List<String> NAMES = List.of(VOCAB, MERGES, TOKENIZER, TOKENIZER_CONFIG, SPECIAL_TOKENS);

    /** OpenAI's vocab.bpe starts with this line; HuggingFace's merges.txt is the same file. */
    static final String MERGES_HEADER = "#version: 0.2";
    private static final int MERGE_COUNT = Gpt2Tokenizer.VOCAB_SIZE - 257;

    private static final Gson JSON = new GsonBuilder().disableHtmlEscaping().serializeNulls().create();
    private static final Gson PRETTY = new GsonBuilder().disableHtmlEscaping().serializeNulls().setPrettyPrinting().create();

    /** Token texts by id (byte-level characters; the last is {@code <|endoftext|>}) and merges by rank. */
    private record Vocabulary(String[] tokens, String[] merges) {
    }

    /** The three large files, made once: every checkpoint of a training run writes them. */
    private record Large(String vocabJson, String mergesTxt, String tokenizerJson) {
    }

    private static volatile Vocabulary vocabulary;
    private static volatile Large large;

    private HfTokenizerFiles() {
    }

    /** File name to text, for a model whose context is {@code blockSize} tokens. */
    public static Map<String, String> files(int blockSize) {
        Large l = large;
        if (l == null) large = l = new Large(vocabJson(), mergesTxt(), tokenizerJson());
        Map<String, String> files = new LinkedHashMap<>();
        files.put(VOCAB, l.vocabJson);
        files.put(MERGES, l.mergesTxt);
        files.put(TOKENIZER, l.tokenizerJson);
        files.put(TOKENIZER_CONFIG, tokenizerConfigJson(blockSize));
        files.put(SPECIAL_TOKENS, specialTokensMapJson());
        return files;
    }

    /**
     * OpenAI's byte-to-character table (encoder.py's {@code bytes_to_unicode}): printable Latin-1 bytes
     * stand for themselves, the other 68 take the characters from U+0100 on, in byte order. A space is
     * 'Ġ' (U+0120), a newline 'Ċ' (U+010A).
     */
    static char[] byteToUnicode() {
        char[] map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = (char) (printable ? b : next++);
        }
        return map;
    }

    /** {@code vocab.json}: token text to id, in id order. */
    static String vocabJson() {
        String[] tokens = vocabulary().tokens;
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < tokens.length; id++) vocab.put(tokens[id], id);
        return JSON.toJson(vocab);
    }

    /** {@code merges.txt}: the header line, then one "left right" pair a line, by rank. */
    static String mergesTxt() {
        StringBuilder sb = new StringBuilder(MERGES_HEADER).append('\n');
        for (String merge : vocabulary().merges) sb.append(merge).append('\n');
        return sb.toString();
    }

    /** {@code tokenizer.json}: byte-level pre-tokenizer and decoder around a BPE model, as HuggingFace's gpt2 has it. */
    static String tokenizerJson() {
        Vocabulary v = vocabulary();
        Map<String, Object> vocab = new LinkedHashMap<>();
        for (int id = 0; id < v.tokens.length; id++) vocab.put(v.tokens[id], id);
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("vocab", vocab);
        model.put("merges", List.of(v.merges));

        Map<String, Object> t = new LinkedHashMap<>();
        t.put("version", "1.0");
        t.put("truncation", null);
        t.put("padding", null);
        t.put("added_tokens", List.of(endOfText(true)));
        t.put("normalizer", null);
        t.put("pre_tokenizer", byteLevel(false, true));
        t.put("post_processor", byteLevel(true, false));
        t.put("decoder", byteLevel(true, true));
        t.put("model", model);
        return JSON.toJson(t);
    }

    private static Map<String, Object> byteLevel(boolean addPrefixSpace, boolean trimOffsets) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "ByteLevel");
        m.put("add_prefix_space", addPrefixSpace);
        m.put("trim_offsets", trimOffsets);
        m.put("use_regex", true);
        return m;
    }

    /** {@code <|endoftext|>} as an added token; tokenizer.json's entries carry their id. */
    private static Map<String, Object> endOfText(boolean withId) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (withId) m.put("id", Gpt2Tokenizer.EOT);
        m.put("content", Gpt2Tokenizer.EOT_TEXT);
        m.put("single_word", false);
        m.put("lstrip", false);
        m.put("rstrip", false);
        m.put("normalized", true);
        m.put("special", true);
        return m;
    }

    /** {@code tokenizer_config.json}: what transformers' GPT2Tokenizer(Fast) needs besides the vocabulary. */
    static String tokenizerConfigJson(int blockSize) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("tokenizer_class", "GPT2Tokenizer");
        c.put("add_bos_token", false);
        c.put("add_prefix_space", false);
        c.put("added_tokens_decoder", Map.of(Integer.toString(Gpt2Tokenizer.EOT), endOfText(false)));
        c.put("bos_token", Gpt2Tokenizer.EOT_TEXT);
        c.put("eos_token", Gpt2Tokenizer.EOT_TEXT);
        c.put("unk_token", Gpt2Tokenizer.EOT_TEXT);
        c.put("pad_token", null);
        c.put("clean_up_tokenization_spaces", false);
        c.put("errors", "replace");
        c.put("model_max_length", blockSize);
        return PRETTY.toJson(c) + "\n";
    }

    static String specialTokensMapJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bos_token", Gpt2Tokenizer.EOT_TEXT);
        m.put("eos_token", Gpt2Tokenizer.EOT_TEXT);
        m.put("unk_token", Gpt2Tokenizer.EOT_TEXT);
        return PRETTY.toJson(m) + "\n";
    }

    private static Vocabulary vocabulary() {
        Vocabulary v = vocabulary;
        if (v == null) {
            synchronized (HfTokenizerFiles.class) {
                if (vocabulary == null) vocabulary = derive(Gpt2Tokenizer.get());
                v = vocabulary;
            }
        }
        return v;
    }

    private static Vocabulary derive(Gpt2Tokenizer tokenizer) {
        char[] byteChar = byteToUnicode();
        int n = Gpt2Tokenizer.VOCAB_SIZE;
        String[] tokens = new String[n];
        Map<Bytes, Integer> ranks = new HashMap<>(2 * n);
        for (int id = 0; id < Gpt2Tokenizer.EOT; id++) {
            byte[] b = tokenizer.tokenBytes(id);
            tokens[id] = text(b, 0, b.length, byteChar);
            ranks.put(new Bytes(b, 0, b.length), id);
        }
        tokens[Gpt2Tokenizer.EOT] = Gpt2Tokenizer.EOT_TEXT;

        String[] merges = new String[MERGE_COUNT];
        for (int id = 256; id < Gpt2Tokenizer.EOT; id++) {
            byte[] b = tokenizer.tokenBytes(id);
            int split = lastMergeSplit(b, id, ranks);
            merges[id - 256] = text(b, 0, split, byteChar) + " " + text(b, split, b.length, byteChar);
        }
        return new Vocabulary(tokens, merges);
    }

    /**
     * Where the merge that made token {@code rank} cuts its bytes: BPE over the bytes with merges below
     * {@code rank} only, which must end in exactly two parts.
     */
    static int lastMergeSplit(byte[] token, int rank, Map<Bytes, Integer> ranks) {
        List<Integer> starts = new ArrayList<>(); // each part is token[starts[i], starts[i+1])
        for (int i = 0; i <= token.length; i++) starts.add(i);
        while (starts.size() > 3) {
            int best = -1, bestRank = rank;
            for (int i = 0; i + 2 < starts.size(); i++) {
                Integer r = ranks.get(new Bytes(token, starts.get(i), starts.get(i + 2)));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    best = i;
                }
            }
            if (best < 0) break;
            starts.remove(best + 1);
        }
        if (starts.size() != 3) {
            throw new IllegalStateException("GPT-2 token " + rank + " is not one merge of two lower-ranked tokens");
        }
        return starts.get(1);
    }

    private static String text(byte[] b, int from, int to, char[] byteChar) {
        StringBuilder sb = new StringBuilder(to - from);
        for (int i = from; i < to; i++) sb.append(byteChar[b[i] & 0xFF]);
        return sb.toString();
    }

    /** A byte range as a map key. */
    record Bytes(byte[] array, int from, int to) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Bytes b && Arrays.equals(array, from, to, b.array, b.from, b.to);
        }

        @Override
        public int hashCode() {
            int h = 1;
            for (int i = from; i < to; i++) h = 31 * h + array[i];
            return h;
        }
    }
}
