package dev.jgpt.config;

import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunConfigTest {

    private static RunConfig parse(String yaml) {
        return RunConfig.parse(yaml, "run.yaml", List.of());
    }

    /** The error message of parsing this YAML, which must fail. */
    private static String error(String yaml) {
        return assertThrows(JgptException.class, () -> parse(yaml)).getMessage();
    }

    private static void assertContains(String message, String... fragments) {
        for (String f : fragments) {
            assertTrue(message.contains(f), () -> "expected \"" + f + "\" in: " + message);
        }
    }

    @Test
    void onTheCpuAMicroBatchWhoseLogitsOverflowOneArrayIsRefused() {
        String msg = assertThrows(JgptException.class,
                () -> RunConfig.defaults().withOverrides(List.of("train.device=cpu", "train.micro_batch_size=64"))).getMessage();
        assertContains(msg, "train.micro_batch_size = 64 with train.seq_len = 1024");
        assertContains(msg, "use train.micro_batch_size <= 41");
        // on the GPU (and with auto, until the device is known) build-nanogpt's B=64 is allowed
        RunConfig gpu = RunConfig.defaults().withOverrides(List.of("train.device=cuda", "train.micro_batch_size=64"));
        assertEquals(TrainConfig.Device.CUDA, gpu.train().device());
        assertTrue(gpu.cpuLimit() != null, "the CPU's limit is still known");
        RunConfig auto = RunConfig.defaults().withOverrides(List.of("train.micro_batch_size=64"));
        assertEquals(TrainConfig.Device.AUTO, auto.train().device());
        assertContains(auto.cpuLimit(), "use train.micro_batch_size <= 41");
    }

    @Test
    void anUnknownDeviceIsRefusedNamingTheChoices() {
        assertContains(error("train: {device: tpu}\n"), "train.device", "tpu", "cpu", "cuda", "auto");
    }

    @Test
    void defaultsAreBuildNanogptsGpt2Run() {
        RunConfig c = RunConfig.defaults();
        ModelConfig m = c.model();
        assertEquals("gpt2", m.preset());
        assertEquals(List.of(12, 12, 768, 1024, 50257, 50304),
                List.of(m.shape().nLayer(), m.shape().nHead(), m.shape().nEmbd(), m.shape().blockSize(), m.shape().vocabSize(), m.shape().paddedVocabSize()));
        assertNull(m.initFrom());
        TrainConfig t = c.train();
        assertEquals(524288, t.totalBatchSize());
        assertEquals(32, t.microBatchSize()); // build-nanogpt's 64 would not fit one logits array; same step size
        assertEquals(1024, t.seqLen());
        assertEquals(6e-4, t.maxLr());
        assertEquals(6e-4 * 0.1, t.minLr()); // build-nanogpt: min_lr = max_lr * 0.1, bit for bit
        assertEquals(715, t.warmupSteps());
        assertEquals(19073, t.maxSteps());
        assertEquals(0.1, t.weightDecay());
        assertEquals(0.9, t.beta1());
        assertEquals(0.95, t.beta2());
        assertEquals(1e-8, t.eps());
        assertEquals(1.0, t.gradClip());
        assertEquals(1337, t.seed());
        EvalConfig e = c.eval();
        assertEquals(List.of(250, 20, 250, 250, 4, 32, 50), List.of(e.valEvery(), e.valSteps(), e.hellaswagEvery(),
                e.sampleEvery(), e.numSamples(), e.sampleMaxTokens(), e.topK()));
        assertEquals("Hello, I'm a language model,", e.samplePrompt());
        assertEquals(42, e.sampleSeed());
        assertEquals(5000, e.checkpointEvery());
        assertEquals(DataConfig.Order.SEQUENTIAL, c.data().order());
        assertEquals(Path.of("data/jdk"), c.data().dir());
        assertEquals("jdk-src", c.data().source());
        assertEquals(Path.of("runs"), c.log().runsDir());
        assertNull(c.log().name());
    }

    @Test
    void gpt2ConfigFileIsTheDefaults() {
        // configs/gpt2-124m.yaml spells out build-nanogpt's run; every value must equal the defaults,
        // except its data (FineWeb-Edu, downloaded) and HellaSwag (downloaded), which the defaults leave offline.
        assertEquals(RunConfig.defaults().withOverrides(List.of("data.source=fineweb-edu", "data.dir=data/edufineweb",
                        "eval.hellaswag_file=data/hellaswag/hellaswag_val.jsonl")),
                RunConfig.load(Path.of("configs/gpt2-124m.yaml")));
    }

    @Test
    void quickstartConfigLoadsWithoutAccumulation() {
        RunConfig c = RunConfig.load(Path.of("configs/quickstart.yaml"));
        assertEquals("custom", c.model().preset());
        assertEquals(List.of(4, 4, 128, 128), List.of(c.model().shape().nLayer(), c.model().shape().nHead(), c.model().shape().nEmbd(),
                c.model().shape().blockSize()));
        assertEquals(1, c.gradAccumSteps(1));
        assertEquals(c.train().microBatchSize() * c.train().seqLen(), c.train().totalBatchSize());
        assertTrue(c.train().warmupSteps() < c.train().maxSteps());
        assertEquals(0, c.eval().hellaswagEvery());
    }

    @Test
    void gradAccumStepsIsTotalOverBTimesTimesProcesses() {
        RunConfig c = RunConfig.defaults();
        assertEquals(16, c.gradAccumSteps(1));    // 524288 / (32 * 1024)
        assertEquals(2, c.gradAccumSteps(8));     // 8 processes
        String message = assertThrows(JgptException.class, () -> c.gradAccumSteps(3)).getMessage();
        assertContains(message, "train.total_batch_size = 524288", "32 * 1024 * 3");
        assertEquals(524288L * 19073, c.train().totalTokens());
    }

    @Test
    void parameterCountsMatchGpt2Checkpoints() {
        assertEquals(124_439_808L, ModelConfig.preset("gpt2").shape().realParameterCount());
        assertEquals(354_823_168L, ModelConfig.preset("gpt2-medium").shape().realParameterCount());
        assertEquals(774_030_080L, ModelConfig.preset("gpt2-large").shape().realParameterCount());
        assertEquals(1_557_611_200L, ModelConfig.preset("gpt2-xl").shape().realParameterCount());
        assertEquals(64, ModelConfig.preset("gpt2").shape().headSize());
    }

    @Test
    void toYamlLoadsBackToAnEqualRecord(@TempDir Path dir) throws IOException {
        RunConfig custom = parse("""
                model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: 64, vocab_size: 1000, init_from: weights/x.bin}
                data: {dir: somewhere/shards, order: shuffled, seed: 7}
                train: {total_batch_size: 2048, micro_batch_size: 4, seq_len: 64, max_lr: 3e-3, min_lr: 1e-5}
                eval: {hellaswag_file: hs/val.jsonl, sample_prompt: "a: \\"quoted\\" {prompt}", top_k: 0, sample_every: 0}
                log: {name: "2024", runs_dir: out}
                """);
        for (RunConfig c : List.of(RunConfig.defaults(), custom, RunConfig.load(Path.of("configs/quickstart.yaml")))) {
            Path file = dir.resolve("config.yaml");
            Files.writeString(file, c.toYaml());
            assertEquals(c, RunConfig.load(file));
        }
        assertEquals("2024", custom.log().name());
        assertEquals(1e-5, custom.train().minLr(), 1e-20);
        assertEquals(1024, custom.model().shape().paddedVocabSize());
    }

    @Test
    void numbersAreReadInTheirUsualSpellings() {
        // YAML 1.1 reads 6e-4 and 1e3 as text; both must still be numbers here.
        RunConfig c = parse("train: {max_lr: 6e-4, max_steps: 1e3, total_batch_size: 524_288, beta2: .95, grad_clip: 1}");
        assertEquals(6e-4, c.train().maxLr());
        assertEquals(1000, c.train().maxSteps());
        assertEquals(524288, c.train().totalBatchSize());
        assertEquals(0.95, c.train().beta2());
        assertEquals(1.0, c.train().gradClip());
    }

    @Test
    void emptyFileIsTheDefaults() {
        assertEquals(RunConfig.defaults(), parse(""));
        assertEquals(RunConfig.defaults(), parse("# nothing but a comment\n"));
    }

    @Test
    void unknownKeyIsNamedWithItsSectionsKeys() {
        assertContains(error("train:\n  max_lrr: 1e-3\n"),
                "run.yaml: ", "unknown key train.max_lrr", "max_lr", "min_lr_ratio");
    }

    @Test
    void aKeyUnderTheWrongSectionIsNamedWithItsOwn() {
        assertEquals("run.yaml: unknown key model.max_lr: max_lr is a key of train, not of model (train.max_lr)",
                error("model:\n  max_lr: 1e-3\n"));
        assertEquals("run.yaml: unknown key eval.seed: seed is a key of data and train, not of eval (data.seed, train.seed)",
                error("eval: {seed: 1}\n"));
        // a line indented under the section above
        assertEquals("run.yaml: unknown key data.max_steps: max_steps is a key of train, not of data (train.max_steps)",
                error("data:\n  dir: d\n  max_steps: 5\ntrain:\n  seed: 1\n"));
        assertEquals("--set log.max_steps=5: unknown key log.max_steps: max_steps is a key of train, not of log (train.max_steps)",
                assertThrows(JgptException.class, () -> RunConfig.defaults().withOverrides(List.of("log.max_steps=5"))).getMessage());
    }

    @Test
    void unknownSectionIsNamed() {
        assertContains(error("optimizer:\n  lr: 1\n"), "run.yaml: ", "unknown section optimizer", "model, data, train, eval, log");
    }

    @Test
    void sectionMustBeAMapping() {
        assertContains(error("train: 5\n"), "run.yaml: ", "train must be a mapping");
        assertContains(error("- a\n- b\n"), "run.yaml: ", "mapping of sections");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
            "train: {max_lr: -1}            | train.max_lr = -1: must be > 0",
            "train: {max_lr: abc}           | train.max_lr = abc: must be a number",
            "train: {max_lr: .nan}          | train.max_lr = NaN: must be a finite number",
            "train: {beta2: 1.0}            | train.beta2 = 1: must be in [0, 1)",
            "train: {beta1: -0.1}           | train.beta1 = -0.1: must be in [0, 1)",
            "train: {eps: 0}                | train.eps = 0: must be > 0",
            "train: {weight_decay: -0.1}    | train.weight_decay = -0.1: must be >= 0",
            "train: {grad_clip: -1}         | train.grad_clip = -1: must be >= 0",
            "train: {max_steps: 0}          | train.max_steps = 0: must be >= 1",
            "train: {max_steps: 2.5}        | train.max_steps = 2.5: must be a whole number",
            "train: {micro_batch_size: 0}   | train.micro_batch_size = 0: must be >= 1",
            "train: {threads: -2}           | train.threads = -2: must be >= 0",
            "train: {warmup_steps: 20000}   | train.warmup_steps = 20000: must be between 0 and train.max_steps (19073)",
            "train: {min_lr: 1e-3}          | train.min_lr = 0.001: must be between 0 and train.max_lr",
            "train: {min_lr_ratio: 1.5}     | train.min_lr_ratio = 1.5: must be between 0 and 1",
            "train: {seq_len: 3000000000}   | train.seq_len = 3000000000: must be at most 2147483647",
            "data: {order: random}          | data.order = random: must be one of sequential, shuffled",
            "data: {source: ''}             | data.source = \"\": must be the name of a corpus",
            "model: {preset: gpt3}          | model.preset = gpt3: must be one of gpt2, gpt2-medium, gpt2-large, gpt2-xl, custom",
            "model: {n_layer: 0, n_head: 1, n_embd: 8}   | model.n_layer = 0: must be >= 1",
            "model: {vocab_size: 1000, padded_vocab_size: 999} | model.padded_vocab_size = 999: must be >= model.vocab_size (1000)",
            "eval: {val_steps: 0}           | eval.val_steps = 0: must be >= 1",
            "eval: {top_k: -1}              | eval.top_k = -1: must be >= 0",
            "eval: {keep_last: -1}          | eval.keep_last = -1: must be >= 0",
            "eval: {sample_prompt: ''}      | eval.sample_prompt = \"\": must be non-empty text",
            "eval: {num_samples: [1, 2]}    | eval.num_samples = a list: must be a whole number",
            "log: {name: ../escape}         | log.name = ../escape: must be a folder name",
            "log: {name: -x}                | log.name = -x: must be a folder name of letters, digits, '.', '-', '_' (at most 100, not starting with '.' or '-')",
            "log: {log_every: 0}            | log.log_every = 0: must be >= 1",
    })
    void badValueIsNamedWithPathValueAndRule(String yaml, String expected) {
        String message = error(yaml);
        assertTrue(message.startsWith("run.yaml: "), message);
        assertContains(message, expected);
    }

    @Test
    void totalBatchMustBeAWholeNumberOfMicroBatches() {
        assertContains(error("train: {total_batch_size: 1000, micro_batch_size: 8, seq_len: 128}"),
                "run.yaml: ", "train.total_batch_size = 1000 must be divisible by", "8 * 128 = 1024", "the nearest that fit are 1024");
        assertContains(error("train: {total_batch_size: 5000, micro_batch_size: 8, seq_len: 128}"),
                "micro-batches: the nearest that fit are 4096 and 5120");
        // on 3 processes (mpirun -np 3) the batch must split across them too
        RunConfig three = parse("train: {total_batch_size: 4096, micro_batch_size: 8, seq_len: 128}");
        assertEquals(4, three.gradAccumSteps(1));
        assertEquals("train.total_batch_size = 4096 must be divisible by train.micro_batch_size * train.seq_len * processes"
                + " = 8 * 128 * 3 = 3072, so that each step accumulates a whole number of micro-batches: the nearest that fit are"
                + " 3072 and 6144", assertThrows(JgptException.class, () -> three.gradAccumSteps(3)).getMessage());
    }

    @Test
    void headsMustDivideChannels() {
        assertContains(error("model: {n_layer: 2, n_head: 3, n_embd: 128}"),
                "run.yaml: ", "model.n_embd = 128 must be divisible by model.n_head = 3");
    }

    @Test
    void sequencesMustFitTheBlock() {
        assertContains(error("model: {block_size: 512}\n"), "run.yaml: ",
                "train.seq_len = 1024 must be <= model.block_size = 512");
        assertContains(error("model: {block_size: 16}\ntrain: {seq_len: 16, total_batch_size: 1024}"),
                "eval.sample_max_tokens = 32 must be <= model.block_size = 16");
        assertContains(error("model: {vocab_size: 10, padded_vocab_size: 10}"), "eval.top_k = 50 must be <= model.vocab_size = 10");
    }

    @Test
    void aSamplePromptThatLeavesNothingToSampleIsRefused() {
        String words = "word ".repeat(40).strip(); // 40 tokens
        assertContains(error("model: {block_size: 32}\ntrain: {seq_len: 32}\neval: {sample_prompt: " + words + "}\n"),
                "run.yaml: eval.sample_prompt is 40 tokens, which leaves none of eval.sample_max_tokens = 32",
                "model.block_size = 32");
        assertContains(assertThrows(JgptException.class, () -> RunConfig.defaults()
                        .withOverrides(List.of("eval.sample_max_tokens=8"))).getMessage(),
                "--set eval.sample_max_tokens=8: eval.sample_prompt is 8 tokens");
        assertEquals(9, RunConfig.defaults().withOverrides(List.of("eval.sample_max_tokens=9")).eval().sampleMaxTokens());
        // a small custom vocabulary cannot read GPT-2's ids of the default prompt
        assertContains(error("model: {vocab_size: 1000, padded_vocab_size: 1024}\neval: {top_k: 0}\n"),
                "eval.sample_prompt holds GPT-2 token 15496, past model.vocab_size = 1000");
        // without samples the prompt is not used
        parse("model: {vocab_size: 1000, padded_vocab_size: 1024}\neval: {top_k: 0, sample_every: 0, sample_prompt: " + words + "}\n");
    }

    @Test
    void minLrAndRatioAreExclusive() {
        assertContains(error("train: {min_lr: 1e-5, min_lr_ratio: 0.1}"),
                "run.yaml: ", "train.min_lr and train.min_lr_ratio are both set");
    }

    @Test
    void presetIsAShorthandAndCustomNeedsAShape() {
        RunConfig medium = parse("model: gpt2-medium\n");
        assertEquals(List.of(24, 16, 1024), List.of(medium.model().shape().nLayer(), medium.model().shape().nHead(), medium.model().shape().nEmbd()));
        RunConfig xl = parse("model: {preset: gpt2-xl}\n");
        assertEquals(1600, xl.model().shape().nEmbd());
        assertEquals(25, xl.model().shape().nHead());

        RunConfig shapeOnly = parse("model: {n_layer: 2, n_head: 2, n_embd: 64}\n");
        assertEquals("custom", shapeOnly.model().preset());

        assertContains(error("model: {preset: custom, n_layer: 2, n_head: 2}"),
                "run.yaml: model.n_embd is required when model.preset is custom");
        assertContains(error("model: {preset: gpt2, n_layer: 6}"),
                "model.n_layer = 6: conflicts with model.preset gpt2, which has n_layer 12", "custom");
        // Restating a preset's own shape is fine (a resolved config.yaml does exactly that).
        assertEquals(RunConfig.defaults(), parse("model: {preset: gpt2, n_layer: 12, n_head: 12, n_embd: 768}"));
    }

    @Test
    void paddedVocabularyRoundsUpTo128() {
        assertEquals(50304, dev.jgpt.model.GptConfig.padVocab(50257));
        assertEquals(128, dev.jgpt.model.GptConfig.padVocab(128));
        assertEquals(256, dev.jgpt.model.GptConfig.padVocab(129));
        assertEquals(1024, parse("model: {vocab_size: 1000}\neval: {sample_every: 0}").model().shape().paddedVocabSize());
    }

    @Test
    void yamlSyntaxErrorNamesFileAndLine(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("broken.yaml");
        Files.writeString(file, "train:\n  max_lr: [1e-3\n  seed: 1\n");
        String message = assertThrows(JgptException.class, () -> RunConfig.load(file)).getMessage();
        assertContains(message, file.toString() + ": ", "invalid YAML");
        assertFalse(message.contains("\n"), message);
    }

    @Test
    void duplicateKeyIsAnError() {
        assertContains(error("train:\n  max_lr: 1e-3\n  max_lr: 2e-3\n"), "run.yaml: 3:", "duplicate key max_lr");
    }

    @Test
    void missingFileIsNamed() {
        String message = assertThrows(JgptException.class, () -> RunConfig.load(Path.of("no/such/config.yaml"))).getMessage();
        assertContains(message, "no/such/config.yaml", "not found");
    }

    @Test
    void fileErrorsNameTheFile(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("mine.yaml");
        Files.writeString(file, "train:\n  max_lr: -3\n");
        assertContains(assertThrows(JgptException.class, () -> RunConfig.load(file)).getMessage(),
                file + ": train.max_lr = -3: must be > 0");
    }

    // ---- overrides -------------------------------------------------------------------------

    @Test
    void overridesSetValuesOfAnyType() {
        RunConfig c = RunConfig.defaults().withOverrides(List.of(
                "train.max_steps=100", "train.warmup_steps=10", "data.order=shuffled",
                "eval.sample_prompt=Once upon a time", "log.name=try-1", "train.max_lr = 1e-3"));
        assertEquals(100, c.train().maxSteps());
        assertEquals(10, c.train().warmupSteps());
        assertEquals(DataConfig.Order.SHUFFLED, c.data().order());
        assertEquals("Once upon a time", c.eval().samplePrompt());
        assertEquals("try-1", c.log().name());
        assertEquals(1e-3, c.train().maxLr());
    }

    @Test
    void raisingMaxLrKeepsTheRatio() {
        RunConfig c = RunConfig.defaults().withOverrides(List.of("train.max_lr=1e-3"));
        assertEquals(1e-3 * 0.1, c.train().minLr());
        RunConfig absolute = RunConfig.defaults().withOverrides(List.of("train.min_lr=0", "train.max_lr=1e-3"));
        assertEquals(0.0, absolute.train().minLr());
        RunConfig ratio = absolute.withOverrides(List.of("train.min_lr_ratio=0.5"));
        assertEquals(5e-4, ratio.train().minLr());
    }

    @Test
    void presetOverrideRederivesTheShape() {
        RunConfig medium = RunConfig.defaults().withOverrides(List.of("model.preset=gpt2-medium"));
        assertEquals(24, medium.model().shape().nLayer());
        RunConfig custom = RunConfig.defaults().withOverrides(List.of("model.preset=custom", "model.n_layer=4"));
        assertEquals(List.of(4, 12, 768), List.of(custom.model().shape().nLayer(), custom.model().shape().nHead(), custom.model().shape().nEmbd()));
        RunConfig vocab = RunConfig.defaults().withOverrides(List.of("model.vocab_size=1000", "eval.sample_every=0"));
        assertEquals(1024, vocab.model().shape().paddedVocabSize());
    }

    @Test
    void overrideErrorsNameTheOverride() {
        RunConfig d = RunConfig.defaults();
        assertEquals("--set train.max_lr=-1: must be > 0",
                assertThrows(JgptException.class, () -> d.withOverrides(List.of("train.max_lr=-1"))).getMessage());
        assertContains(assertThrows(JgptException.class, () -> d.withOverrides(List.of("train.foo=1"))).getMessage(),
                "--set train.foo=1: unknown key train.foo");
        assertContains(assertThrows(JgptException.class, () -> d.withOverrides(List.of("optim.lr=1"))).getMessage(),
                "--set optim.lr=1: unknown section optim");
        assertContains(assertThrows(JgptException.class, () -> d.withOverrides(List.of("model.n_layer=4"))).getMessage(),
                "--set model.n_layer=4: conflicts with model.preset gpt2", "custom");
        assertContains(assertThrows(JgptException.class, () -> d.withOverrides(List.of("train.micro_batch_size=7"))).getMessage(),
                "--set train.micro_batch_size=7: train.total_batch_size = 524288 must be divisible");
        for (String malformed : List.of("max_lr=1", "train.max_lr", "a.b.c=1", ".x=1", "train.=1")) {
            assertContains(assertThrows(JgptException.class, () -> d.withOverrides(List.of(malformed))).getMessage(),
                    "--set " + malformed + ": expected section.key=value");
        }
    }

    @Test
    void anEmptyValueClearsOnlyAKeyThatMayBeNull() {
        RunConfig named = RunConfig.defaults().withOverrides(List.of("log.name=abc", "model.init_from=w.bin"));
        RunConfig reset = named.withOverrides(List.of("log.name=", "model.init_from=null", "eval.hellaswag_file=~"));
        assertNull(reset.log().name());
        assertNull(reset.model().initFrom());
        assertNull(reset.eval().hellaswagFile());
        // anywhere else an empty value is a mistake, not a request for the default
        RunConfig d = RunConfig.defaults();
        assertEquals("--set data.dir=: data.dir needs a value; leave the --set out for the default (data/jdk)",
                assertThrows(JgptException.class, () -> d.withOverrides(List.of("data.dir="))).getMessage());
        for (String set : List.of("train.seed=null", "train.max_steps=", "data.order=~", "model.preset=", "model.n_layer=",
                "train.min_lr=", "eval.sample_prompt=", "log.runs_dir=")) {
            String key = set.substring(0, set.indexOf('='));
            assertContains(assertThrows(JgptException.class, () -> d.withOverrides(List.of(set)), set).getMessage(),
                    "--set " + set + ": " + key + " needs a value");
        }
    }

    @Test
    void aKeyWithNoValueInTheFileIsRefusedNamingTheFileAndKey() {
        assertEquals("run.yaml: train.max_steps has no value; give one, or remove the key for the default (19073)",
                error("train:\n  max_steps:\n"));
        assertEquals("run.yaml: data.dir has no value; give one, or remove the key for the default (data/jdk)",
                error("data: {dir: }\n"));
        assertContains(error("model: {preset: custom, n_layer: 2, n_head: 2, n_embd:}\n"), "run.yaml: model.n_embd has no value");
        assertContains(error("model: {n_layer: ~}\n"), "run.yaml: model.n_layer has no value");
        assertContains(error("model: {preset:}\n"), "run.yaml: model.preset has no value", "(gpt2)");
        assertContains(error("train: {min_lr: null}\n"), "run.yaml: train.min_lr has no value");
        assertContains(error("eval: {top_k:}\n"), "run.yaml: eval.top_k has no value", "(50)");
        // keys that may be null, and the fully resolved YAML that writes them so, still read back
        RunConfig c = parse("model: {init_from:}\neval: {hellaswag_file: null}\nlog: {name: ~}\n");
        assertNull(c.model().initFrom());
        assertEquals(c, parse(c.toYaml()));
    }

    @Test
    void readmeTrainingExamplesThatMoveDataDirAlsoSayWhatToPrepareThere() throws IOException {
        // data.source, not data.dir, picks the corpus: a new data.dir alone gets the config's corpus prepared into it
        List<String> commands = Files.readAllLines(Path.of("README.md")).stream()
                .filter(l -> l.contains("./jgpt train") && l.contains("--set data.dir=")).toList();
        assertFalse(commands.isEmpty(), "README shows training on another data.dir");
        for (String command : commands) assertContains(command, "--set data.source=");
    }

    @Test
    void textOverridesStayText() {
        // YAML would read these as a boolean and a list; prompts and names are text.
        RunConfig c = RunConfig.defaults().withOverrides(List.of("eval.sample_prompt=No", "eval.sample_prompt=[x] y"));
        assertEquals("[x] y", c.eval().samplePrompt());
        assertEquals("No", RunConfig.defaults().withOverrides(List.of("eval.sample_prompt=No")).eval().samplePrompt());
    }

    @Test
    void textKeysInTheFileAreReadAsWritten() {
        // YAML 1.1 alone reads 0123 as 83, on and No as booleans, 1.10 as 1.1.
        RunConfig c = parse("data:\n  dir: 0123\neval:\n  sample_prompt: No\nlog:\n  name: on\n");
        assertEquals(Path.of("0123"), c.data().dir());
        assertEquals("No", c.eval().samplePrompt());
        assertEquals("on", c.log().name());
        assertEquals("1.10", parse("log: {name: 1.10}\n").log().name());
        assertEquals("0123", parse("log:\n  name: '0123'\n").log().name());
        assertNull(parse("log:\n  name: ~\n").log().name());
        // numbers stay numbers, and the written config reads back to the same text
        RunConfig numbers = parse("train:\n  max_steps: 0x10\n  warmup_steps: 010\nlog:\n  name: 010\n");
        assertEquals(16, numbers.train().maxSteps());
        assertEquals(8, numbers.train().warmupSteps());
        assertEquals(numbers, RunConfig.parse(numbers.toYaml(), null, List.of()));
        assertEquals("010", RunConfig.parse(c.withRunName("010").toYaml(), null, List.of()).log().name());
    }

    @Test
    void loadWithOverridesBlamesEachSourceRight(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("base.yaml");
        Files.writeString(file, "model: {block_size: 256}\ntrain: {seq_len: 256, total_batch_size: 131072}\n");
        RunConfig c = RunConfig.load(file, List.of("train.micro_batch_size=8", "model.block_size=512"));
        assertEquals(512, c.model().shape().blockSize());
        assertEquals(64, c.gradAccumSteps(1));
        assertContains(assertThrows(JgptException.class, () -> RunConfig.load(file, List.of("train.seq_len=512"))).getMessage(),
                "--set train.seq_len=512: train.seq_len = 512 must be <= model.block_size = 256");
        Files.writeString(file, "train: {eps: -1}\n");
        assertContains(assertThrows(JgptException.class, () -> RunConfig.load(file, List.of("train.seed=1"))).getMessage(),
                file + ": train.eps = -1");
    }

    @Test
    void threadsZeroMeansAllCoresAndMoreThanTheCoresIsCutToThem() {
        int cores = Runtime.getRuntime().availableProcessors();
        assertEquals(cores, RunConfig.defaults().train().threadCount());
        assertEquals(1, RunConfig.defaults().withOverrides(List.of("train.threads=1")).train().threadCount());
        assertEquals(cores, RunConfig.defaults().withOverrides(List.of("train.threads=" + (cores + 7))).train().threadCount());
    }
}
