package dev.jgpt.tokenizer;

import dev.jgpt.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** jgpt tokenize, run as a user runs it. */
class TokenizeCommandTest {
    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        PrintStream oldOut = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            var cl = Main.commandLine();
            cl.setErr(new PrintWriter(err, true));
            int code = cl.execute(args);
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(oldOut);
        }
    }

    @Test
    void encodesAndDecodes() {
        assertEquals(new Result(0, "15496 995\n", ""), run("tokenize", "--text", "Hello world"));
        assertEquals(new Result(0, "[15496,995]\n", ""), run("tokenize", "--json", "Hello", "world"));
        assertEquals(new Result(0, "Hello world\n", ""), run("tokenize", "--decode", "15496", "995"));
        assertEquals(new Result(0, "Hello world\n", ""), run("tokenize", "--decode", "--text", "[15496, 995]"));
        assertEquals(new Result(0, "40 50256\n", ""), run("tokenize", "--special", "--text", "I<|endoftext|>"));
        assertEquals("40 27 91 437 1659 5239 91 29\n", run("tokenize", "--text", "I<|endoftext|>").out());
    }

    @Test
    void badIdsAreOneLineErrors() {
        Result r = run("tokenize", "--decode", "--text", "1 2 50257");
        assertEquals(1, r.code());
        assertEquals("jgpt tokenize: --decode: token id 50257 is outside GPT-2's vocabulary [0, 50257)\n", r.err());
        r = run("tokenize", "--file", "no/such/file.txt");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("--file no/such/file.txt: no such file"), r.err());
    }

    /** A file past what one Java array holds is refused before it is read: more heap would not help. */
    @Test
    void aFileLargerThanOneArrayIsRefusedNamingPrepare(@TempDir Path tmp) throws IOException {
        Path huge = tmp.resolve("huge.txt");
        try (RandomAccessFile f = new RandomAccessFile(huge.toFile(), "rw")) {
            f.setLength(2_500_000_000L); // sparse: nothing is written
        }
        Result r = run("tokenize", "--file", huge.toString());
        assertEquals(new Result(1, "", "jgpt tokenize: --file " + huge + ": 2.50 GB is more text than tokenize reads at once"
                + " (2.15 GB); jgpt prepare --source " + huge + " tokenizes a corpus of any size into token shards\n"), r);
    }

    /** Bytes that are not UTF-8 are refused where they are, not tokenized as U+FFFD; a directory is named as one. */
    @Test
    void inputThatIsNotUtf8IsRefused(@TempDir Path tmp) throws IOException {
        Path latin1 = Files.write(tmp.resolve("latin1.txt"), new byte[] {'o', 'k', '\n', 'c', 'a', 'f', (byte) 0xe9});
        Result r = run("tokenize", "--file", latin1.toString());
        assertEquals(new Result(1, "", "jgpt tokenize: --file " + latin1 + ": not UTF-8 text: byte 0xE9 at offset 6 (line 2)\n"), r);

        InputStream oldIn = System.in;
        try {
            System.setIn(new ByteArrayInputStream(new byte[] {'c', 'a', 'f', (byte) 0xc3})); // a cut-off 2-byte character
            r = run("tokenize");
        } finally {
            System.setIn(oldIn);
        }
        assertEquals(new Result(1, "", "jgpt tokenize: standard input: not UTF-8 text: byte 0xC3 at offset 3 (line 1)\n"), r);

        Path good = Files.writeString(tmp.resolve("good.txt"), "caf\u00e9");
        assertEquals(run("tokenize", "--text", "caf\u00e9"), run("tokenize", "--file", good.toString()));

        r = run("tokenize", "--file", tmp.toString());
        assertEquals(new Result(1, "", "jgpt tokenize: --file " + tmp + ": is a directory, not a text file\n"), r);
    }
}
