package dev.jgpt.track;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A progress line on stderr: a label, a main counter with an optional total (percent, bar, rate, ETA)
 * and a few extra named counters.
 *
 * <pre>{@code
 * try (ProgressBar bar = ProgressBar.start("prepare", totalBytes, "B", "docs", "tokens")) {
 *     bar.add(bytes);            // main counter
 *     bar.add("docs", 1);
 *     bar.add("tokens", ids.length);
 * }                              // close() prints the final state on its own line
 * }</pre>
 *
 * On a terminal (the {@code ./jgpt} launcher sets {@code JGPT_TTY=1} when stderr is one) the line redraws
 * in place a few times a second; otherwise (logs, CI) a plain line is printed every
 * {@value #PLAIN_INTERVAL_SECONDS} seconds. The unit {@code "B"} prints as kB/MB/GB; any other unit
 * prints as a count with k/M/G. Thread-safe: workers may call {@link #add} concurrently.
 */
public final class ProgressBar implements AutoCloseable {
    static final int PLAIN_INTERVAL_SECONDS = 5;
    private static final long TTY_INTERVAL_NANOS = 200_000_000L;
    private static final int BAR_WIDTH = 24;

    private final String label;
    private volatile long total;
    private final String unit;
    private final PrintStream out;
    private final boolean tty;
    private final long intervalNanos;
    private final long startNanos = System.nanoTime();
    private final AtomicLong done = new AtomicLong();
    private final Map<String, AtomicLong> counters = new LinkedHashMap<>();
    private final ReentrantLock drawing = new ReentrantLock();
    private volatile String message = "";
    private long lastDrawNanos;
    private int lastWidth;
    private boolean closed;
    // a record of the work, plain lines at most every recordNanos (a run's console.log); null for none
    private java.util.function.Consumer<String> record;
    private long recordNanos, lastRecordNanos;
    private long quietNanos;
    private java.util.concurrent.ScheduledFuture<?> ticks;

    /** One daemon thread redraws every ticking bar: a bar whose units take longer than the draw intervals. */
    private static final java.util.concurrent.ScheduledExecutorService TICKER =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "progress ticker");
                t.setDaemon(true);
                return t;
            });

    private ProgressBar(String label, long total, String unit, PrintStream out, boolean tty, String... counterNames) {
        this.label = label;
        this.total = total;
        this.unit = unit;
        this.out = out;
        this.tty = tty;
        this.intervalNanos = tty ? TTY_INTERVAL_NANOS : PLAIN_INTERVAL_SECONDS * 1_000_000_000L;
        this.lastDrawNanos = startNanos;
        for (String name : counterNames) {
            counters.put(name, new AtomicLong());
        }
    }

    /**
     * A bar on stderr. {@code total <= 0} means unknown (no percent or ETA). {@code unit} names what the
     * main counter counts ("B" for bytes, or "steps", "tokens"...); {@code counters} are extra counts shown
     * after it.
     */
    public static ProgressBar start(String label, long total, String unit, String... counters) {
        return new ProgressBar(label, total, unit, System.err, "1".equals(System.getenv("JGPT_TTY")), counters);
    }

    /** A bar writing to {@code out} (null: nowhere, for a bar that only {@link #recording records}), redrawing in place if {@code tty}. */
    public static ProgressBar start(String label, long total, String unit, PrintStream out, boolean tty,
                                    String... counters) {
        return new ProgressBar(label, total, unit, out, tty, counters);
    }

    /**
     * Also hands a plain line (no bar, no carriage return) to {@code sink} at most every {@code
     * seconds}, for a log that must stay readable: a run's console.log gets where a long step is.
     */
    public ProgressBar recording(java.util.function.Consumer<String> sink, double seconds) {
        record = sink;
        recordNanos = (long) (seconds * 1e9);
        lastRecordNanos = startNanos;
        return this;
    }

    /**
     * Redraws (and records) on time as well as on progress, so that work whose every unit takes
     * longer than the record interval (a micro-batch of a large model on a CPU: a minute) still
     * shows, at least every interval, that it goes on and for how long it has.
     */
    public ProgressBar ticking() {
        drawing.lock();
        try {
            if (!closed && ticks == null) ticks = TICKER.scheduleAtFixedRate(this::maybeDraw, 1, 1, java.util.concurrent.TimeUnit.SECONDS);
        } finally {
            drawing.unlock();
        }
        return this;
    }

    /** Shows nothing for the first {@code seconds}: work that ends sooner leaves no trace. */
    public ProgressBar quietFor(double seconds) {
        quietNanos = (long) (seconds * 1e9);
        return this;
    }

    /**
     * Ends without a final line: a bar drawn on a terminal is erased, so the line the work ends
     * with (a training step's log line) takes its place. Nothing after it.
     */
    public void clear() {
        endQuietly(true);
    }

    /** Advances the main counter. */
    public void add(long amount) {
        done.addAndGet(amount);
        maybeDraw();
    }

    /** Advances an extra counter named at construction. */
    public void add(String counter, long amount) {
        AtomicLong c = counters.get(counter);
        if (c == null) {
            throw new IllegalArgumentException("no counter '" + counter + "' in progress bar " + label);
        }
        c.addAndGet(amount);
        maybeDraw();
    }

    /** Sets the main counter (for work that reports absolute progress, like a training step). */
    public void set(long value) {
        done.set(value);
        maybeDraw();
    }

    /** Free text shown at the end of the line (for example "loss 3.214"). */
    public void message(String text) {
        message = text == null ? "" : text;
        maybeDraw();
    }

    /** The main counter's value. */
    public long done() {
        return done.get();
    }

    /** The value of an extra counter. */
    public long count(String counter) {
        return counters.get(counter).get();
    }

    /** Seconds since the bar started. */
    public double seconds() {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    /**
     * The work is done: the total (an estimate, like a corpus's size before decompression or
     * tokenizing) becomes what was counted, so the final line reads 100%; then {@link #close}.
     */
    public void finish() {
        if (total > 0) total = done.get();
        close();
    }

    /**
     * The work failed: no final line (the error that follows is the one line to read); on a terminal
     * the bar drawn so far is ended, so the error starts a line of its own. Nothing after {@link #close}.
     */
    public void abandon() {
        endQuietly(false);
    }

    /** Ends without a final line; a bar drawn on a terminal is erased, or else its line is ended. */
    private void endQuietly(boolean erase) {
        drawing.lock();
        try {
            if (closed) return;
            closed = true;
            stopTicking();
            if (tty && out != null && lastWidth > 0) {
                if (erase) out.print("\r" + " ".repeat(lastWidth) + "\r");
                else out.println();
                out.flush();
            }
        } finally {
            drawing.unlock();
        }
    }

    /** Prints the final state on its own line (once); stopped early, it shows how far the work got. */
    @Override
    public void close() {
        drawing.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            stopTicking();
            draw(true);
        } finally {
            drawing.unlock();
        }
    }

    private void stopTicking() {
        if (ticks != null) ticks.cancel(false);
    }

    private void maybeDraw() {
        long now = System.nanoTime();
        boolean drawDue = now - lastDrawNanos >= intervalNanos;
        boolean recordDue = record != null && now - lastRecordNanos >= recordNanos;
        if (!(drawDue || recordDue) || now - startNanos < quietNanos || !drawing.tryLock()) {
            return;
        }
        try {
            if (closed) return;
            if (drawDue && now - lastDrawNanos >= intervalNanos) {
                lastDrawNanos = now;
                draw(false);
            }
            if (recordDue && now - lastRecordNanos >= recordNanos) {
                lastRecordNanos = now;
                record.accept(render(false, false));
            }
        } finally {
            drawing.unlock();
        }
    }

    private void draw(boolean last) {
        if (out == null) return;
        String line = render(last);
        if (tty) {
            // Pad over the remains of a longer previous line; only the final draw ends the line.
            String padded = line + " ".repeat(Math.max(0, lastWidth - line.length()));
            lastWidth = line.length();
            out.print("\r" + padded + (last ? "\n" : ""));
        } else {
            out.println(line);
        }
        out.flush();
    }

    /** The text of the line, without control characters. */
    String render(boolean last) {
        return render(last, tty);
    }

    private String render(boolean last, boolean withBar) {
        double secs = Math.max(1e-9, seconds());
        long value = done.get();
        StringBuilder sb = new StringBuilder(label);
        if (total > 0) {
            double frac = Math.min(1.0, (double) value / total);
            sb.append(String.format(Locale.ROOT, " %3d%%", (int) Math.floor(frac * 100)));
            if (withBar) sb.append(' ').append(cells(frac, BAR_WIDTH));
            sb.append("  ").append(amount(value, false)).append(" / ").append(amount(total, true));
        } else {
            sb.append("  ").append(amount(value, true));
        }
        double rate = value / secs;
        // slow work (a 124M micro-batch on a CPU takes seconds) keeps its rate readable
        String rateText = !unit.equals("B") && rate < 10 ? String.format(Locale.ROOT, "%.2f", rate) : amount((long) rate, false);
        sb.append("  ").append(rateText).append(unitSuffix()).append("/s");
        if (last) {
            sb.append("  ").append(clock(secs));
        } else if (total > 0 && value > 0 && value < total) {
            sb.append("  ETA ").append(clock((total - value) / (value / secs)));
        }
        for (Map.Entry<String, AtomicLong> c : counters.entrySet()) {
            sb.append("  ").append(c.getKey()).append(' ').append(count(c.getValue().get()));
        }
        if (!message.isEmpty()) {
            sb.append("  ").append(message);
        }
        return sb.toString();
    }

    private String unitSuffix() {
        return unit.equals("B") ? "B" : " " + unit;
    }

    /** A main-counter amount; with its unit only where asked, so "12.0 / 40.0 MB" reads naturally. */
    private String amount(long v, boolean withUnit) {
        if (unit.equals("B")) {
            String s = bytes(v);
            return withUnit ? s + "B" : s;
        }
        return withUnit ? count(v) + " " + unit : count(v);
    }

    /** Bytes in decimal units: 950 B, 12.3 MB, 4.56 GB. */
    public static String formatBytes(long v) {
        return bytes(v) + "B";
    }

    /** Bytes in decimal units without the final "B": 950 k, 12.3 M. */
    private static String bytes(long v) {
        if (v < 1000) return v + " ";
        if (v < 1_000_000) return String.format(Locale.ROOT, "%.1f k", v / 1e3);
        if (v < 1_000_000_000) return String.format(Locale.ROOT, "%.1f M", v / 1e6);
        return String.format(Locale.ROOT, "%.2f G", v / 1e9);
    }

    /** A count: 950, 12.3k, 4.56M, 7.89G. */
    static String count(long v) {
        if (v < 10_000) return Long.toString(v);
        if (v < 1_000_000) return String.format(Locale.ROOT, "%.1fk", v / 1e3);
        if (v < 1_000_000_000) return String.format(Locale.ROOT, "%.2fM", v / 1e6);
        return String.format(Locale.ROOT, "%.2fG", v / 1e9);
    }

    /**
     * A bar of {@code width} cells for the fraction {@code frac} done, "[#####.......]": plain text,
     * so it reads the same on a terminal and in a log (a training step's line carries one).
     */
    public static String cells(double frac, int width) {
        int filled = (int) Math.round(Math.max(0, Math.min(1, frac)) * width);
        return "[" + "#".repeat(filled) + ".".repeat(width - filled) + "]";
    }

    /**
     * A duration to two figures in the unit that reads best, for an estimate: "0.05 s", "12 s",
     * "40 min", "3.5 h", "12 days", "1.5 years".
     */
    public static String roughly(double seconds) {
        if (seconds < 1) return String.format(Locale.ROOT, "%.2f s", seconds);
        if (seconds < 10) return String.format(Locale.ROOT, "%.1f s", seconds);
        if (seconds < 100) return String.format(Locale.ROOT, "%.0f s", seconds);
        double minutes = seconds / 60, hours = minutes / 60, days = hours / 24, years = days / 365.25;
        if (minutes < 100) return String.format(Locale.ROOT, "%.0f min", minutes);
        if (hours < 48) return String.format(Locale.ROOT, hours < 10 ? "%.1f h" : "%.0f h", hours);
        if (days < 365) return String.format(Locale.ROOT, days < 10 ? "%.1f days" : "%.0f days", days);
        return String.format(Locale.ROOT, years < 10 ? "%.1f years" : "%.0f years", years);
    }

    /** Seconds as m:ss or h:mm:ss. */
    public static String clock(double seconds) {
        long s = Math.round(seconds);
        if (s >= 3600) {
            return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
        }
        return String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
