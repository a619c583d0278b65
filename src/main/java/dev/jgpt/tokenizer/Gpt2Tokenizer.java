package dev.jgpt.tokenizer;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * GPT-2's tokenizer: OpenAI's byte-level BPE "r50k_base" (50,257 tokens, {@code <|endoftext|>} = 50256),
 * exactly as the original encoder.py and tiktoken produce it. jtokkit does the BPE; this class adds
 * the GPT-2 conventions the rest of jgpt relies on.
 *
 * <ul>
 *   <li>{@link #encode(String)} treats every character as text: a literal {@code "<|endoftext|>"} in a
 *       document becomes ordinary tokens, so data can never forge a document boundary.</li>
 *   <li>{@link #encodeWithSpecial(String)} turns {@code "<|endoftext|>"} into {@link #EOT}; use it only
 *       for text a person typed on purpose (prompts, the {@code tokenize} command).</li>
 *   <li>{@link #decode(int[])} and {@link #decodeBytes(int[])} invert both; any Unicode text round-trips
 *       ({@code decode(encode(s)).equals(s)}), and every token, even one that is half of a UTF-8
 *       character, has its exact bytes in {@link #tokenBytes(int)}.</li>
 *   <li>{@link #streamDecoder()} decodes one token at a time for generation, holding back the bytes of a
 *       character split across tokens until it is complete.</li>
 * </ul>
 *
 * Thread-safe: one shared instance ({@link #get()}) serves all threads.
 */
public final class Gpt2Tokenizer {
    /** {@code <|endoftext|>}: separates documents in the training data and ends generation. */
    public static final int EOT = 50256;
    /** Number of token ids: 50,000 merges + 256 bytes + {@code <|endoftext|>}. */
    public static final int VOCAB_SIZE = 50257;
    /** The text of the one special token. */
    public static final String EOT_TEXT = "<|endoftext|>";

    private static final Gpt2Tokenizer INSTANCE = new Gpt2Tokenizer();

    // Pieces repeat (words, indentation), so each thread remembers the ids of the pieces it has seen:
    // encoding then costs a regex match and a hash lookup, well over jtokkit's speed on Java source.
    private static final int CACHE_MAX_PIECE = 256;
    private static final ThreadLocal<PieceCache> PIECE_IDS = ThreadLocal.withInitial(PieceCache::new);

    private final Encoding encoding;
    private final byte[][] tokenBytes;

    private Gpt2Tokenizer() {
        encoding = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
        tokenBytes = new byte[VOCAB_SIZE][];
        IntArrayList one = new IntArrayList(1);
        one.add(0);
        for (int id = 0; id < VOCAB_SIZE; id++) {
            one.set(0, id);
            tokenBytes[id] = encoding.decodeBytes(one);
        }
    }

    /** The shared tokenizer (the vocabulary loads once, in about a second). */
    public static Gpt2Tokenizer get() {
        return INSTANCE;
    }

    /** Encodes text with no special tokens: {@code "<|endoftext|>"} in the text is plain text. */
    public int[] encode(String text) {
        text = wellFormed(text);
        PieceCache cache = PIECE_IDS.get();
        int[] out = new int[Math.max(16, text.length() / 3)];
        int n = 0;
        for (int start = 0, end; start < text.length(); start = end) {
            end = Pretokenizer.pieceEnd(text, start);
            int[] ids = cache.get(text, start, end);
            if (ids == null) {
                // A piece alone is one piece again (the regex has no look-behind, and its one look-ahead
                // agrees at the end of a piece), so jtokkit's BPE of it is its ids within the text.
                String piece = text.substring(start, end);
                ids = encoding.encodeOrdinary(piece).toArray();
                if (piece.length() <= CACHE_MAX_PIECE) {
                    cache.put(piece, ids);
                }
            }
            if (n + ids.length > out.length) {
                out = Arrays.copyOf(out, Math.max(2 * out.length, n + ids.length));
            }
            System.arraycopy(ids, 0, out, n, ids.length);
            n += ids.length;
        }
        return n == out.length ? out : Arrays.copyOf(out, n);
    }

    /**
     * The text as tiktoken encodes it: a lone surrogate (half of a pair, alone) becomes U+FFFD, as
     * Python's round trip through UTF-16 with "replace" makes it; jtokkit would read it as '?'.
     */
    static String wellFormed(String text) {
        for (int i = 0; i < text.length(); i++) {
            if (Character.isSurrogate(text.charAt(i))) return withoutLoneSurrogates(text, i); // rare: emoji and the like
        }
        return text;
    }

    private static String withoutLoneSurrogates(String text, int from) {
        StringBuilder out = new StringBuilder(text.length()).append(text, 0, from);
        for (int i = from; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                out.append(c).append(text.charAt(++i));
            } else {
                out.append(Character.isSurrogate(c) ? '\uFFFD' : c);
            }
        }
        return out.toString();
    }

    /** jtokkit's own encoding, without the piece cache (the reference {@link #encode} is tested against). */
    int[] encodeUncached(String text) {
        return encoding.encodeOrdinary(text).toArray();
    }

    /** Encodes text, turning each {@code "<|endoftext|>"} into {@link #EOT}. */
    public int[] encodeWithSpecial(String text) {
        int at = text.indexOf(EOT_TEXT);
        if (at < 0) {
            return encode(text);
        }
        IntArrayList out = new IntArrayList();
        int from = 0;
        while (at >= 0) {
            appendOrdinary(text.substring(from, at), out);
            out.add(EOT);
            from = at + EOT_TEXT.length();
            at = text.indexOf(EOT_TEXT, from);
        }
        appendOrdinary(text.substring(from), out);
        return out.toArray();
    }

    /** Appends the ordinary tokens of {@code text} to {@code out}. */
    void appendOrdinary(String text, IntArrayList out) {
        if (text.isEmpty()) {
            return;
        }
        for (int id : encode(text)) {
            out.add(id);
        }
    }

    /**
     * The first index {@code i >= from} at which {@code text} can be cut so that
     * {@code encode(text) == encode(text[0, i)) ++ encode(text[i, end))}, or -1 if there is none.
     * Long documents are cut there to be encoded in parallel.
     *
     * <p>The cut goes after a single newline between two non-space characters. GPT-2's pre-tokenizer
     * regex ({@code 's|'t|... | ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}) puts a newline only
     * into runs of whitespace, so such a newline is a piece of its own, both in the whole text and at the
     * end of the first part (a longer run would not be: at the end of a string {@code \s+(?!\S)} takes
     * the whole run, inside the text it leaves the last space for the next piece). BPE never merges
     * across pieces.
     */
    public static int splitPoint(CharSequence text, int from) {
        for (int i = Math.max(2, from); i < text.length(); i++) {
            if (text.charAt(i - 1) == '\n' && !isWhiteSpace(text.charAt(i)) && !isWhiteSpace(text.charAt(i - 2))) {
                return i;
            }
        }
        return -1;
    }

    /** Unicode White_Space, which is what {@code \s} means in GPT-2's regex (and in tiktoken's). */
    static boolean isWhiteSpace(char c) {
        return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                || c == 0x3000;
    }

    /** Decodes ids to text; bytes that are not valid UTF-8 (a cut-off character) become U+FFFD. */
    public String decode(int[] ids) {
        return new String(decodeBytes(ids), StandardCharsets.UTF_8);
    }

    /** The exact bytes the ids stand for. */
    public byte[] decodeBytes(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            out.writeBytes(tokenBytes(id));
        }
        return out.toByteArray();
    }

    /** The bytes of one token (shared array: do not modify). */
    public byte[] tokenBytes(int id) {
        if (id < 0 || id >= VOCAB_SIZE) {
            throw new IllegalArgumentException("token id " + id + " is outside GPT-2's vocabulary [0, " + VOCAB_SIZE + ")");
        }
        return tokenBytes[id];
    }

    /** A fresh decoder for one stream of generated tokens (not thread-safe; one per stream). */
    public StreamDecoder streamDecoder() {
        return new StreamDecoder(this);
    }
}
