package dev.jgpt.tokenizer;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class Gpt2TokenizerTest {
    private static final Gpt2Tokenizer TOK = Gpt2Tokenizer.get();
    /** Karpathy's tiny Shakespeare (public domain text), 1,115,394 characters; see README.md beside it. */
    static final Path TINY_SHAKESPEARE = Path.of("src/test/resources/tokenizer/tinyshakespeare.txt");

    record Case(String text, int[] ids) {
    }

    /** Texts and ids from OpenAI's GPT-2 encoder.json + vocab.bpe (tools/data/make-tokenizer-fixture.js). */
    static List<Case> fixture() throws IOException {
        List<Case> cases = new ArrayList<>();
        try (InputStream in = Gpt2TokenizerTest.class.getResourceAsStream("/tokenizer/gpt2-encoder-fixture.jsonl")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank()) continue;
                JsonObject o = JsonParser.parseString(line).getAsJsonObject();
                int[] ids = new int[o.getAsJsonArray("ids").size()];
                for (int i = 0; i < ids.length; i++) ids[i] = o.getAsJsonArray("ids").get(i).getAsInt();
                cases.add(new Case(o.get("text").getAsString(), ids));
            }
        }
        return cases;
    }

    @Test
    void encodesExactlyAsOpenAiVocabularyDoes() throws IOException {
        List<Case> cases = fixture();
        assertEquals(44, cases.size());
        for (Case c : cases) {
            assertArrayEquals(c.ids, TOK.encode(c.text), () -> "ids of " + c.text);
            assertEquals(c.text, TOK.decode(c.ids), "decode of " + c.text);
        }
    }

    @Test
    void specialTokenOnlyWhereAskedFor() {
        String text = "one<|endoftext|>two";
        int[] plain = TOK.encode(text);
        for (int id : plain) {
            assertTrue(id != Gpt2Tokenizer.EOT, "encode() must not produce EOT from text");
        }
        int[] special = TOK.encodeWithSpecial(text);
        assertArrayEquals(concat(TOK.encode("one"), new int[] {Gpt2Tokenizer.EOT}, TOK.encode("two")), special);
        assertArrayEquals(new int[] {Gpt2Tokenizer.EOT, Gpt2Tokenizer.EOT}, TOK.encodeWithSpecial("<|endoftext|><|endoftext|>"));
        assertEquals(text, TOK.decode(special));
        assertEquals("<|endoftext|>", TOK.decode(new int[] {Gpt2Tokenizer.EOT}));
        assertEquals(Gpt2Tokenizer.VOCAB_SIZE - 1, Gpt2Tokenizer.EOT);
    }

    @Test
    void everyByteHasAToken() {
        // Byte-level BPE: the 256 single bytes are tokens, so any byte string can be represented.
        boolean[] seen = new boolean[256];
        for (int id = 0; id < Gpt2Tokenizer.VOCAB_SIZE; id++) {
            byte[] b = TOK.tokenBytes(id);
            if (b.length == 1) seen[b[0] & 0xFF] = true;
        }
        for (int i = 0; i < 256; i++) {
            assertTrue(seen[i], "no token for byte " + i);
        }
        assertThrows(IllegalArgumentException.class, () -> TOK.tokenBytes(Gpt2Tokenizer.VOCAB_SIZE));
        assertThrows(IllegalArgumentException.class, () -> TOK.decode(new int[] {-1}));
    }

    @Test
    void randomUnicodeRoundTrips() {
        Random rnd = new Random(42);
        for (int t = 0; t < 300; t++) {
            StringBuilder sb = new StringBuilder();
            int len = rnd.nextInt(40);
            for (int i = 0; i < len; i++) {
                int cp = switch (rnd.nextInt(5)) {
                    case 0 -> rnd.nextInt(0x80);
                    case 1 -> rnd.nextInt(0x800);
                    case 2 -> 0x3000 + rnd.nextInt(0x7000);
                    case 3 -> 0x1F300 + rnd.nextInt(0x400);
                    default -> " \n\t'".charAt(rnd.nextInt(4));
                };
                if (Character.isSurrogate((char) cp) && cp < 0x10000) continue;
                sb.appendCodePoint(cp);
            }
            String s = sb.toString();
            int[] ids = TOK.encode(s);
            assertEquals(s, TOK.decode(ids));
            assertArrayEquals(s.getBytes(StandardCharsets.UTF_8), TOK.decodeBytes(ids));
        }
    }

    /** A lone surrogate encodes as U+FFFD, as tiktoken has it (jtokkit alone would read it as '?'). */
    @Test
    void aLoneSurrogateIsTheReplacementCharacterAsTiktokenHasIt() {
        assertArrayEquals(new int[]{64, 4210, 65}, TOK.encode("a\ud800b"));
        assertArrayEquals(TOK.encode("a\ufffdb"), TOK.encode("a\ud800b"));
        assertArrayEquals(new int[]{6353}, TOK.encode("\udc00\ud83d"));
        assertArrayEquals(TOK.encode("x\ufffd\ud83d\ude00"), TOK.encode("x\udc00\ud83d\ude00")); // a pair after it stays a pair
        assertArrayEquals(TOK.encode("\ufffd<|endoftext|>"), TOK.encode("\ud800<|endoftext|>"));
        assertArrayEquals(new int[]{4210, Gpt2Tokenizer.EOT}, TOK.encodeWithSpecial("\ud800<|endoftext|>"));
    }

    @Test
    void pieceCacheAgreesWithJtokkit() throws IOException {
        Random rnd = new Random(7);
        String alphabet = " \t\n\r\u00a0\u3000'sdmtlvre aZ09.,;:!?()[]{}<>\"#-_/\\\u00e9\u4e2d\u05e9\uD83D\uDE00";
        for (int t = 0; t < 2000; t++) {
            StringBuilder sb = new StringBuilder();
            for (int i = rnd.nextInt(30); i > 0; i--) {
                int at = rnd.nextInt(alphabet.length());
                char c = alphabet.charAt(at);
                sb.append(Character.isHighSurrogate(c) ? alphabet.substring(at, at + 2) : Character.isLowSurrogate(c) ? "x" : String.valueOf(c));
            }
            String s = sb.toString();
            assertArrayEquals(TOK.encodeUncached(s), TOK.encode(s), () -> "ids of [" + s + "]");
            assertArrayEquals(TOK.encodeUncached(s), TOK.encode(s), () -> "cached ids of [" + s + "]");
        }
        // Real code: the first few hundred files of the JDK's sources.
        Path zip = Path.of(System.getProperty("java.home"), "lib", "src.zip");
        assumeTrue(Files.isRegularFile(zip), "no src.zip in this JDK");
        try (java.util.zip.ZipFile zf = new java.util.zip.ZipFile(zip.toFile())) {
            var entries = zf.entries();
            for (int files = 0; files < 300 && entries.hasMoreElements(); ) {
                var e = entries.nextElement();
                if (e.isDirectory()) continue;
                files++;
                String text;
                try (InputStream in = zf.getInputStream(e)) {
                    text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
                assertArrayEquals(TOK.encodeUncached(text), TOK.encode(text), e.getName());
            }
        }
    }

    @Test
    void streamDecoderHoldsBackSplitCharacters() throws IOException {
        for (Case c : fixture()) {
            StreamDecoder stream = TOK.streamDecoder();
            StringBuilder out = new StringBuilder();
            for (int id : c.ids) {
                String piece = stream.next(id);
                assertTrue(piece.indexOf('\uFFFD') < 0, () -> "replacement char while streaming " + c.text);
                out.append(piece);
            }
            out.append(stream.finish());
            assertEquals(c.text, out.toString());
        }
        // A character cut off at the end of the stream becomes U+FFFD, as decode() does.
        int[] emoji = TOK.encode("\uD83D\uDE00");
        assertTrue(emoji.length > 1);
        StreamDecoder stream = TOK.streamDecoder();
        assertEquals("", stream.next(emoji[0]));
        assertEquals("\uFFFD", stream.finish());
    }

    @Test
    void splitPointsNeverChangeTokens() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (Case c : fixture()) sb.append(c.text).append('\n');
        sb.append("a\n\n  b\n\tc\r\nd\n'll\n 'x\n123\n\u00a0z\n\u3000q\n");
        checkSplits(sb.toString(), 1);
        checkSplits(Files.readString(TINY_SHAKESPEARE).substring(0, 200_000), 9973);
    }

    private static void checkSplits(String text, int step) {
        int[] whole = TOK.encode(text);
        for (int from = 0; from < text.length(); from += step) {
            int cut = Gpt2Tokenizer.splitPoint(text, from);
            if (cut < 0) break;
            int[] parts = concat(TOK.encode(text.substring(0, cut)), TOK.encode(text.substring(cut)));
            assertArrayEquals(whole, parts, "cut at " + cut);
        }
    }

    @Test
    void tinyShakespeareMatchesOpenAiVocabulary() throws Exception {
        String text = Files.readString(TINY_SHAKESPEARE);
        int[] ids = TOK.encode(text);
        JsonObject expected;
        try (InputStream in = getClass().getResourceAsStream("/tokenizer/tinyshakespeare-ids.json")) {
            expected = JsonParser.parseString(new String(in.readAllBytes(), StandardCharsets.UTF_8)).getAsJsonObject();
        }
        assertEquals(expected.get("tokens").getAsInt(), ids.length);
        java.nio.ByteBuffer le = java.nio.ByteBuffer.allocate(ids.length * 2).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (int id : ids) le.putShort((short) id);
        byte[] sha = java.security.MessageDigest.getInstance("SHA-256").digest(le.array());
        assertEquals(expected.get("sha256_uint16le").getAsString(), java.util.HexFormat.of().formatHex(sha));
        assertEquals(text, TOK.decode(ids));
    }

    private static void assertTrue(boolean b, String msg) {
        org.junit.jupiter.api.Assertions.assertTrue(b, msg);
    }

    private static void assertTrue(boolean b, java.util.function.Supplier<String> msg) {
        org.junit.jupiter.api.Assertions.assertTrue(b, msg);
    }

    private static void assertTrue(boolean b) {
        org.junit.jupiter.api.Assertions.assertTrue(b);
    }

    static int[] concat(int[]... parts) {
        int n = 0;
        for (int[] p : parts) n += p.length;
        int[] out = new int[n];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
