package dev.jgpt.tokenizer;

import java.util.Arrays;

/**
 * The ids of recently seen pre-tokenizer pieces, looked up by a range of the text so that a hit
 * allocates nothing (a substring per piece would be most of the garbage of encoding a corpus).
 * Open addressing with linear probing; cleared when full. One per thread.
 */
final class PieceCache {
    private static final int CAPACITY = 1 << 20;
    private static final int LIMIT = CAPACITY / 2;

    private final String[] keys = new String[CAPACITY];
    private final int[][] values = new int[CAPACITY][];
    private int size;

    /** The ids of {@code text[start, end)}, or null. */
    int[] get(String text, int start, int end) {
        int len = end - start;
        for (int i = slot(text, start, end); ; i = (i + 1) & (CAPACITY - 1)) {
            String key = keys[i];
            if (key == null) {
                return null;
            }
            if (key.length() == len && key.regionMatches(0, text, start, len)) {
                return values[i];
            }
        }
    }

    void put(String piece, int[] ids) {
        if (size >= LIMIT) {
            Arrays.fill(keys, null);
            Arrays.fill(values, null);
            size = 0;
        }
        int i = slot(piece, 0, piece.length());
        while (keys[i] != null) {
            if (keys[i].equals(piece)) {
                values[i] = ids;
                return;
            }
            i = (i + 1) & (CAPACITY - 1);
        }
        keys[i] = piece;
        values[i] = ids;
        size++;
    }

    private static int slot(String text, int start, int end) {
        int h = 0;
        for (int i = start; i < end; i++) {
            h = 31 * h + text.charAt(i);
        }
        h *= 0x9E3779B9;
        return (h ^ (h >>> 15)) & (CAPACITY - 1);
    }
}
