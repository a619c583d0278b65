package dev.jgpt.cuda;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one compiled kernel takes from the GPU, as ptxas reports it ({@link Nvrtc#PTXAS_VERBOSE}):
 * registers per thread, bytes spilled to local memory, its stack frame and its static shared memory.
 *
 * <p>A launch fails at run time, not at compile time, when its block needs more registers than a
 * streaming multiprocessor has (65536 on sm_80 and sm_90, handed out per warp in steps of 256, so
 * per thread in steps of 8): {@link #fitsBlock} is that limit, checked on every machine so that it
 * is not first met on a GPU.
 */
public record KernelResources(String kernel, int registers, int spillBytes, int stackBytes, int sharedBytes) {
    /** Registers per block (and per SM) on every architecture jgpt targets (sm_80 through sm_90). */
    static final int REGISTERS_PER_BLOCK = 65536;

    private static final Pattern ENTRY = Pattern.compile("Compiling entry function '(\\w+)'");
    private static final Pattern PROPERTIES = Pattern.compile("Function properties for (\\w+)");
    private static final Pattern FRAME = Pattern.compile("(\\d+) bytes stack frame, (\\d+) bytes spill stores, (\\d+) bytes spill loads");
    private static final Pattern USED = Pattern.compile("Used (\\d+) registers(.*)");
    private static final Pattern SMEM = Pattern.compile("(\\d+) bytes smem");

    /** Whether a block of {@code threads} threads of this kernel can be resident on one SM. */
    public boolean fitsBlock(int threads) {
        return (registers + 7) / 8 * 8 * (long) threads <= REGISTERS_PER_BLOCK;
    }

    /** Each entry function's resources in a ptxas -v log, in the log's order. */
    public static Map<String, KernelResources> parse(String ptxasLog) {
        Map<String, KernelResources> out = new LinkedHashMap<>();
        String entry = null, properties = null;
        int spill = 0, stack = 0;
        for (String line : ptxasLog.split("\n")) {
            Matcher m;
            if ((m = ENTRY.matcher(line)).find()) {
                entry = m.group(1);
                spill = stack = 0;
            } else if ((m = PROPERTIES.matcher(line)).find()) {
                properties = m.group(1);
            } else if ((m = FRAME.matcher(line)).find()) {
                if (properties != null && properties.equals(entry)) {
                    stack = Integer.parseInt(m.group(1));
                    spill = Integer.parseInt(m.group(2)) + Integer.parseInt(m.group(3));
                }
            } else if ((m = USED.matcher(line)).find() && entry != null) {
                Matcher smem = SMEM.matcher(m.group(2));
                out.put(entry, new KernelResources(entry, Integer.parseInt(m.group(1)), spill, stack,
                        smem.find() ? Integer.parseInt(smem.group(1)) : 0));
                entry = null;
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return String.format("%-34s %3d registers, %5d B shared, %4d B stack, %4d B spilled", kernel, registers, sharedBytes,
                stackBytes, spillBytes);
    }
}
