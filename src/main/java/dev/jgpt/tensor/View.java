package dev.jgpt.tensor;

import java.util.Arrays;

/** A named, shaped window of a flat float buffer: elements {@code [offset, offset + size)}. */
public record View(String name, int[] shape, long offset) {

    public View {
        shape = shape.clone();
    }

    public long size() {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    /** Row-major offset of the first element, as an int index into a float[] buffer. */
    public int start() {
        return Math.toIntExact(offset);
    }

    /** This tensor in {@code buffer} (the parameters, their gradients, ...), laid out as this view's layout. */
    public Slice in(float[] buffer) {
        return new Slice(buffer, start());
    }

    public int end() {
        return Math.toIntExact(offset + size());
    }

    public int rank() {
        return shape.length;
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof View v && v.name.equals(name) && v.offset == offset && Arrays.equals(v.shape, shape);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + shapeString() + "@" + offset;
    }
}
