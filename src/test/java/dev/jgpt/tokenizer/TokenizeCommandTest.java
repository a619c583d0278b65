package dev.jgpt.tokenizer;

import dev.jgpt.cli.Main;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;

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
}
