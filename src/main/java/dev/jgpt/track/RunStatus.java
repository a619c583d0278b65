package dev.jgpt.track;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.jgpt.JgptException;
import dev.jgpt.io.AtomicFiles;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;

/**
 * Where a run stands, in {@code status.json} of its directory: written by the process that owns the
 * run ({@link RunLock}) when it starts and when it ends. What was last written is not always the
 * truth: a run whose file says "running" while nobody holds its lock ended without a word (kill -9,
 * a crash, power loss) and reads as {@link State#DIED}, when it ran on this machine; one that says
 * it runs on another machine (a run copied here while it trained) cannot be checked from here and
 * reads as {@link State#UNKNOWN}, saying so. A run directory from before status files reads as
 * {@link State#UNKNOWN} too.
 *
 * @param started when the owning process started the run (this session of it, for a resumed run)
 * @param ended   when it ended; null while running and when it died
 * @param error   the one-line error of a failed run, else null
 */
public record RunStatus(State state, long pid, String host, Instant started, Instant ended, String error) {
    public static final String STATUS_FILE = "status.json";

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create();

    public enum State {
        RUNNING, FINISHED, FAILED, INTERRUPTED, DIED, UNKNOWN;

        /** The word on disk and on screen. */
        public String word() {
            return name().toLowerCase(Locale.ROOT);
        }

        static State parse(String word) {
            for (State s : values()) if (s.word().equals(word)) return s;
            return UNKNOWN;
        }
    }

    /** A run starting now in this process. */
    public static RunStatus runningNow() {
        return new RunStatus(State.RUNNING, ProcessHandle.current().pid(), hostName(), Instant.now(), null, null);
    }

    /** This status, ended now in {@code state} (finished, failed or interrupted). */
    public RunStatus endedNow(State state, String error) {
        return new RunStatus(state, pid, host, started, Instant.now(), error);
    }

    /** Writes status.json atomically. */
    public void write(Path runDir) {
        JsonObject o = new JsonObject();
        o.addProperty("state", state.word());
        o.addProperty("pid", pid);
        o.addProperty("host", host);
        if (started != null) o.addProperty("started", started.toString());
        if (ended != null) o.addProperty("ended", ended.toString());
        if (error != null) o.addProperty("error", error);
        Path file = runDir.resolve(STATUS_FILE);
        try {
            AtomicFiles.writeString(file, GSON.toJson(o) + "\n");
        } catch (IOException e) {
            throw new JgptException(file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    /**
     * The status of the run in {@code runDir} as it is now: status.json, corrected by its lock. Never
     * fails: a missing or unreadable file is {@link State#UNKNOWN}, with the reason in {@code error}
     * when the file was there but unreadable.
     */
    public static RunStatus read(Path runDir) {
        Path file = runDir.resolve(STATUS_FILE);
        RunStatus s;
        try {
            JsonElement json = JsonParser.parseString(Files.readString(file));
            if (!json.isJsonObject()) return unknown(file + ": not a JSON object; the status is unknown");
            JsonObject o = json.getAsJsonObject();
            s = new RunStatus(State.parse(text(o, "state")), o.has("pid") ? o.get("pid").getAsLong() : -1,
                    text(o, "host"), instant(o, "started"), instant(o, "ended"), text(o, "error"));
        } catch (NoSuchFileException e) {
            return unknown(null);
        } catch (IOException e) {
            return unknown(file + ": unreadable (" + JgptException.reason(e) + "); the status is unknown");
        } catch (JsonParseException e) {
            return unknown(file + ": not valid JSON (" + JgptException.jsonReason(e) + "); the status is unknown");
        } catch (RuntimeException e) { // a field of the wrong kind, a time that does not parse
            return unknown(file + ": unreadable (" + JgptException.jsonReason(e) + "); the status is unknown");
        }
        if (s.state == State.RUNNING && !RunLock.isHeld(runDir)) {
            // a lock lives on the machine of its process: only there does a free lock mean the process is gone
            if (s.host != null && !s.host.equals(hostName())) {
                return new RunStatus(State.UNKNOWN, s.pid, s.host, s.started, null, file + ": says running on " + s.host
                        + " (process " + s.pid + "), another machine: whether it still is cannot be told from here");
            }
            return new RunStatus(State.DIED, s.pid, s.host, s.started, null, s.error);
        }
        return s;
    }

    private static RunStatus unknown(String error) {
        return new RunStatus(State.UNKNOWN, -1, null, null, null, error);
    }

    /** This machine's name, for telling where a run's process lives; "unknown" when it cannot be found. */
    static String hostName() {
        return LocalHost.NAME;
    }

    /** Looked up once: a dashboard asks for every run that says "running", twice a second. */
    private static final class LocalHost {
        static final String NAME = lookUp();
    }

    private static String lookUp() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException | SecurityException e) {
            String env = System.getenv("HOSTNAME");
            return env == null || env.isBlank() ? "unknown" : env;
        }
    }

    private static String text(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }

    private static Instant instant(JsonObject o, String key) {
        String s = text(o, key);
        return s == null ? null : Instant.parse(s);
    }
}
