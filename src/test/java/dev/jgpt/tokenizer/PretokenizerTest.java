package dev.jgpt.tokenizer;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The hand-written pre-tokenizer cuts every text exactly where GPT-2's regex does. */
class PretokenizerTest {
    // encoder.py's pattern, as jtokkit and tiktoken compile it (Unicode character classes).
    static final Pattern GPT2 = Pattern.compile(
            "'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    static void assertSamePieces(String text) {
        List<String> expected = new ArrayList<>();
        Matcher m = GPT2.matcher(text);
        while (m.find()) expected.add(text.substring(m.start(), m.end()));
        List<String> actual = new ArrayList<>();
        for (int start = 0, end; start < text.length(); start = end) {
            end = Pretokenizer.pieceEnd(text, start);
            actual.add(text.substring(start, end));
        }
        assertEquals(expected, actual, () -> "pieces of [" + text + "]");
    }

    @Test
    void fixtureTexts() throws IOException {
        for (Gpt2TokenizerTest.Case c : Gpt2TokenizerTest.fixture()) assertSamePieces(c.text());
    }

    @Test
    void randomTextsOverEveryKindOfCharacter() {
        String[] atoms = {" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u0085", "\u2028", "'", "'s", "'t",
                "'re", "'ve", "'m", "'ll", "'d", "'S", "'x", "a", "Zz", "\u00e9", "e\u0301", "\u4e2d", "\u05e9", "\u0645",
                "0", "42", "\u0663", "\u2167", "\u00bd", "!", ".", ",", "(", "\"", "#", "_", "-", "\uD83D\uDE00",
                "\uD83D\uDC69\u200D\uD83D\uDC67", "\u200B", "\uFE0F", "\uD835\uDD18", "\uD800", "\uDC00", "\u0000", "\u001b"};
        Random rnd = new Random(11);
        for (int t = 0; t < 20_000; t++) {
            StringBuilder sb = new StringBuilder();
            for (int i = rnd.nextInt(12); i >= 0; i--) sb.append(atoms[rnd.nextInt(atoms.length)]);
            assertSamePieces(sb.toString());
        }
        for (int cp = 0; cp < 0x30000; cp += 7) {
            if (Character.isValidCodePoint(cp)) {
                String ch = new String(Character.toChars(cp));
                assertSamePieces("a" + ch + " " + ch + ch + "  " + ch + "1 " + ch);
            }
        }
    }

    @Test
    void javaSources() throws IOException {
        Path zip = Path.of(System.getProperty("java.home"), "lib", "src.zip");
        assumeTrue(Files.isRegularFile(zip), "no src.zip in this JDK");
        try (java.util.zip.ZipFile zf = new java.util.zip.ZipFile(zip.toFile())) {
            var entries = zf.entries();
            for (int files = 0; files < 400 && entries.hasMoreElements(); ) {
                var e = entries.nextElement();
                if (e.isDirectory()) continue;
                files++;
                try (InputStream in = zf.getInputStream(e)) {
                    assertSamePieces(new String(in.readAllBytes(), StandardCharsets.UTF_8));
                }
            }
        }
    }

    @Test
    void tinyShakespeare() throws IOException {
        assertSamePieces(Files.readString(Gpt2TokenizerTest.TINY_SHAKESPEARE));
    }
}
