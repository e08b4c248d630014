package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jnr.unixsocket.UnixSocketAddress;
import jnr.unixsocket.UnixSocketChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The supervisor's private 0700 directories in the temporary directory (the bootstrap endpoint's and the upgrade
 * endpoint's), and the removal of those a dead supervisor left behind.
 *
 * <p>A supervisor removes its directories when it exits, but one killed with SIGKILL (the OOM killer, {@code kill
 * -9}, a container runtime's timeout) cannot, and each would stay in /tmp for good. So, as the JVM does with its
 * {@code hsperfdata} files, every directory's name carries its creator's pid ({@code prefork-<pid>-<random>}), and
 * each new supervisor first removes the directories of supervisors that are gone. "Gone" needs two proofs, because a
 * pid alone can mislead (a supervisor in another pid namespace sharing /tmp, a recycled pid): no process has that
 * pid here, and the directory's socket refuses connections (no one listens on it). Only the known socket files are
 * deleted, never followed through a link, and then the directory only if that left it empty: anything else found
 * there stays.
 */
public final class PrivateDirectories {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    private static final Pattern NAME = Pattern.compile("prefork-(?:upgrade-)?([0-9]+)-[0-9]+");
    /** The socket files the supervisor creates in its directories. */
    static final Set<String> SOCKETS = Set.of("boot.sock", "upgrade.sock");

    private PrivateDirectories() {
    }

    /**
     * Creates a fresh directory of mode 0700 named {@code <prefix><pid>-<random>} in the temporary directory,
     * after removing the ones dead supervisors left there.
     *
     * @param prefix "prefork-" or "prefork-upgrade-"
     */
    public static Path create(String prefix) throws IOException {
        Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
        removeStale(tmp);
        return Files.createTempDirectory(tmp, prefix + ProcessHandle.current().pid() + "-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }

    /**
     * Removes the directories in {@code tmp} that supervisors which are gone left behind; never fails (a directory
     * that cannot be removed is left, and said at debug level).
     *
     * @return how many were removed
     */
    static int removeStale(Path tmp) {
        int removed = 0;
        int uid = Native.uid();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(tmp, "prefork-*")) {
            for (Path dir : entries) {
                Matcher m = NAME.matcher(dir.getFileName().toString());
                if (m.matches() && isStale(dir, m.group(1), uid) && remove(dir)) {
                    removed++;
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("could not look for directories left by dead supervisors in {}: {}", tmp, e.toString());
        }
        if (removed > 0) {
            LOG.info("removed {} private director{} that stopped supervisors left in {}", removed,
                    removed == 1 ? "y" : "ies", tmp);
        }
        return removed;
    }

    private static boolean isStale(Path dir, String pidText, int uid) throws IOException {
        BasicFileAttributes attrs = Files.readAttributes(dir, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!attrs.isDirectory()) {
            return false;
        }
        // Ours, or root's to clean (a root supervisor gives its bootstrap directory to the --user of its workers).
        int owner = (Integer) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        if (owner != uid && uid != 0) {
            return false;
        }
        long pid;
        try {
            pid = Long.parseLong(pidText);
        } catch (NumberFormatException e) {
            return false;
        }
        if (ProcessHandle.of(pid).isPresent()) {
            return false;
        }
        for (String name : SOCKETS) {
            Path socket = dir.resolve(name);
            if (Files.exists(socket, LinkOption.NOFOLLOW_LINKS) && listening(socket)) {
                return false;
            }
        }
        return true;
    }

    /** Whether someone accepts connections on the socket file (a refused or failed connect says no). */
    private static boolean listening(Path socket) {
        try (UnixSocketChannel c = UnixSocketChannel.open(new UnixSocketAddress(socket.toFile()))) {
            return c.isConnected();
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static boolean remove(Path dir) {
        try {
            // Only a directory holding nothing but our socket files goes; anything else found there stays, whole.
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
                for (Path p : entries) {
                    if (!SOCKETS.contains(p.getFileName().toString()) || !Files.readAttributes(p,
                            BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isOther()) {
                        LOG.debug("left {}: it holds {}", dir, p.getFileName());
                        return false;
                    }
                }
            }
            for (String name : SOCKETS) {
                Files.deleteIfExists(dir.resolve(name));
            }
            Files.delete(dir);
            return true;
        } catch (IOException e) {
            LOG.debug("left {}: {}", dir, e.toString());
            return false;
        }
    }
}
