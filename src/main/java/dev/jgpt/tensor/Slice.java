package dev.jgpt.tensor;

/**
 * A tensor's place in a flat float buffer: it starts at {@code array[offset]}. The engines pass these
 * (a layer's activations, a parameter's {@link View#in view of the buffer}); a kernel unpacks them once,
 * at entry, into the array and offset its loops index.
 */
public record Slice(float[] array, int offset) {

    /** The whole of {@code array}, from its start. */
    public static Slice of(float[] array) {
        return new Slice(array, 0);
    }

    /** The slice starting {@code n} floats further on. */
    public Slice plus(int n) {
        return new Slice(array, offset + n);
    }
}
