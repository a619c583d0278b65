package dev.jgpt.track;

import dev.jgpt.JgptException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class RunLockTest {
    @TempDir
    Path dir;

    @Test
    void oneOwnerPerRunInThisProcess() {
        try (RunLock lock = RunLock.acquire(dir)) {
            assertTrue(RunLock.isHeld(dir));
            JgptException e = assertThrows(JgptException.class, () -> RunLock.acquire(dir));
            assertTrue(e.getMessage().contains("in use by process " + ProcessHandle.current().pid()), e.getMessage());
            assertTrue(RunLock.isHeld(dir), "probing must not drop this process's own lock");
        }
        assertFalse(RunLock.isHeld(dir));
        RunLock.acquire(dir).close(); // free again
    }

    @Test
    void anotherProcessHoldsTheRunUntilItIsKilled() throws Exception {
        Process holder = startHolder(dir);
        try {
            assertTrue(RunLock.isHeld(dir));
            JgptException e = assertThrows(JgptException.class, () -> RunLock.acquire(dir));
            assertTrue(e.getMessage().contains("in use by process " + holder.pid() + "@"), e.getMessage());
            assertEquals(RunStatus.State.RUNNING, RunStatus.read(dir).state());
        } finally {
            holder.destroyForcibly().waitFor(10, TimeUnit.SECONDS); // kill -9: no chance to clean up
        }
        assertFalse(RunLock.isHeld(dir), "the OS releases the lock of a killed process");
        RunStatus died = RunStatus.read(dir);
        assertEquals(RunStatus.State.DIED, died.state());
        assertEquals(holder.pid(), died.pid());
        try (RunLock ignored = RunLock.acquire(dir)) {
            assertTrue(RunLock.isHeld(dir));
        }
    }

    @Test
    void aRunWhoseLockFileThisUserCannotWriteIsSeenHeld() throws Exception {
        // another user's run on a shared file system: its run.lock is read-only here. An immutable file stands
        // in for the permissions, which root would not feel (chattr needs a file system that has the flag)
        Process holder = startHolder(dir);
        Path lock = dir.resolve(RunLock.LOCK_FILE);
        try {
            assumeTrue(chattr("+i", lock), "chattr +i is not available here");
            try {
                assertTrue(RunLock.isHeld(dir), "a live run must not read as died");
                assertThrows(JgptException.class, () -> RunLock.acquire(dir));
            } finally {
                chattr("-i", lock);
            }
        } finally {
            holder.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        assertFalse(RunLock.isHeld(dir));
    }

    private static boolean chattr(String flag, Path file) throws Exception {
        try {
            Process p = new ProcessBuilder("chattr", flag, file.toString()).redirectErrorStream(true).start();
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (java.io.IOException notInstalled) {
            return false;
        }
    }

    @Test
    void statusRoundTripsAndEnds() {
        try (RunLock ignored = RunLock.acquire(dir)) {
            RunStatus running = RunStatus.runningNow();
            running.write(dir);
            assertEquals(running, RunStatus.read(dir));
            RunStatus failed = running.endedNow(RunStatus.State.FAILED, "data.dir x: no shards");
            failed.write(dir);
            RunStatus back = RunStatus.read(dir);
            assertEquals(RunStatus.State.FAILED, back.state());
            assertEquals("data.dir x: no shards", back.error());
            assertEquals(running.started(), back.started());
            assertTrue(!back.ended().isBefore(back.started()));
        }
        // a finished run stays finished without its lock; only "running" needs a live owner
        assertEquals(RunStatus.State.FAILED, RunStatus.read(dir).state());
    }

    @Test
    void oldOrDamagedStatusReadsAsUnknown() throws Exception {
        RunStatus none = RunStatus.read(dir);
        assertEquals(RunStatus.State.UNKNOWN, none.state());
        assertNull(none.error());
        Files.writeString(dir.resolve(RunStatus.STATUS_FILE), "{\"state\": \"runn");
        RunStatus damaged = RunStatus.read(dir);
        assertEquals(RunStatus.State.UNKNOWN, damaged.state());
        assertTrue(damaged.error().contains(RunStatus.STATUS_FILE), damaged.error());
        Files.writeString(dir.resolve(RunStatus.STATUS_FILE), "[1, 2]");
        assertEquals(RunStatus.State.UNKNOWN, RunStatus.read(dir).state());
        assertEquals(dir.resolve(RunStatus.STATUS_FILE) + ": not a JSON object; the status is unknown", RunStatus.read(dir).error());
        // said as every damaged file is, without the parser's Java exception
        Files.writeString(dir.resolve(RunStatus.STATUS_FILE), "[\n");
        assertEquals(dir.resolve(RunStatus.STATUS_FILE) + ": not valid JSON (End of input at line 2 column 1 path $[0]); the status is unknown",
                RunStatus.read(dir).error());
        Files.writeString(dir.resolve(RunStatus.STATUS_FILE), "{\"state\": \"finished\", \"started\": \"yesterday\"}");
        String bad = RunStatus.read(dir).error();
        assertTrue(bad.startsWith(dir.resolve(RunStatus.STATUS_FILE) + ": unreadable (") && !bad.contains("Exception"), bad);
    }

    /** A child JVM that takes the run, says so, and waits to be killed. */
    private static Process startHolder(Path dir) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), Holder.class.getName(), dir.toString())
                .redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()));
        String line = out.readLine();
        assertEquals("locked", line, "holder did not start");
        return p;
    }

    public static final class Holder {
        public static void main(String[] args) throws Exception {
            Path dir = Path.of(args[0]);
            RunLock.acquire(dir);
            RunStatus.runningNow().write(dir);
            System.out.println("locked");
            System.out.flush();
            Thread.sleep(60_000);
        }
    }

    @Test
    void aRunSaidToBeRunningOnAnotherMachineIsNotCalledDead() throws Exception {
        // copied here while it trained elsewhere: no lock here proves nothing about a process there
        Files.writeString(dir.resolve(RunStatus.STATUS_FILE),
                "{\"state\": \"running\", \"pid\": 4242, \"host\": \"trainbox-not-this-one\", \"started\": \"2026-01-01T10:00:00Z\"}\n");
        RunStatus s = RunStatus.read(dir);
        assertEquals(RunStatus.State.UNKNOWN, s.state());
        assertEquals("trainbox-not-this-one", s.host());
        assertTrue(s.error().contains("says running on trainbox-not-this-one (process 4242), another machine"), s.error());
        RunInfo r = RunInfo.read(dir);
        assertEquals("unknown", r.toJson(false).get("status").getAsString());
        assertTrue(r.problems().stream().anyMatch(p -> p.contains("cannot be told from here")), r.problems().toString());

        // the same file written on this machine: its process is gone
        RunStatus here = new RunStatus(RunStatus.State.RUNNING, 4242, RunStatus.hostName(), s.started(), null, null);
        here.write(dir);
        assertEquals(RunStatus.State.DIED, RunStatus.read(dir).state());
    }
}
