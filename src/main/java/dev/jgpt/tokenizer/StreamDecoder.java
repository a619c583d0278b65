package dev.jgpt.tokenizer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Decodes generated tokens one at a time. A token may end in the middle of a UTF-8 character (an emoji
 * or a CJK character is often two or three tokens), so the bytes of an unfinished character wait here
 * until the token that completes it arrives; {@link #next(int)} returns only whole characters.
 * Bytes that can never become a character turn into U+FFFD, as {@link Gpt2Tokenizer#decode} does.
 *
 * <pre>{@code
 * StreamDecoder out = Gpt2Tokenizer.get().streamDecoder();
 * for (int id : generated) System.out.print(out.next(id));
 * System.out.print(out.finish());
 * }</pre>
 */
public final class StreamDecoder {
    private final Gpt2Tokenizer tokenizer;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    // Bytes received but not yet decoded: at most one unfinished character (< 4 bytes) between calls.
    private ByteBuffer pending = ByteBuffer.allocate(64);
    private final CharBuffer chars = CharBuffer.allocate(256);

    StreamDecoder(Gpt2Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Adds one token; returns the text it completes (possibly empty). */
    public String next(int token) {
        byte[] bytes = tokenizer.tokenBytes(token);
        if (pending.remaining() < bytes.length) {
            ByteBuffer bigger = ByteBuffer.allocate(pending.capacity() + bytes.length);
            pending.flip();
            bigger.put(pending);
            pending = bigger;
        }
        pending.put(bytes);
        return drain(false);
    }

    /** Ends the stream: returns the text of any bytes still held back (as U+FFFD if incomplete). */
    public String finish() {
        String rest = drain(true);
        utf8.reset();
        return rest;
    }

    private String drain(boolean endOfInput) {
        pending.flip();
        StringBuilder out = new StringBuilder();
        while (true) {
            CoderResult result = utf8.decode(pending, chars, endOfInput);
            chars.flip();
            out.append(chars);
            chars.clear();
            if (!result.isOverflow()) {
                break;
            }
        }
        if (endOfInput) {
            while (utf8.flush(chars).isOverflow()) {
                chars.flip();
                out.append(chars);
                chars.clear();
            }
            chars.flip();
            out.append(chars);
            chars.clear();
        }
        pending.compact();
        return out.toString();
    }
}
