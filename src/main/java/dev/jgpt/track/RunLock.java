package dev.jgpt.track;

import dev.jgpt.JgptException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * The one process that owns a run directory: an exclusive OS lock on {@code run.lock} (a data folder
 * being prepared has its own lock file), which the operating system releases when the process ends
 * however it ends (kill -9 and power loss included), so a dead run never leaves its directory locked. The file holds the owner's pid and
 * host, for the message another process gets.
 *
 * <p>POSIX locks belong to the process and are dropped when any descriptor of the file closes, so
 * this JVM never opens a lock file it holds except through the holding channel: the held ones are
 * remembered in {@link #HELD} and answered from there, and taking and probing are serialized.
 */
public final class RunLock implements AutoCloseable {
    public static final String LOCK_FILE = "run.lock";

    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(Path file, FileChannel channel, FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Takes the run directory for this process, or fails with one line naming the process that
     * has it. A reader checking {@link #isHeld} holds the lock for an instant, so a taken lock is
     * retried briefly before it counts as owned.
     */
    public static RunLock acquire(Path runDir) {
        return acquire(runDir, LOCK_FILE);
    }

    /** As {@link #acquire(Path)}, for any folder one process at a time may write, through its lock file {@code name}. */
    public static RunLock acquire(Path dir, String name) {
        Attempt a = attempt(lockFile(dir, name), 20);
        if (a.lock != null) return a.lock;
        throw inUse(dir, a.owner);
    }

    /**
     * Takes {@code dir} through its lock file {@code name}, waiting as long as another process (or
     * another thread of this one) has it; {@code waiting} hears once who that is. Null when the folder
     * is gone (the process that had it removed it).
     */
    public static RunLock await(Path dir, String name, Consumer<String> waiting) {
        Path file = lockFile(dir, name);
        for (boolean told = false; ; told = true) {
            if (!Files.isDirectory(dir)) return null;
            Attempt a = attempt(file, 0);
            if (a.lock != null) return a.lock;
            if (!told) waiting.accept(a.owner);
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new JgptException(file + ": interrupted while waiting for process " + a.owner, e);
            }
        }
    }

    /** A lock taken, or else the owner of the lock that was not. */
    private record Attempt(RunLock lock, String owner) {
    }

    private static Path lockFile(Path dir, String name) {
        return dir.toAbsolutePath().normalize().resolve(name);
    }

    private static synchronized Attempt attempt(Path file, int retries) {
        if (HELD.contains(file)) return new Attempt(null, ProcessHandle.current().pid() + " (this process)");
        FileChannel channel = null;
        try {
            for (int attempt = 0; ; attempt++) {
                channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
                FileLock lock = channel.tryLock();
                if (lock != null && !Files.exists(file)) {
                    // the holder removed the file as it let go (a finished prepare does): the lock now
                    // means nothing, so take the one at the path, made anew
                    channel.close();
                    continue;
                }
                if (lock != null) {
                    String owner = ProcessHandle.current().pid() + "@" + RunStatus.hostName() + "\n";
                    channel.truncate(0);
                    channel.write(ByteBuffer.wrap(owner.getBytes(StandardCharsets.UTF_8)), 0);
                    channel.force(false);
                    HELD.add(file);
                    return new Attempt(new RunLock(file, channel, lock), null);
                }
                if (attempt >= retries) break;
                channel.close();
                Thread.sleep(25);
            }
            String owner = readOwner(channel);
            channel.close();
            return new Attempt(null, owner);
        } catch (IOException e) {
            closeQuietly(channel);
            throw new JgptException(file + ": cannot lock " + file.getParent() + " (" + e.getMessage() + ")", e);
        } catch (InterruptedException e) {
            closeQuietly(channel);
            Thread.currentThread().interrupt();
            throw new JgptException(file + ": interrupted while locking " + file.getParent(), e);
        }
    }

    /** Whether a live process (this one or another) owns the run directory. */
    public static synchronized boolean isHeld(Path runDir) {
        Path file = runDir.toAbsolutePath().normalize().resolve(LOCK_FILE);
        if (HELD.contains(file)) return true;
        // a shared lock is refused while the owner holds its exclusive one, and needs the file only readable:
        // another user's run on a shared file system, whose lock file is not ours to write, still reads as running
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            FileLock probe = channel.tryLock(0, Long.MAX_VALUE, true);
            if (probe == null) return true;
            probe.release();
            return false;
        } catch (NoSuchFileException e) {
            return false;
        } catch (IOException e) {
            return false; // unreadable (permissions, another file system): nothing proves an owner
        }
    }

    public Path file() {
        return file;
    }

    /** Gives the run directory up; the lock file stays (an unlocked one means "no owner"). */
    @Override
    public void close() {
        HELD.remove(file);
        try {
            if (lock.isValid()) lock.release();
            channel.close();
        } catch (IOException e) {
            // the lock dies with the descriptor anyway
        }
    }

    private static JgptException inUse(Path runDir, String owner) {
        String pid = owner.replaceAll("[^0-9].*", "");
        if (pid.isEmpty()) { // taken an instant ago, its owner not yet written
            return new JgptException(runDir + " is in use by another process; wait for it to finish or stop it");
        }
        return new JgptException(runDir + " is in use by process " + owner + "; wait for it to finish or stop it (Ctrl-C, or kill " + pid + ")");
    }

    private static String readOwner(FileChannel channel) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(256);
        channel.read(b, 0);
        String s = new String(b.array(), 0, b.position(), StandardCharsets.UTF_8).strip();
        return s.isEmpty() ? "unknown" : s;
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel == null) return;
        try {
            channel.close();
        } catch (IOException ignored) {
            // already failing with a clearer error
        }
    }
}
