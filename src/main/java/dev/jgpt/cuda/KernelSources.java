package dev.jgpt.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * jgpt's CUDA kernels: the files under cuda/ in the jar (src/main/resources/cuda), each compiled on
 * its own with common.cuh in front. Kernels are {@code extern "C"}, so their names in the cubin are
 * the names in the source.
 */
public final class KernelSources {
    /** Every kernel file: training's in the order of the network's data flow, then decoding's own. */
    public static final List<String> FILES = List.of("encoder.cu", "layernorm.cu", "matmul.cu", "attention.cu", "gelu.cu",
            "residual.cu", "classifier.cu", "adamw.cu", "norm.cu", "decode.cu");

    /** NVRTC options besides the architecture; part of the cache key. */
    public static final List<String> OPTIONS = List.of("--std=c++17");

    private static final Pattern KERNEL = Pattern.compile("extern \"C\" __global__ void (?:__launch_bounds__\\([^)]*\\) )?(\\w+)\\(([^)]*)\\)");

    /** How a kernel parameter is passed: a device pointer (8 bytes), an int, a float or a long long. */
    public enum Param { POINTER, INT, FLOAT, LONG }

    private KernelSources() {
    }

    /** The text NVRTC compiles for {@code file}: the prelude, then the file, its lines numbered as in the file. */
    public static String source(String file) {
        return resource("common.cuh") + "\n#line 1 \"" + file + "\"\n" + resource(file);
    }

    /** The kernels (extern "C" __global__ functions) a file defines. */
    public static List<String> kernelNames(String file) {
        List<String> names = new ArrayList<>();
        Matcher m = KERNEL.matcher(resource(file));
        while (m.find()) names.add(m.group(1));
        return names;
    }

    /** Each kernel of a file with its parameter list, read from the source (checked at every launch). */
    public static Map<String, List<Param>> signatures(String file) {
        Map<String, List<Param>> out = new LinkedHashMap<>();
        Matcher m = KERNEL.matcher(resource(file));
        while (m.find()) {
            List<Param> params = new ArrayList<>();
            for (String p : m.group(2).split(",")) {
                String decl = p.strip().replaceAll("\\s+", " ");
                String type = decl.substring(0, decl.lastIndexOf(' ')).replace("const ", "").strip();
                params.add(switch (type) {
                    case "int" -> Param.INT;
                    case "float" -> Param.FLOAT;
                    case "long long" -> Param.LONG;
                    default -> {
                        if (!type.endsWith("*")) throw new IllegalStateException(file + ": kernel " + m.group(1) + " has a parameter of type " + type + " that jgpt cannot pass");
                        yield Param.POINTER;
                    }
                });
            }
            out.put(m.group(1), List.copyOf(params));
        }
        return out;
    }

    private static String resource(String name) {
        try (InputStream in = KernelSources.class.getResourceAsStream("/cuda/" + name)) {
            if (in == null) throw new IllegalStateException("kernel source cuda/" + name + " is missing from the jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
