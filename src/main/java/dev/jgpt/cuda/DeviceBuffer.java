package dev.jgpt.cuda;

/** A block of device memory: {@code count} elements of {@code elementBytes} each, from {@code address}. */
public final class DeviceBuffer {
    public final long address;
    public final long count;
    final int elementBytes;

    DeviceBuffer(long address, long count, int elementBytes) {
        this.address = address;
        this.count = count;
        this.elementBytes = elementBytes;
    }

    /** The device address of element {@code index}. */
    public long at(long index) {
        if (index < 0 || index > count) throw new IndexOutOfBoundsException(index + " of " + count);
        return address + index * elementBytes;
    }
}
