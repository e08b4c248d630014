package io.prefork.supervisor.internal.systemd;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The listening sockets a service manager passed us (systemd's socket activation, sd_listen_fds(3)): descriptors
 * {@value #FIRST_FD} to {@code 3 + LISTEN_FDS - 1}, already bound and listening, with their names from
 * {@code LISTEN_FDNAMES} (a {@code FileDescriptorName=} of the .socket unit, or the unit's name).
 *
 * <p>As sd_listen_fds(3) says, the variables count only when {@code LISTEN_PID} is this process: a variable
 * inherited from a parent that was itself socket-activated (a shell started from such a service) names descriptors
 * this process does not have. This class only reads the environment; checking that each descriptor really is a
 * listening TCP socket, and taking ownership of it, is {@code TcpListener.inherit}'s. The JVM cannot unset a variable
 * of its own environment, so {@link #VARIABLES} are removed from each worker's environment instead (a worker would
 * otherwise see LISTEN_PID naming its parent, which sd_listen_fds ignores, but other libraries might not).
 */
public final class SocketActivation {
    /** SD_LISTEN_FDS_START: the first passed descriptor, right after stdin, stdout and stderr. */
    public static final int FIRST_FD = 3;
    /** More than this many is a corrupted variable, not a configuration (the supervisor takes at most 64 --listen). */
    static final int MAX_FDS = 64;
    /** The variables of the protocol, none of which a worker should see. */
    public static final List<String> VARIABLES = List.of("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES");

    private static final SocketActivation NONE = new SocketActivation(Map.of());

    /** Descriptor to name, in descriptor order; the name is "" when LISTEN_FDNAMES did not give one. */
    private final Map<Integer, String> fds;
    /** True for sockets an upgrade's old supervisor passed, rather than the service manager. */
    private final boolean upgrade;

    private SocketActivation(Map<Integer, String> fds) {
        this(fds, false);
    }

    private SocketActivation(Map<Integer, String> fds, boolean upgrade) {
        this.fds = Collections.unmodifiableMap(fds);
        this.upgrade = upgrade;
    }

    /** From this process's environment, for this process. */
    public static SocketActivation fromEnvironment() {
        return fromEnvironment(System.getenv(), ProcessHandle.current().pid());
    }

    /**
     * Reads {@code LISTEN_PID}, {@code LISTEN_FDS} and {@code LISTEN_FDNAMES}. No {@code LISTEN_FDS}, or a
     * {@code LISTEN_PID} that is not {@code pid}, means none were passed to us.
     *
     * @throws IllegalArgumentException naming the variable and its value when one is malformed: a service manager
     *     never writes that, so it is a hand-made environment to fix, not something to guess around
     */
    public static SocketActivation fromEnvironment(Map<String, String> env, long pid) {
        String count = env.get("LISTEN_FDS");
        if (count == null || count.isEmpty()) {
            return NONE;
        }
        String forPid = env.get("LISTEN_PID");
        if (forPid == null || forPid.isEmpty()) {
            throw new IllegalArgumentException("LISTEN_FDS=" + count + " is set without LISTEN_PID; a service manager "
                    + "sets both (sd_listen_fds(3)): unset LISTEN_FDS, or set LISTEN_PID to the supervisor's pid");
        }
        if (!forPid.strip().equals(Long.toString(pid))) {
            return NONE; // for another process: an ancestor's, inherited
        }
        int n;
        try {
            n = Integer.parseInt(count.strip());
        } catch (NumberFormatException e) {
            n = -1;
        }
        if (n < 0 || n > MAX_FDS) {
            throw new IllegalArgumentException("LISTEN_FDS=" + count + " is not a number of descriptors from 0 to "
                    + MAX_FDS + "; it is the count of listening sockets passed from descriptor " + FIRST_FD + " on");
        }
        String namesText = env.get("LISTEN_FDNAMES");
        List<String> names = namesText == null || namesText.isEmpty() ? List.of() : List.of(namesText.split(":", -1));
        if (!names.isEmpty() && names.size() != n) {
            throw new IllegalArgumentException("LISTEN_FDNAMES=" + namesText + " names " + names.size()
                    + " descriptor(s) but LISTEN_FDS=" + count + "; give one name per descriptor, separated by ':'");
        }
        Map<Integer, String> fds = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            fds.put(FIRST_FD + i, names.isEmpty() ? "" : names.get(i));
        }
        return new SocketActivation(fds);
    }

    /** Sockets an upgrade's old supervisor passed, descriptor to name. */
    public static SocketActivation fromUpgrade(Map<Integer, String> fds) {
        return new SocketActivation(new LinkedHashMap<>(fds), true);
    }

    /** True when an upgrade's old supervisor passed the sockets, false for the service manager. */
    public boolean upgrade() {
        return upgrade;
    }

    /** True when at least one socket was passed. */
    public boolean active() {
        return !fds.isEmpty();
    }

    /** The passed descriptors, in order. */
    public List<Integer> fds() {
        return new ArrayList<>(fds.keySet());
    }

    /** The name LISTEN_FDNAMES gave {@code fd}, or "" for none. */
    public String name(int fd) {
        return fds.getOrDefault(fd, "");
    }

    /** Descriptor to name, in descriptor order. */
    public Map<Integer, String> named() {
        return fds;
    }

    @Override
    public String toString() {
        return active() ? "LISTEN_FDS=" + fds.size() + " " + fds : "no socket activation";
    }
}
