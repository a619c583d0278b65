package dev.jgpt.model;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a training step's time goes, operation by operation, on either engine: {@link #wrap} puts a
 * timer around every call an engine's {@link TrainingOps} receives from {@link Network}, and
 * {@link #collect} adds up each operation's time once the step's work is done. The CPU's operations
 * return when their work is done, so the host's clock times them; the GPU's are queued on a stream,
 * so events recorded on it do ({@link Clock}); {@link #time} times other work the same way. Matrix
 * products and LayerNorms are told apart by their weight (attn.c_attn, mlp.c_fc, ..., wte for the LM
 * head; ln_1, ln_2, ln_f).
 */
public final class OpProfile {

    /** How the time between two points of an engine's work is read. */
    public interface Clock {
        /** This point of the work. */
        Object mark();

        /** Milliseconds from one mark to a later one; may wait for the work between them to finish. */
        double ms(Object from, Object to);
    }

    /** The host's clock, for an engine whose operations return when done (the CPU's). */
    public static Clock hostClock() {
        return new Clock() {
            public Object mark() {
                return System.nanoTime();
            }

            public double ms(Object from, Object to) {
                return ((Long) to - (Long) from) / 1e6;
            }
        };
    }

    private record Span(String op, Object from, Object to) {
    }

    /** One operation's total over the collected steps. */
    public record Op(String name, double ms, long calls) {
    }

    private final Clock clock;
    private final List<Span> pending = new ArrayList<>();
    private final Map<String, double[]> totals = new LinkedHashMap<>(); // name -> {ms, calls}

    public OpProfile(Clock clock) {
        this.clock = clock;
    }

    /** {@code ops}, each call timed under its operation's name. */
    @SuppressWarnings("unchecked")
    public <A> TrainingOps<A> wrap(TrainingOps<A> ops) {
        return (TrainingOps<A>) Proxy.newProxyInstance(TrainingOps.class.getClassLoader(), new Class<?>[]{TrainingOps.class},
                (proxy, method, args) -> {
                    if (method.getDeclaringClass() == Object.class) return method.invoke(ops, args);
                    Object from = clock.mark();
                    try {
                        return method.invoke(ops, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    } finally {
                        pending.add(new Span(name(method.getName(), args), from, clock.mark()));
                    }
                });
    }

    /** Times {@code work} under {@code name}, as a wrapped operation is timed (the optimizer's step, say). */
    public void time(String name, Runnable work) {
        Object from = clock.mark();
        try {
            work.run();
        } finally {
            pending.add(new Span(name, from, clock.mark()));
        }
    }

    /** "matmulBackward attn.c_proj" for a product with h.N.attn.c_proj.weight; the method's name for the others. */
    private static String name(String method, Object[] args) {
        if (!method.startsWith("matmul") && !method.startsWith("layernorm")) return method;
        for (Object a : args) {
            if (a instanceof dev.jgpt.tensor.View v) {
                return method + " " + v.name().replaceFirst("^h\\.\\d+\\.", "").replaceFirst("\\.weight$", "");
            }
        }
        return method;
    }

    /** Adds the time of every call since the last collect to its operation's total (after the work is done). */
    public void collect() {
        for (Span s : pending) {
            double[] t = totals.computeIfAbsent(s.op(), k -> new double[2]);
            t[0] += clock.ms(s.from(), s.to());
            t[1]++;
        }
        pending.clear();
    }

    /** Each operation's total over the collected steps, the largest first. */
    public List<Op> ops() {
        List<Op> out = new ArrayList<>();
        totals.forEach((name, t) -> out.add(new Op(name, t[0], (long) t[1])));
        out.sort(Comparator.comparingDouble(Op::ms).reversed());
        return out;
    }
}
