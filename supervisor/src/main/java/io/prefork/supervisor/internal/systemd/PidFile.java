package io.prefork.supervisor.internal.systemd;

import io.prefork.supervisor.ConfigException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code --pid FILE}: the supervisor's pid, for {@code PIDFile=} in a systemd unit and for scripts that signal it.
 *
 * <p>Written whole or not at all: a reader (systemd reads it as soon as the service is up) must never see an empty or
 * half-written file, so the pid goes to a temporary file in the same directory, which is then renamed over
 * {@code FILE} (rename is atomic within one file system; a temporary file elsewhere could not be renamed).
 *
 * <p>Removed on exit only if it still holds our pid: a second supervisor started with the same {@code --pid} (by
 * mistake, or a new one started before the old one finished stopping) has overwritten it, and its file is not ours
 * to delete. Not a lock: it does not stop a second supervisor, the listen port does that.
 */
public final class PidFile {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");

    private final Path file;
    private final long pid;

    private PidFile(Path file, long pid) {
        this.file = file;
        this.pid = pid;
    }

    /**
     * What {@code SupervisorConfig.Builder.build()} checks before anything starts: the directory exists, is a
     * directory and is writable, and {@code file} is not a directory.
     *
     * @throws ConfigException naming {@code --pid}, the path and what to do
     */
    public static void check(Path file) {
        Path dir = directoryOf(file);
        if (Files.isDirectory(file)) {
            throw new ConfigException("--pid", file, "is a directory; give a file name in it, e.g. --pid "
                    + file.resolve("prefork.pid"));
        }
        if (!Files.exists(dir)) {
            throw new ConfigException("--pid", file, "its directory " + dir.toAbsolutePath() + " does not exist; "
                    + "create it first (under systemd: RuntimeDirectory=) or choose another path");
        }
        if (!Files.isDirectory(dir)) {
            throw new ConfigException("--pid", file, dir.toAbsolutePath() + " is not a directory");
        }
        if (!Files.isWritable(dir)) {
            throw new ConfigException("--pid", file, "its directory " + dir.toAbsolutePath() + " is not writable by "
                    + "this user (" + System.getProperty("user.name") + "); choose a directory it can write to");
        }
    }

    /**
     * {@code --drop-privileges}: whether {@code uid}:{@code gid} may create and remove files in {@code file}'s
     * directory (write and search permission by owner, group or others; supplementary groups are not counted), for
     * the supervisor removes the file as that user on exit, and a new supervisor of an upgrade, started as that user,
     * writes its own pid there.
     */
    public static boolean directoryWritableBy(Path file, int uid, int gid) throws IOException {
        if (uid == 0) {
            return true;
        }
        Path dir = directoryOf(file);
        int mode = (Integer) Files.getAttribute(dir, "unix:mode");
        int owner = (Integer) Files.getAttribute(dir, "unix:uid");
        int group = (Integer) Files.getAttribute(dir, "unix:gid");
        int bits = owner == uid ? mode >> 6 : group == gid ? mode >> 3 : mode;
        return (bits & 3) == 3;
    }

    /**
     * Gives the file to {@code uid}:{@code gid}, before the supervisor switches to that user: in a sticky directory
     * such as /tmp only a file's owner may remove it or rename another file over it.
     */
    public void giveTo(int uid, int gid) throws IOException {
        Files.setAttribute(file, "unix:gid", gid);
        Files.setAttribute(file, "unix:uid", uid);
    }

    private static Path directoryOf(Path file) {
        Path parent = file.toAbsolutePath().getParent();
        return parent == null ? file.toAbsolutePath().getRoot() : parent;
    }

    /**
     * Writes {@code pid} to {@code file}, replacing what was there.
     *
     * @throws IOException naming the file when the directory vanished or became unwritable since {@link #check}
     */
    public static PidFile write(Path file, long pid) throws IOException {
        Path dir = directoryOf(file);
        Path tmp;
        try {
            tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
        } catch (IOException | RuntimeException e) {
            throw new IOException("--pid " + file + ": cannot write the pid file in " + dir + ": " + e, e);
        }
        try {
            Files.writeString(tmp, pid + "\n", StandardCharsets.US_ASCII);
            // createTempFile makes it 0600; a pid file is for other users too (systemd, monitoring).
            tmp.toFile().setReadable(true, false);
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                // Same directory, so only a strange file system gets here; a plain replace is the best left.
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw new IOException("--pid " + file + ": cannot write the pid file: " + e, e);
        }
        return new PidFile(file, pid);
    }

    public Path file() {
        return file;
    }

    /** Deletes the file if it still holds our pid; never throws (it runs as the supervisor ends). Idempotent. */
    public void remove() {
        try {
            String held = Files.readString(file, StandardCharsets.US_ASCII).strip();
            if (!held.equals(Long.toString(pid))) {
                LOG.info("--pid {}: now holds {}, not our pid {}; leaving it", file, held, pid);
                return;
            }
            Files.delete(file);
        } catch (NoSuchFileException gone) {
            // Already removed (by us, or by someone cleaning up): nothing to do.
        } catch (IOException | RuntimeException e) {
            LOG.warn("--pid {}: cannot remove the pid file: {}", file, e.toString());
        }
    }
}
