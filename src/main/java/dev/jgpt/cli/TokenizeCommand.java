package dev.jgpt.cli;

import com.google.gson.Gson;
import dev.jgpt.JgptException;
import dev.jgpt.track.ProgressBar;
import dev.jgpt.tokenizer.Gpt2Tokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CoderResult;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code jgpt tokenize}: text to GPT-2 token ids, or ids back to text with --decode. */
@Command(name = "tokenize",
        mixinStandardHelpOptions = true,
        description = {
                "Print the GPT-2 token ids of a text, or with --decode the text of token ids.",
                "The text comes from --text, --file, the arguments, or standard input.",
                "Examples:",
                "  jgpt tokenize --text 'Hello world'          # 15496 995",
                "  jgpt tokenize --json --file notes.txt",
                "  jgpt tokenize --decode 15496 995             # Hello world",
        })
public final class TokenizeCommand implements Callable<Integer> {
    @Option(names = "--text", paramLabel = "TEXT", description = "The text (or, with --decode, the ids).")
    String text;

    @Option(names = "--file", paramLabel = "FILE", description = "Read the text (or ids) from a file (- for standard input).")
    Path file;

    @Option(names = "--json", description = "Print the ids as a JSON array.")
    boolean json;

    @Option(names = "--decode", description = "Turn ids (separated by spaces or commas, or a JSON array) into text.")
    boolean decode;

    @Option(names = "--special", description = "Encode the text <|endoftext|> as the special token 50256.")
    boolean special;

    @Parameters(paramLabel = "WORDS", description = "The text (or ids), if neither --text nor --file is given.")
    String[] words;

    @Override
    public Integer call() throws IOException {
        String input = input();
        Gpt2Tokenizer tokenizer = Gpt2Tokenizer.get();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (decode) {
            out.print(tokenizer.decode(parseIds(input)));
            out.println();
            return 0;
        }
        int[] ids = special ? tokenizer.encodeWithSpecial(input) : tokenizer.encode(input);
        if (json) {
            out.println(new Gson().toJson(ids));
        } else {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < ids.length; i++) {
                if (i > 0) sb.append(' ');
                sb.append(ids[i]);
            }
            out.println(sb);
        }
        return 0;
    }

    private String input() throws IOException {
        int given = (text != null ? 1 : 0) + (file != null ? 1 : 0) + (words != null ? 1 : 0);
        if (given > 1) {
            throw new JgptException("give the text once: --text, --file or arguments");
        }
        if (text != null) return text;
        if (words != null) return String.join(" ", words);
        if (file != null) return readText(file, "--file");
        return utf8(readAtMost(System.in, MAX_BYTES, "standard input"), "standard input");
    }

    /** The most bytes of text tokenize takes at once: they are read into one Java array. */
    static final int MAX_BYTES = Integer.MAX_VALUE - 8;

    /** All of {@code in}, refused when it holds more than {@code limit} bytes. */
    static byte[] readAtMost(InputStream in, int limit, String source) throws IOException {
        byte[] bytes = in.readNBytes(limit);
        if (bytes.length == limit && in.read() != -1) throw tooLarge(source + ": more text", "FILE");
        return bytes;
    }

    /** A text past {@link #MAX_BYTES}: more heap would not help, prepare streams a corpus of any size. */
    private static JgptException tooLarge(String what, String corpus) {
        return new JgptException(what + " than tokenize reads at once (" + ProgressBar.formatBytes(MAX_BYTES)
                + "); jgpt prepare --source " + corpus + " tokenizes a corpus of any size into token shards");
    }

    /**
     * The UTF-8 text of the file that {@code option} names: {@code -} is standard input, and a pipe
     * ({@code /dev/stdin}, a shell's {@code <(command)}) is read as a file is.
     */
    static String readText(Path file, String option) throws IOException {
        if (file.toString().equals("-")) return utf8(readAtMost(System.in, MAX_BYTES, "standard input"), "standard input");
        String name = option + " " + file;
        if (Files.isDirectory(file)) throw new JgptException(name + ": is a directory, not a text file");
        if (!Files.exists(file)) throw new JgptException(name + ": no such file");
        try {
            if (Files.isRegularFile(file) && Files.size(file) > MAX_BYTES) {
                throw tooLarge(name + ": " + ProgressBar.formatBytes(Files.size(file)) + " is more text", file.toString());
            }
            try (InputStream in = Files.newInputStream(file)) { // a pipe has no size: read at most the limit
                return utf8(readAtMost(in, MAX_BYTES, name), name);
            }
        } catch (IOException e) {
            throw new JgptException(name + ": cannot read: " + JgptException.reason(e), e);
        }
    }

    /**
     * The bytes as UTF-8, refusing any that are not: replacing them with U+FFFD would print the ids
     * of a text that is not the one given.
     */
    static String utf8(byte[] bytes, String source) {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult result = StandardCharsets.UTF_8.newDecoder().decode(in, out, true);
        if (result.isError()) {
            int at = in.position(), line = 1;
            for (int i = 0; i < at; i++) if (bytes[i] == '\n') line++;
            throw new JgptException(source + ": not UTF-8 text: byte 0x" + String.format("%02X", bytes[at] & 0xff)
                    + " at offset " + at + " (line " + line + ")");
        }
        return out.flip().toString();
    }

    /** Ids separated by spaces, commas or newlines, optionally in [brackets]. */
    static int[] parseIds(String s) {
        String body = s.strip();
        if (body.startsWith("[") && body.endsWith("]")) {
            body = body.substring(1, body.length() - 1);
        }
        String[] parts = body.strip().isEmpty() ? new String[0] : body.strip().split("[\\s,]+");
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                ids[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new JgptException("--decode: '" + parts[i] + "' is not a token id");
            }
            if (ids[i] < 0 || ids[i] >= Gpt2Tokenizer.VOCAB_SIZE) {
                throw new JgptException("--decode: token id " + ids[i] + " is outside GPT-2's vocabulary [0, "
                        + Gpt2Tokenizer.VOCAB_SIZE + ")");
            }
        }
        return ids;
    }
}
