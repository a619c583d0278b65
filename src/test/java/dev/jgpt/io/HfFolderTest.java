package dev.jgpt.io;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jgpt.model.Gpt;
import dev.jgpt.model.GptConfig;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Every model folder jgpt writes is a complete HuggingFace GPT-2 folder, and a real reader takes its tokenizer. */
class HfFolderTest {
    static final Set<String> COMPLETE = Set.of("config.json", "generation_config.json", "model.safetensors", "vocab.json",
            "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "README.md");
    static final Path TRANSFORMERS_JS = Path.of("tools", "js", "node_modules", "@huggingface", "transformers");

    static Gpt tinyGpt2Vocab(int vocab) {
        Gpt model = new Gpt(GptConfig.of(1, 2, 8, 16, vocab));
        model.initialize(3);
        return model;
    }

    static Set<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return new TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
        }
    }

    static JsonObject json(Path file) throws IOException {
        return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
    }

    @Test
    void convertWritesTheWholeFolder(@TempDir Path tmp) throws IOException {
        Gpt model = tinyGpt2Vocab(Gpt2Tokenizer.VOCAB_SIZE);
        Path dir = tmp.resolve("hf");
        ModelFiles.save(model, dir, new ModelCard("Trained by a test.", "`data/x` (source x)", 20, 5120, 3.25, 3.5));
        assertEquals(new TreeSet<>(COMPLETE), files(dir));

        JsonObject config = json(dir.resolve("config.json"));
        assertEquals(50256, config.get("bos_token_id").getAsInt());
        assertEquals(50256, config.get("eos_token_id").getAsInt());
        JsonObject generation = json(dir.resolve("generation_config.json"));
        assertEquals(50256, generation.get("eos_token_id").getAsInt());
        assertEquals(16, json(dir.resolve("tokenizer_config.json")).get("model_max_length").getAsInt());
        assertEquals("<|endoftext|>", json(dir.resolve("special_tokens_map.json")).get("eos_token").getAsString());
        assertEquals(50257, json(dir.resolve("vocab.json")).size());

        String card = Files.readString(dir.resolve("README.md"));
        assertTrue(card.startsWith("---\nlibrary_name: transformers\n"), card);
        for (String fact : List.of("Trained by a test.", "| steps | 20 |", "| tokens | 5,120 |", "| final training loss | 3.2500 |",
                "| final validation loss | 3.5000 |", "`data/x` (source x)", "AutoTokenizer.from_pretrained")) {
            assertTrue(card.contains(fact), "card lacks '" + fact + "':\n" + card);
        }
        Gpt back = ModelFiles.load(dir);
        assertEquals(model.config, back.config);
        assertArrayEquals(model.params(), back.params());
        assertTrue(files(tmp).equals(Set.of("hf")), "nothing but the folder: " + files(tmp));
    }

    /** bos/eos follow the vocabulary: GPT-2's 50256 for any vocabulary that holds GPT-2's, else its last id. */
    @Test
    void specialTokensFollowTheVocabulary(@TempDir Path tmp) throws IOException {
        Path padded = tmp.resolve("padded");
        ModelFiles.save(tinyGpt2Vocab(50304), padded);
        assertEquals(50256, json(padded.resolve("config.json")).get("eos_token_id").getAsInt());
        assertEquals(new TreeSet<>(COMPLETE), files(padded));

        Path small = tmp.resolve("small");
        ModelFiles.save(tinyGpt2Vocab(Gpt2Tokenizer.VOCAB_SIZE), small); // replaced by a model the tokenizer does not fit
        ModelFiles.save(tinyGpt2Vocab(300), small);
        assertEquals(299, json(small.resolve("config.json")).get("eos_token_id").getAsInt());
        assertEquals(299, json(small.resolve("generation_config.json")).get("bos_token_id").getAsInt());
        // GPT-2's tokenizer would give ids the model has no row for, so none is written, and the card says why
        assertEquals(Set.of("config.json", "generation_config.json", "model.safetensors", "README.md"), files(small));
        assertTrue(Files.readString(small.resolve("README.md")).contains("no tokenizer"));
    }

    /**
     * transformers.js (the npm package {@code @huggingface/transformers}) loads the folder's tokenizer
     * offline with {@code AutoTokenizer.from_pretrained} and gives jgpt's ids, and decodes them back to the
     * text, on a few hundred texts: prose, Shakespeare, Java source, numbers, whitespace runs, many scripts.
     */
    @Test
    void transformersJsTokenizesAsJgptDoes(@TempDir Path tmp) throws Exception {
        String node = onPath("node");
        assumeTrue(node != null, "node is not installed (apt-get install nodejs npm)");
        assumeTrue(Files.isDirectory(TRANSFORMERS_JS), "transformers.js is not installed: cd tools/js && npm ci --ignore-scripts");

        Path dir = tmp.resolve("model");
        ModelFiles.save(tinyGpt2Vocab(Gpt2Tokenizer.VOCAB_SIZE), dir);
        List<String> texts = texts();
        assertTrue(texts.size() >= 300, "texts: " + texts.size());
        Path textsFile = tmp.resolve("texts.json");
        JsonArray array = new JsonArray();
        texts.forEach(array::add);
        Files.writeString(textsFile, array.toString());

        Process p = new ProcessBuilder(node, "tools/js/tokenize.mjs", dir.toString(), textsFile.toString())
                .redirectError(tmp.resolve("node.err").toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "node did not finish");
        assertEquals(0, p.exitValue(), () -> "node failed: " + readQuietly(tmp.resolve("node.err")));

        JsonArray results = JsonParser.parseString(out).getAsJsonArray();
        assertEquals(texts.size(), results.size());
        Gpt2Tokenizer tok = Gpt2Tokenizer.get();
        for (int i = 0; i < texts.size(); i++) {
            String text = texts.get(i);
            JsonObject r = results.get(i).getAsJsonObject();
            JsonArray ids = r.getAsJsonArray("ids");
            int[] theirs = new int[ids.size()];
            for (int k = 0; k < theirs.length; k++) theirs[k] = ids.get(k).getAsInt();
            assertArrayEquals(tok.encodeWithSpecial(text), theirs, () -> "ids of " + JsonParser.parseString(new com.google.gson.JsonPrimitive(text).toString()));
            assertEquals(text, r.get("decoded").getAsString(), "transformers.js decode");
        }
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            return e.toString();
        }
    }

    static String onPath(String program) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            Path p = Path.of(d, program);
            if (Files.isExecutable(p)) return p.toString();
        }
        return null;
    }

    /**
     * The texts: the tokenizer fixture's, HellaSwag's, tiny Shakespeare's lines where the data is at hand,
     * Java source from the JDK, and seeded random strings over many scripts. JavaScript's \s differs from
     * the Unicode White_Space GPT-2's regex means at two characters, U+FEFF and U+0085; none is used.
     */
    static List<String> texts() throws IOException {
        List<String> texts = new ArrayList<>();
        try (InputStream in = HfFolderTest.class.getResourceAsStream("/tokenizer/gpt2-encoder-fixture.jsonl")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank()) texts.add(JsonParser.parseString(line).getAsJsonObject().get("text").getAsString());
            }
        }
        try (InputStream in = HfFolderTest.class.getResourceAsStream("/hellaswag/hellaswag_val_head10.jsonl")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank()) continue;
                JsonObject o = JsonParser.parseString(line).getAsJsonObject();
                texts.add(o.get("ctx").getAsString());
                for (JsonElement e : o.getAsJsonArray("endings")) texts.add(" " + e.getAsString());
            }
        }
        Path shakespeare = Path.of("..", "shared", "data", "tinyshakespeare.txt");
        if (Files.isRegularFile(shakespeare)) {
            String[] lines = Files.readString(shakespeare).split("\n\n");
            for (int i = 0; i < lines.length && i < 4000; i += 40) texts.add(lines[i] + "\n\n");
        }
        Path zip = Path.of(System.getProperty("java.home"), "lib", "src.zip");
        if (Files.isRegularFile(zip)) {
            try (ZipFile zf = new ZipFile(zip.toFile())) {
                for (String name : List.of("java.base/java/lang/String.java", "java.base/java/util/HashMap.java",
                        "java.base/java/util/regex/Pattern.java")) {
                    ZipEntry entry = zf.getEntry(name);
                    if (entry == null) continue;
                    String[] lines = new String(zf.getInputStream(entry).readAllBytes(), StandardCharsets.UTF_8).split("\n");
                    for (int i = 0; i + 8 < lines.length && i < 4000; i += 80) {
                        texts.add(String.join("\n", List.of(lines).subList(i, i + 8)));
                    }
                }
            }
        }
        texts.addAll(List.of(
                "<|endoftext|>", "one<|endoftext|>two", "<|endoftext|><|endoftext|> both", "x <|endoftext|>\n",
                "naïve café résumé Ångström façade", "Привет, мир! Как дела?", "Γειά σου Κόσμε", "שלום עולם", "مرحبا بالعالم",
                "नमस्ते दुनिया", "你好，世界。我们今天学习。", "こんにちは世界、カタカナ", "안녕하세요 세계", "สวัสดีชาวโลก",
                "🙂🙃🎉👩‍👩‍👧‍👦 emoji 🇫🇷 flags", "e\u0301 combining a\u0308", "tab\tsep\tvalues\n1\t2\t3", "\r\n\r\n crlf \r\n",
                "x = 3.14e-10; y = 0xDEADBEEF; z = 1_000_000", "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$", "   ", "",
                "a" + " ".repeat(40) + "b", "\u00a0\u2003\u3000 odd spaces \u2009end", "don't won't can't 'quoted' ''double''"));
        Random rnd = new Random(2024);
        String[] pool = {"a", "Z", "é", "ß", "ж", "λ", "中", "の", "한", "ع", "🙂", "1", "٣", "½", " ", "  ", "\n", "\t", ".", ",",
                "'", "'s", "'ll", "!", "?", "-", "_", "(", ")", "\"", "#", "\u00a0", "\u3000", "ing", "the", " the", "0"};
        for (int i = 0; i < 120; i++) {
            StringBuilder sb = new StringBuilder();
            for (int k = rnd.nextInt(30) + 1; k > 0; k--) sb.append(pool[rnd.nextInt(pool.length)]);
            texts.add(sb.toString());
        }
        return texts;
    }

    @Test
    void noTokenizerSideFileIsLeftBehindWhenTheFolderIsRewritten(@TempDir Path tmp) throws IOException {
        Path dir = tmp.resolve("hf");
        ModelFiles.save(tinyGpt2Vocab(Gpt2Tokenizer.VOCAB_SIZE), dir);
        ModelFiles.save(tinyGpt2Vocab(Gpt2Tokenizer.VOCAB_SIZE), dir);
        assertEquals(new TreeSet<>(COMPLETE), files(dir));
        assertFalse(files(dir).stream().anyMatch(n -> n.contains(".tmp")));
    }

    /** convert on the command line: stderr's last line, the exit code, and stdout (empty). */
    record Convert(int exit, String lastLine) {
    }

    static Convert convert(String in, Path out) {
        java.io.PrintStream oldErr = System.err;
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        try {
            // convert reports what it wrote on System.err, picocli its errors on the command line's writer
            System.setErr(new java.io.PrintStream(err, true, StandardCharsets.UTF_8));
            var cl = dev.jgpt.cli.Main.commandLine();
            cl.setErr(new java.io.PrintWriter(System.err, true));
            int exit = cl.execute("convert", "--in", in, "--out", out.toString());
            List<String> lines = err.toString(StandardCharsets.UTF_8).lines().toList();
            assertEquals(1, lines.size(), lines.toString());
            return new Convert(exit, lines.getFirst());
        } finally {
            System.setErr(oldErr);
        }
    }

    static final String TINY_BIN = "src/test/resources/fixtures/tiny/model.bin";

    /**
     * A folder of someone's files is never written into, even when their names are a model folder's
     * (a README.md, a config.json); a model folder jgpt wrote is written again.
     */
    @Test
    void convertRefusesAFolderOfOtherFilesAndRewritesItsOwn(@TempDir Path tmp) throws IOException {
        Path notes = Files.createDirectories(tmp.resolve("notes"));
        Files.writeString(notes.resolve("README.md"), "notes\n");
        Files.writeString(notes.resolve("config.json"), "{\"mine\":1}\n");
        Convert refused = convert(TINY_BIN, notes);
        assertEquals(1, refused.exit());
        assertEquals("jgpt convert: --out " + notes + ": not empty and not a GPT-2 model folder (it holds README.md, config.json;"
                + " its config.json is not a GPT-2 config), so jgpt will not write over it: give a new or empty folder", refused.lastLine());
        assertEquals(Set.of("README.md", "config.json"), files(notes));
        assertEquals("notes\n", Files.readString(notes.resolve("README.md")));
        assertEquals("{\"mine\":1}\n", Files.readString(notes.resolve("config.json")));

        // converting again to the same place, and over a model folder as the Hub has it (with a file of its own)
        Path out = tmp.resolve("out");
        assertEquals(0, convert(TINY_BIN, out).exit());
        assertEquals(0, convert(TINY_BIN, out).exit());
        Path hub = tmp.resolve("hub");
        Files.createDirectories(hub);
        for (String f : List.of("config.json", "model.safetensors")) {
            Files.copy(Path.of("src/test/resources/fixtures/tiny/hf", f), hub.resolve(f));
        }
        Files.writeString(hub.resolve(".gitattributes"), "*.safetensors filter=lfs\n");
        assertEquals(0, convert(TINY_BIN, hub).exit());
        assertEquals("*.safetensors filter=lfs\n", Files.readString(hub.resolve(".gitattributes")));

        // a convert cut short (Ctrl-C while the weights were written, or after them and before config.json)
        // left only its own files: the same command runs again
        for (String leftover : List.of(".model.safetensors.tmp" + deadPid(), "model.safetensors")) {
            Path cut = Files.createDirectories(tmp.resolve("cut" + leftover.length()));
            Files.writeString(cut.resolve(leftover), "half");
            assertEquals(0, convert(TINY_BIN, cut).exit(), leftover);
            assertTrue(HfCheckpoint.isHfDirectory(cut), leftover);
            assertFalse(files(cut).stream().anyMatch(n -> n.contains(".tmp")), "the killed convert's half file is gone: " + files(cut));
        }
        // the temporary file of a convert still running into the folder is its write in progress
        Process running = new ProcessBuilder("sleep", "60").start();
        try {
            Path busy = Files.createDirectories(tmp.resolve("busy"));
            Files.writeString(busy.resolve(".model.safetensors.tmp" + running.pid()), "being written");
            assertEquals(0, convert(TINY_BIN, busy).exit());
            assertTrue(Files.exists(busy.resolve(".model.safetensors.tmp" + running.pid())));
        } finally {
            running.destroyForcibly();
        }

        Path file = Files.writeString(tmp.resolve("model"), "a file\n");
        assertEquals("jgpt convert: --out " + file + ": exists and is not a folder", convert(TINY_BIN, file).lastLine());
    }

    /** The pid of a process that has ended: what a killed writer's temporary file is named by. */
    static long deadPid() throws IOException {
        Process p = new ProcessBuilder("true").start();
        try {
            p.waitFor();
        } catch (InterruptedException e) {
            throw new IOException(e);
        }
        return p.pid();
    }

    /** Saving a model whose vocabulary GPT-2's tokenizer does not fit deletes no tokenizer file of the user's. */
    @Test
    void aSmallVocabularyModelDeletesNoTokenizerFileItDidNotWrite(@TempDir Path tmp) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("tokenizer"));
        Files.writeString(dir.resolve("vocab.json"), "{\"a\":0}\n");
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\n");
        var e = org.junit.jupiter.api.Assertions.assertThrows(dev.jgpt.JgptException.class,
                () -> ModelFiles.save(tinyGpt2Vocab(300), dir));
        assertTrue(e.getMessage().startsWith(dir + ": not empty and not a GPT-2 model folder (it holds merges.txt, vocab.json)"), e.getMessage());
        assertEquals(Set.of("merges.txt", "vocab.json"), files(dir));
    }

    /** convert says the parameter count transformers reports, as the card it writes does (the padded rows not counted). */
    @Test
    void convertAndTheCardSayTheSameParameterCount(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("hf");
        Convert c = convert(TINY_BIN, out);
        assertEquals(0, c.exit());
        GptConfig cfg = HfCheckpoint.readConfig(out);
        String count = String.format(java.util.Locale.ROOT, "%,d parameters", cfg.realParameterCount());
        assertTrue(cfg.parameterCount() > cfg.realParameterCount(), "the fixture's vocabulary is padded");
        assertTrue(c.lastLine().startsWith("wrote " + out + " (" + count + ", "), c.lastLine());
        assertTrue(Files.readString(out.resolve("README.md")).contains("(" + count + ")."));
    }

    /** The card names the source a data folder's prepare.json records, and only the folder for shards from elsewhere. */
    @Test
    void theCardNamesTheDataTrainingRead(@TempDir Path tmp) throws IOException {
        Path prepared = Files.createDirectories(tmp.resolve("small"));
        Files.writeString(prepared.resolve("prepare.json"), "{\"tokenizer\": \"gpt2 (r50k_base)\", \"summary\": {\"source\": \"src/main/java\"}}\n");
        assertEquals("`" + prepared + "` (source src/main/java)", ModelCard.trainingData(prepared));
        Path foreign = Files.createDirectories(tmp.resolve("foreign"));
        Files.write(foreign.resolve("fineweb_train_000001.bin"), new byte[1024]);
        assertEquals("`" + foreign + "`", ModelCard.trainingData(foreign));
        Files.writeString(prepared.resolve("prepare.json"), "{not json");
        assertEquals("`" + prepared + "`", ModelCard.trainingData(prepared));
    }
}
