package dev.jgpt.tokenizer;

/**
 * The ids of recently seen pre-tokenizer pieces, looked up by a range of the text so that a hit
 * allocates nothing (a substring per piece would be most of the garbage of encoding a corpus).
 * Open addressing with linear probing; grows to {@value #MAX_CAPACITY} slots, then starts over when
 * half full. One per thread.
 */
final class PieceCache {
    private static final int MAX_CAPACITY = 1 << 21;

    private String[] keys = new String[1 << 12];
    private int[][] values = new int[1 << 12][];
    private int size;

    /** The ids of {@code text[start, end)}, or null. */
    int[] get(String text, int start, int end) {
        int len = end - start;
        int mask = keys.length - 1;
        for (int i = hash(text, start, end) & mask; ; i = (i + 1) & mask) {
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
        if (size >= keys.length / 2) {
            if (keys.length < MAX_CAPACITY) {
                grow();
            } else {
                keys = new String[keys.length];
                values = new int[keys.length][];
                size = 0;
            }
        }
        insert(piece, ids);
    }

    private void insert(String piece, int[] ids) {
        int mask = keys.length - 1;
        int i = hash(piece, 0, piece.length()) & mask;
        while (keys[i] != null) {
            if (keys[i].equals(piece)) {
                values[i] = ids;
                return;
            }
            i = (i + 1) & mask;
        }
        keys[i] = piece;
        values[i] = ids;
        size++;
    }

    private void grow() {
        String[] oldKeys = keys;
        int[][] oldValues = values;
        keys = new String[oldKeys.length * 2];
        values = new int[oldKeys.length * 2][];
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != null) insert(oldKeys[i], oldValues[i]);
        }
    }

    private static int hash(String text, int start, int end) {
        int h = 0;
        for (int i = start; i < end; i++) {
            h = 31 * h + text.charAt(i);
        }
        h *= 0x9E3779B9;
        return h ^ (h >>> 15);
    }
}
