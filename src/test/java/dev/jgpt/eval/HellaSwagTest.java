package dev.jgpt.eval;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HellaSwagTest {
    /** The first 10 items of rowanz/hellaswag data/hellaswag_val.jsonl (see README.md beside it). */
    private static final Path VAL_HEAD = Path.of("src/test/resources/hellaswag/hellaswag_val_head10.jsonl");

    @TempDir
    Path tmp;

    /** One token per character: makes rendering checkable by eye. */
    private static int[] chars(String s) {
        return s.codePoints().toArray();
    }

    private static final HellaSwag.Example TINY = new HellaSwag.Example("ab", List.of("c", "de", "f", "ghi"), 3);

    @Test
    void loadsRealValidationItems() {
        List<HellaSwag.Example> items = HellaSwag.load(VAL_HEAD);
        assertEquals(10, items.size());
        assertArrayEquals(new int[] {3, 3, 2, 2, 1, 1, 2, 0, 1, 1}, items.stream().mapToInt(HellaSwag.Example::label).toArray());
        HellaSwag.Example first = items.get(0);
        assertEquals("A man is sitting on a roof. he", first.context());
        assertEquals(List.of("is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                "is holding a rubik's cube.", "starts pulling up roofing on a roof."), first.endings());
        assertEquals(3, HellaSwag.load(VAL_HEAD, 3).size());
        assertEquals(10, HellaSwag.load(VAL_HEAD, 100).size());
    }

    @Test
    void ctxAAndCtxBFormGivesTheSameItems() throws IOException {
        // Without "ctx", the context is ctx_a, a space, then ctx_b (just ctx_a when ctx_b is empty).
        List<String> withoutCtx = Files.readAllLines(VAL_HEAD).stream().map(line -> {
            JsonObject o = JsonParser.parseString(line).getAsJsonObject();
            o.remove("ctx");
            return o.toString();
        }).toList();
        Path file = tmp.resolve("ab.jsonl");
        Files.write(file, withoutCtx);
        assertEquals(HellaSwag.load(VAL_HEAD), HellaSwag.load(file));

        Files.writeString(file, "{\"ctx_a\": \"[header] How to bake bread.\", \"ctx_b\": \"\", \"label\": \"2\","
                + " \"endings\": [\"a\", \"b\", \"c\", \"d\"]}\n");
        HellaSwag.Example wikihow = HellaSwag.load(file).get(0);
        assertEquals("[header] How to bake bread.", wikihow.context());
        assertEquals(2, wikihow.label()); // the HuggingFace copy stores labels as text
    }

    @Test
    void badItemsAreNamedByFileAndLine() throws IOException {
        String good = Files.readAllLines(VAL_HEAD).get(0);
        List<String[]> cases = List.of(
                new String[] {"not json at all", "not valid JSON"},
                new String[] {"[1, 2]", "not a JSON object"},
                new String[] {"{\"label\": 0, \"endings\": [\"a\", \"b\", \"c\", \"d\"]}", "no \"ctx\""},
                new String[] {"{\"ctx\": \"x\", \"label\": 0, \"endings\": [\"a\", \"b\", \"c\"]}", "list of 4 texts"},
                new String[] {"{\"ctx\": \"x\", \"label\": 0, \"endings\": [\"a\", \"b\", \"c\", 4]}", "list of 4 texts"},
                new String[] {"{\"ctx\": \"x\", \"label\": 4, \"endings\": [\"a\", \"b\", \"c\", \"d\"]}", "must be 0, 1, 2 or 3, not 4"},
                new String[] {"{\"ctx\": \"x\", \"label\": 1.5, \"endings\": [\"a\", \"b\", \"c\", \"d\"]}", "must be 0, 1, 2 or 3"},
                new String[] {"{\"ctx\": \"x\", \"label\": \"\", \"endings\": [\"a\", \"b\", \"c\", \"d\"]}", "test split is unlabeled"},
                new String[] {"{\"ctx\": \"x\", \"endings\": [\"a\", \"b\", \"c\", \"d\"]}", "no \"label\""},
                new String[] {"{\"ctx\": \"The cat\", \"label\": 0, \"endings\": [\"\", \"\", \"\", \"\"]}", "ending 0 of \"endings\" is empty"},
                new String[] {"{\"ctx\": \"The cat\", \"label\": 0, \"endings\": [\"a\", \"b\", \" \\t\", \"d\"]}", "ending 2 of \"endings\" is empty"},
                new String[] {"{\"ctx\": \"\", \"label\": 0, \"endings\": [\"a\", \"b\", \"c\", \"d\"]}", "context (\"ctx\") is empty"},
                new String[] {"{\"ctx_a\": \" \", \"ctx_b\": \"\", \"label\": 0, \"endings\": [\"a\", \"b\", \"c\", \"d\"]}", "context (\"ctx\") is empty"});
        for (String[] c : cases) {
            Path file = tmp.resolve("bad.jsonl");
            Files.writeString(file, good + "\n\n" + c[0] + "\n");
            String message = assertThrows(JgptException.class, () -> HellaSwag.load(file)).getMessage();
            assertTrue(message.startsWith(file + ":3: "), message);
            assertTrue(message.contains(c[1]), () -> "expected \"" + c[1] + "\" in: " + message);
        }
        String missing = assertThrows(JgptException.class, () -> HellaSwag.load(tmp.resolve("none.jsonl"))).getMessage();
        assertTrue(missing.contains("none.jsonl: HellaSwag file not found"), missing);
        Path empty = Files.writeString(tmp.resolve("empty.jsonl"), "\n");
        assertTrue(assertThrows(JgptException.class, () -> HellaSwag.load(empty)).getMessage().contains("no HellaSwag items"));
    }

    /** A file that is not UTF-8 names the line where decoding failed; a compressed one says to decompress it. */
    @Test
    void notUtf8OrCompressedFilesSaySo() throws IOException {
        String good = Files.readAllLines(VAL_HEAD).get(0);
        Path latin1 = tmp.resolve("latin1.jsonl");
        Files.write(latin1, (good + "\n{\"ctx\": \"caf\u00e9\"}\n").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        String m = assertThrows(JgptException.class, () -> HellaSwag.load(latin1)).getMessage();
        assertTrue(m.startsWith(latin1 + ":2: not UTF-8 text (byte 0xE9 at offset " + (good.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + 13) + ")"), m);

        Path bz2 = tmp.resolve("hellaswag_val.jsonl.bz2");
        Files.write(bz2, new byte[] {'B', 'Z', 'h', '9', '1', 'A', 'Y', '&', 'S', 'Y', (byte) 0xff, (byte) 0xfe, 0});
        m = assertThrows(JgptException.class, () -> HellaSwag.load(bz2)).getMessage();
        assertTrue(m.startsWith(bz2 + ": a bzip2-compressed file") && m.contains("bunzip2"), m);

        Path gz = tmp.resolve("hellaswag_val.jsonl.gz");
        try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write(good.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        }
        m = assertThrows(JgptException.class, () -> HellaSwag.load(gz)).getMessage();
        assertTrue(m.startsWith(gz + ": a gzip-compressed file") && m.contains("gunzip"), m);
    }

    @Test
    void renderLaysOutContextThenEachEndingWithItsSpaceZeroPadded() {
        HellaSwag.Rendered r = HellaSwag.render(TINY, HellaSwagTest::chars);
        assertArrayEquals(new int[] {'a', 'b'}, r.contextTokens());
        assertArrayEquals(new int[] {' ', 'g', 'h', 'i'}, r.endingTokens()[3]);
        assertEquals(6, r.width());
        assertArrayEquals(new int[][] {
                {'a', 'b', ' ', 'c', 0, 0},
                {'a', 'b', ' ', 'd', 'e', 0},
                {'a', 'b', ' ', 'f', 0, 0},
                {'a', 'b', ' ', 'g', 'h', 'i'}}, r.tokens());
        assertArrayEquals(new int[][] {
                {0, 0, 1, 1, 0, 0},
                {0, 0, 1, 1, 1, 0},
                {0, 0, 1, 1, 0, 0},
                {0, 0, 1, 1, 1, 1}}, r.mask());
        assertEquals(3, r.label());
    }

    @Test
    void flatTokensAndTargetsAreTheRowsAndTheirNextTokens() {
        HellaSwag.Rendered r = HellaSwag.render(TINY, HellaSwagTest::chars);
        int w = r.width();
        int[] tokens = r.flatTokens();
        int[] targets = r.flatTargets();
        assertEquals(4 * w, tokens.length);
        assertEquals(4 * w, targets.length);
        for (int row = 0; row < 4; row++) {
            for (int t = 0; t < w; t++) {
                assertEquals(r.tokens()[row][t], tokens[row * w + t]);
                assertEquals(t + 1 < w ? r.tokens()[row][t + 1] : 0, targets[row * w + t]);
            }
        }
    }

    /**
     * Per-position losses for TINY where the loss at position t scores token t+1. Positions that
     * must not count (predicting a context token, predicting padding) hold 1000, so reading the
     * mask unshifted, or counting padding, changes the answer.
     */
    private static float[][] tinyLosses() {
        float x = 1000;
        return new float[][] {
                {x, 2, 2, x, x, x},             // ending " c":   sum 4,   mean 2
                {x, 1, 1, 1, x, x},             // ending " de":  sum 3,   mean 1
                {x, 3, 3, x, x, x},             // ending " f":   sum 6,   mean 3
                {x, .875f, .875f, .875f, .875f, x}}; // " ghi": sum 3.5, mean 0.875
    }

    @Test
    void accPicksLowestTotalLossAndAccNormLowestMean() {
        HellaSwag.Prediction p = HellaSwag.render(TINY, HellaSwagTest::chars).predict(tinyLosses());
        assertArrayEquals(new double[] {4, 3, 6, 3.5}, p.sumLoss());
        assertArrayEquals(new double[] {2, 1, 3, 0.875}, p.meanLoss());
        assertEquals(1, p.predicted());      // shortest-total ending
        assertEquals(3, p.predictedNorm());  // best per token: the label
        assertFalse(p.correct());
        assertTrue(p.correctNorm());
    }

    @Test
    void flatAndShiftedLossLayoutsAgree() {
        HellaSwag.Rendered r = HellaSwag.render(TINY, HellaSwagTest::chars);
        float[][] rows = tinyLosses();
        float[] flat = new float[4 * r.width()];
        float[][] shifted = new float[4][];
        for (int row = 0; row < 4; row++) {
            System.arraycopy(rows[row], 0, flat, row * r.width(), r.width());
            shifted[row] = Arrays.copyOf(rows[row], r.width() - 1); // build-nanogpt's shift_losses: width - 1 columns
        }
        HellaSwag.Prediction expected = r.predict(rows);
        for (HellaSwag.Prediction p : List.of(r.predict(flat), r.predict(shifted))) {
            assertArrayEquals(expected.sumLoss(), p.sumLoss());
            assertEquals(expected.predicted(), p.predicted());
            assertEquals(expected.predictedNorm(), p.predictedNorm());
        }
        assertThrows(IllegalArgumentException.class, () -> r.predict(new float[4 * r.width() - 1]));
        assertThrows(IllegalArgumentException.class, () -> r.predict(new float[3][6]));
        assertThrows(IllegalArgumentException.class, () -> r.predict(new float[4][4]));
    }

    @Test
    void tiesGoToTheFirstEndingAsArgmin() {
        HellaSwag.Prediction p = HellaSwag.render(TINY, HellaSwagTest::chars).predict(new float[4][6]);
        assertEquals(0, p.predicted());
        assertEquals(0, p.predictedNorm());
    }

    @Test
    void scoreCountsAndCombines() {
        HellaSwag.Rendered r = HellaSwag.render(TINY, HellaSwagTest::chars);
        HellaSwag.Score s = HellaSwag.Score.ZERO.add(r.predict(tinyLosses())).add(r.predict(new float[4][6]));
        assertEquals(new HellaSwag.Score(2, 0, 1), s);
        assertEquals(0.5, s.accNorm());
        assertEquals(0.0, s.acc());
        assertEquals(new HellaSwag.Score(5, 1, 3), s.plus(new HellaSwag.Score(3, 1, 2)));
    }

    // ---- with the GPT-2 tokenizer ------------------------------------------------------------

    @Test
    void rendersTheFirstValidationItemWithGpt2Tokens() {
        HellaSwag.Rendered r = HellaSwag.render(HellaSwag.load(VAL_HEAD).get(0));
        // GPT-2 BPE ids (tiktoken "gpt2" / r50k_base).
        int[] ctx = {32, 582, 318, 5586, 319, 257, 9753, 13, 339};           // "A man is sitting on a roof. he"
        int[] ending3 = {4940, 10427, 510, 9753, 278, 319, 257, 9753, 13};   // " starts pulling up roofing on a roof."
        assertArrayEquals(ctx, r.contextTokens());
        assertArrayEquals(new int[] {318, 1262, 14441, 284, 14441, 257, 5166, 286, 1341, 271, 13}, r.endingTokens()[0]);
        assertArrayEquals(ending3, r.endingTokens()[3]);
        assertEquals(ctx.length + 11, r.width()); // the longest row is ending 0
        int[] row3 = new int[r.width()];
        System.arraycopy(ctx, 0, row3, 0, ctx.length);
        System.arraycopy(ending3, 0, row3, ctx.length, ending3.length);
        assertArrayEquals(row3, r.tokens()[3]);
        assertEquals(ending3.length, Arrays.stream(r.mask()[3]).sum());
        assertEquals(1, r.mask()[3][ctx.length]);
        assertEquals(0, r.mask()[3][ctx.length - 1]);
    }

    @Test
    void aModelThatPrefersTheLabelScoresPerfectlyAndAFlatOneDoesNot() {
        HellaSwag.Score oracle = HellaSwag.Score.ZERO;
        HellaSwag.Score flat = HellaSwag.Score.ZERO;
        for (HellaSwag.Example example : HellaSwag.load(VAL_HEAD)) {
            HellaSwag.Rendered r = HellaSwag.render(example);
            float[] low = new float[4 * r.width()];
            float[] same = new float[4 * r.width()];
            Arrays.fill(same, 2f);
            for (int row = 0; row < 4; row++) {
                Arrays.fill(low, row * r.width(), (row + 1) * r.width(), row == example.label() ? 1f : 3f);
            }
            oracle = oracle.add(r.predict(low));
            HellaSwag.Prediction p = r.predict(same);
            // Same loss on every token: the mean ties (first ending wins), the total favours the fewest tokens.
            assertEquals(0, p.predictedNorm());
            int fewest = 0;
            for (int row = 1; row < 4; row++) {
                if (r.endingTokens()[row].length < r.endingTokens()[fewest].length) fewest = row;
            }
            assertEquals(fewest, p.predicted());
            flat = flat.add(p);
        }
        assertEquals(new HellaSwag.Score(10, 10, 10), oracle);
        assertEquals(1, flat.correctNorm()); // one item of the ten has label 0
    }
}
