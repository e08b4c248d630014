package io.prefork.supervisor.internal;

import io.prefork.internal.nativeio.Native;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

/**
 * The sockets this process holds open, as "fd -> socket:[inode]" (from /proc/self/fd), for leak checks. Sockets
 * only, and compared as sets: other tests' leftovers that close meanwhile (a reaped worker's pipes, a jar closed)
 * or files the JVM opens once cannot make the check fail, while a socket this test leaked, even at a reused
 * descriptor number, has an inode the snapshot before did not have.
 */
public final class OpenSockets {
    static {
        // Loading libc through jnr (Native's class initialisation) leaves one connected AF_UNIX socket open for the
        // life of the JVM (seen in /proc/self/net/unix on this machine): it must be open before the first snapshot,
        // or the first test to touch Native would be blamed for it.
        Native.uid();
    }

    private OpenSockets() {
    }

    public static Set<String> now() {
        Set<String> out = new HashSet<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                String target;
                try {
                    target = Files.readSymbolicLink(fd).toString();
                } catch (IOException e) {
                    continue; // closed while listing (the directory stream's own descriptor, for one)
                }
                if (target.startsWith("socket:")) {
                    out.add(fd.getFileName() + " -> " + target);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list /proc/self/fd: " + e.getMessage(), e);
        }
        return out;
    }

    /** The sockets open now that were not open in {@code before}. */
    public static Set<String> openedSince(Set<String> before) {
        Set<String> added = now();
        added.removeAll(before);
        return added;
    }
}
