package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import io.prefork.internal.wire.WireAddress;
import java.io.Closeable;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A listening TCP socket made with raw socket/bind/listen, and accept4. Raw rather than a
 * {@link java.nio.channels.ServerSocketChannel} because NIO never sets close-on-exec and offers no int descriptor
 * without {@code --add-exports}; here the listener and every accepted socket are close-on-exec from birth, so no
 * process the supervisor starts can inherit them.
 *
 * <p>The listener is non-blocking (the supervisor polls it); accepted sockets are blocking, the mode the worker SDK
 * documents. Used by one thread: the supervisor's loop.
 */
public final class TcpListener implements Closeable {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    private final int fd;
    private final int family;
    private final InetSocketAddress bound;
    /** Passed to us (socket activation) rather than bound here: another process holds the same socket. */
    private final boolean inherited;
    /** {@link #refuseNewHandshakes} attached its filter, which an inherited socket must lose before we let go. */
    private boolean refusing;
    private final Pointer acceptAddr = Native.allocate(Native.SOCKADDR_BYTES);
    private final Pointer acceptAddrLen = Native.allocate(4);
    private boolean closed;

    private TcpListener(int fd, int family, boolean inherited) throws NativeException {
        this.fd = fd;
        this.family = family;
        this.inherited = inherited;
        Pointer name = Native.allocate(Native.SOCKADDR_BYTES);
        Pointer nameLength = Native.allocate(4);
        nameLength.putInt(0, Native.SOCKADDR_BYTES);
        Native.check(Native.LIBC.getsockname(fd, name, nameLength), "getsockname(fd=" + fd + ")");
        this.bound = Native.sockaddr(name);
    }

    /**
     * Binds and listens.
     *
     * @param address where to listen; port 0 picks a free port (see {@link #boundAddress()})
     * @param backlog the kernel's queue of completed handshakes not yet accepted
     * @throws NativeException naming {@code bind(HOST:PORT)} etc.; EADDRINUSE when the port is taken
     */
    public static TcpListener open(InetSocketAddress address, int backlog) throws NativeException {
        boolean v4 = address.getAddress() instanceof Inet4Address;
        int family = v4 ? Native.AF_INET : Native.AF_INET6;
        String where = format(address);
        int fd = Native.check(Native.LIBC.socket(family, Native.SOCK_STREAM | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0),
                "socket(" + (v4 ? "AF_INET" : "AF_INET6") + ", SOCK_STREAM)");
        try {
            // A restarted supervisor must be able to bind while old connections sit in TIME_WAIT.
            Native.setIntOption(fd, Native.SOL_SOCKET, Native.SO_REUSEADDR, 1, "SO_REUSEADDR");
            Pointer sa = Native.allocate(Native.SOCKADDR_BYTES);
            int len = Native.putSockaddr(address, sa);
            Native.check(Native.LIBC.bind(fd, sa, len), "bind(" + where + ")");
            Native.check(Native.LIBC.listen(fd, backlog), "listen(" + where + ", backlog=" + backlog + ")");
            return new TcpListener(fd, family, false);
        } catch (NativeException | RuntimeException e) {
            Native.closeQuietly(fd);
            throw e;
        }
    }

    // getsockopt(2) and socket(7) values, for the check of an inherited socket.
    private static final int SO_TYPE = 3;
    private static final int SO_ACCEPTCONN = 30;
    private static final int SOCK_DGRAM = 2;
    private static final int ENOTSOCK = 88;
    private static final int SO_DETACH_FILTER = 27;

    /** An inherited descriptor that is not a listening TCP socket; the message says what it is instead. */
    public static final class NotAListener extends Exception {
        private static final long serialVersionUID = 1L;

        NotAListener(String what) {
            super(what);
        }
    }

    /**
     * Takes a listening socket this process inherited (systemd socket activation: descriptor 3 onward), after
     * checking it is one we can serve: a TCP stream socket (IPv4 or IPv6) in the listening state. The service manager
     * keeps its own copy of the socket, so it outlives us, and connections that arrive while no supervisor accepts
     * wait in its queue for the next one; see {@link #inherited()}.
     *
     * <p>From here on the returned listener owns {@code fd}. It is made close-on-exec (systemd passes it without,
     * so that a process it starts can have it; ours must not) and non-blocking, the mode the supervisor polls in.
     * Both are flags of the open file description, shared with the service manager's copy, which accepts nothing
     * itself for a socket with {@code Accept=no}.
     *
     * @throws NotAListener with a message saying what the descriptor is instead ("is a UDP socket"); {@code fd} is
     *     left open, not ours to close
     * @throws NativeException when a check itself fails for another reason
     */
    public static TcpListener inherit(int fd) throws NotAListener, NativeException {
        if (Native.LIBC.fcntl(fd, Native.F_GETFD, 0) < 0) {
            int e = Native.errno();
            if (e == Native.EBADF) {
                throw new NotAListener("is not open");
            }
            throw new NativeException("fcntl(fd=" + fd + ", F_GETFD)", e);
        }
        Pointer value = Native.allocate(4);
        Pointer length = Native.allocate(4);
        length.putInt(0, 4);
        if (Native.LIBC.getsockopt(fd, Native.SOL_SOCKET, SO_TYPE, value, length) < 0) {
            int e = Native.errno();
            if (e == ENOTSOCK) {
                throw new NotAListener("is not a socket (a file, a pipe or a terminal)");
            }
            throw new NativeException("getsockopt(fd=" + fd + ", SO_TYPE)", e);
        }
        int type = value.getInt(0);
        Pointer name = Native.allocate(Native.SOCKADDR_BYTES + 100); // room for a sockaddr_un, to read its family
        Pointer nameLength = Native.allocate(4);
        nameLength.putInt(0, Native.SOCKADDR_BYTES + 100);
        Native.check(Native.LIBC.getsockname(fd, name, nameLength), "getsockname(fd=" + fd + ")");
        int family = name.getShort(0);
        String familyText = family == Native.AF_INET ? "IPv4" : family == Native.AF_INET6 ? "IPv6"
                : family == Native.AF_UNIX ? "AF_UNIX" : "family " + family;
        if (family != Native.AF_INET && family != Native.AF_INET6) {
            throw new NotAListener("is an " + familyText + " socket, not a TCP one");
        }
        if (type != Native.SOCK_STREAM) {
            throw new NotAListener("is " + (type == SOCK_DGRAM ? "a UDP (" + familyText + " datagram)"
                    : "an " + familyText + " socket of type " + type + ", not a stream") + " socket, not a TCP one");
        }
        length.putInt(0, 4);
        Native.check(Native.LIBC.getsockopt(fd, Native.SOL_SOCKET, SO_ACCEPTCONN, value, length),
                "getsockopt(fd=" + fd + ", SO_ACCEPTCONN)");
        if (value.getInt(0) == 0) {
            throw new NotAListener("is a TCP socket that is not listening (a connection: a .socket unit with "
                    + "Accept=yes passes each connection to a new instance of the service)");
        }
        Native.setCloseOnExec(fd);
        Native.setBlocking(fd, false);
        return new TcpListener(fd, family, true);
    }

    /**
     * True for a listener passed to us ({@link #inherit}): the process that passed it keeps a copy, so closing ours
     * neither stops the port listening nor resets the connections in its queue; they wait for the next supervisor.
     */
    public boolean inherited() {
        return inherited;
    }

    public int fd() {
        return fd;
    }

    /** The local address of socket {@code fd} (getsockname), which stays the caller's. */
    public static InetSocketAddress localAddress(int fd) throws NativeException {
        Pointer name = Native.allocate(Native.SOCKADDR_BYTES);
        Pointer nameLength = Native.allocate(4);
        nameLength.putInt(0, Native.SOCKADDR_BYTES);
        Native.check(Native.LIBC.getsockname(fd, name, nameLength), "getsockname(fd=" + fd + ")");
        return Native.sockaddr(name);
    }

    /** The address actually bound (the real port when 0 was asked for). */
    public InetSocketAddress boundAddress() {
        return bound;
    }

    /**
     * Accepts one pending connection.
     *
     * @return the new socket's descriptor, owned by the caller, blocking and close-on-exec; or -1 when none is
     *     pending (EAGAIN) or the client gave up before it was accepted (ECONNABORTED)
     * @throws NativeException on other errors; EMFILE/ENFILE mean this process is out of descriptors
     */
    public int accept() throws NativeException {
        while (true) {
            acceptAddrLen.putInt(0, Native.SOCKADDR_BYTES);
            int c = Native.LIBC.accept4(fd, acceptAddr, acceptAddrLen, Native.SOCK_CLOEXEC);
            if (c >= 0) {
                return c;
            }
            int e = Native.errno();
            if (e == Native.EAGAIN || e == Native.ECONNABORTED) {
                return -1;
            }
            if (e != Native.EINTR) {
                throw new NativeException("accept4(" + format(bound) + ")", e);
            }
        }
    }

    /**
     * Copies the last accepted connection's peer address, in wire form ({@link WireAddress}), into {@code dst}
     * (at least {@link WireAddress#MAX_BYTES} long); returns its length. Allocates nothing.
     */
    public int copyLastPeerAddress(byte[] dst) {
        int family = acceptAddr.getShort(0);
        boolean v4 = family == Native.AF_INET;
        dst[0] = v4 ? WireAddress.IPV4 : WireAddress.IPV6;
        // sockaddr_in and sockaddr_in6 both keep the port, in network order, at offset 2: as the wire has it.
        dst[1] = acceptAddr.getByte(2);
        dst[2] = acceptAddr.getByte(3);
        acceptAddr.get(v4 ? 4 : 8, dst, WireAddress.PREFIX_BYTES, v4 ? 4 : 16);
        return v4 ? WireAddress.IPV4_BYTES : WireAddress.IPV6_BYTES;
    }

    /**
     * The socket filter of {@link #refuseNewHandshakes}, in classic BPF. A TCP socket's filter sees the segment from
     * its TCP header on, so absolute offset 13 is the flags byte (CWR ECE URG ACK PSH RST SYN FIN).
     */
    private static final int[][] DROP_NEW_HANDSHAKES = {
        {0x30, 0, 0, 13},          // ldb [13]            A = TCP flags
        {0x54, 0, 0, 0x12},        // and #0x12           keep SYN (0x02) and ACK (0x10)
        {0x15, 0, 1, 0x02},        // jeq #0x02, drop, keep: SYN without ACK opens a new connection
        {0x06, 0, 0, 0},           // drop: ret #0
        {0x06, 0, 0, 0xFFFFFFFF},  // keep: ret #-1 (the whole segment)
    };

    /**
     * Lets no new connection start on this listener while the handshakes already under way finish, so that it can
     * then be emptied and closed without resetting any connection the kernel completed.
     *
     * <p>Closing a listener resets every connection in its accept queue, and a handshake can complete between the
     * last {@code accept} that found the queue empty and the {@code close}: that client is reset although the
     * kernel had accepted it on our behalf. This closes the window at its source. A socket filter that drops every
     * segment with SYN set and ACK clear means the kernel never answers a new connection attempt (the client
     * retransmits its SYN after a second and is then refused by the closed port), while the final ACKs of
     * handshakes already answered still pass and land in the accept queue. Once {@link #handshakesInProgress(java.util.Set)} is
     * 0, nothing can enter the queue any more, and accepting until EAGAIN empties it for good.
     *
     * <p>The filter is copied to every socket accepted afterwards; harmless, since an established connection never
     * needs a segment with SYN and no ACK.
     */
    public void refuseNewHandshakes() throws NativeException {
        attachFilter(fd, DROP_NEW_HANDSHAKES, "drop new handshakes on " + format(bound));
        refusing = true;
    }

    /**
     * TCP handshakes under way on any of these local ports, in this network namespace: sockets in SYN_RECV, the
     * kernel's request sockets included. Asks the kernel over sock_diag ({@link SocketDiag}); where that is not
     * available (a kernel without {@code CONFIG_INET_DIAG}), reads {@code /proc/net/tcp} and {@code tcp6}
     * instead, which costs O(sockets) of text. For stopping, not for the hot path; 0 if neither can be asked.
     */
    public static int handshakesInProgress(java.util.Set<Integer> ports) {
        try {
            return SocketDiag.handshakesInProgress(ports);
        } catch (NativeException e) {
            return handshakesInProc(ports);
        }
    }

    /** The {@code /proc/net/tcp} and {@code tcp6} form of {@link #handshakesInProgress(java.util.Set)}. */
    static int handshakesInProc(java.util.Set<Integer> ports) {
        int n = 0;
        for (String table : new String[] {"/proc/net/tcp", "/proc/net/tcp6"}) {
            try {
                n += countHandshakes(java.nio.file.Files.readAllLines(java.nio.file.Path.of(table)), ports);
            } catch (java.io.IOException | RuntimeException e) {
                // No such table (no IPv6) or no /proc: nothing to wait for that can be seen.
            }
        }
        return n;
    }

    /**
     * Counts the SYN_RECV rows with a local port in {@code ports} in the lines of a {@code /proc/net/tcp} or
     * {@code tcp6} table, whose rows read {@code "  sl  LOCAL_HEX:PORT_HEX REMOTE_HEX:PORT_HEX ST ..."} with the
     * state in hex (03 is SYN_RECV) and a header row first.
     */
    static int countHandshakes(java.util.List<String> lines, java.util.Set<Integer> ports) {
        int n = 0;
        for (String line : lines) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 4 || !f[0].endsWith(":") || !"03".equals(f[3])) {
                continue;
            }
            int colon = f[1].lastIndexOf(':');
            try {
                if (colon > 0 && ports.contains(Integer.parseInt(f[1].substring(colon + 1), 16))) {
                    n++;
                }
            } catch (NumberFormatException e) {
                // Not a row of the table.
            }
        }
        return n;
    }

    /**
     * Closes our descriptor. An {@link #inherited()} socket that {@link #refuseNewHandshakes} filtered loses its
     * filter first: the filter belongs to the socket, not to our descriptor, and the service manager's copy outlives
     * us; left attached, it would go on dropping every new connection, for the next supervisor too.
     */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (inherited && refusing) {
                try {
                    // The kernel ignores the value but wants an int's length (EINVAL for less).
                    Native.setIntOption(fd, Native.SOL_SOCKET, SO_DETACH_FILTER, 0, "SO_DETACH_FILTER");
                } catch (NativeException e) {
                    LOG.warn("cannot remove the filter refusing new connections from the inherited listener {} ({}): "
                            + "the next supervisor given this socket will not receive new connections; restart the "
                            + "socket unit", format(bound), e.getMessage());
                }
            }
            Native.closeQuietly(fd);
        }
    }

    /** Addresses for people, separated by {@code ", "}: {@code 127.0.0.1:8080, [::1]:8080}. */
    public static String format(java.util.List<InetSocketAddress> addresses) {
        StringBuilder text = new StringBuilder();
        for (InetSocketAddress a : addresses) {
            text.append(text.length() == 0 ? "" : ", ").append(format(a));
        }
        return text.toString();
    }

    /** HOST:PORT with brackets around IPv6 literals, as the command line takes it: {@code [::1]:8080}. */
    public static String format(InetSocketAddress a) {
        InetAddress ip = a.getAddress();
        if (ip instanceof Inet6Address) {
            return "[" + ipv6Text((Inet6Address) ip) + "]:" + a.getPort();
        }
        return (ip != null ? ip.getHostAddress() : a.getHostString()) + ":" + a.getPort();
    }

    /**
     * An IPv6 address as RFC 5952 writes it ({@code ::1}, {@code 2001:db8::7}), as people type it, rather than
     * {@link InetAddress#getHostAddress()}'s full form ({@code 0:0:0:0:0:0:0:1}): lower-case hex without leading
     * zeros, the longest run of two or more zero groups (the first of equal runs) as {@code ::}, and the scope, if
     * any, after {@code %}.
     */
    static String ipv6Text(Inet6Address ip) {
        byte[] b = ip.getAddress();
        int[] group = new int[8];
        for (int i = 0; i < 8; i++) {
            group[i] = (b[2 * i] & 0xff) << 8 | (b[2 * i + 1] & 0xff);
        }
        int runStart = -1;
        int runLength = 1; // a single zero group is written as 0, never as ::
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && group[j] == 0) {
                j++;
            }
            if (j - i > runLength) {
                runStart = i;
                runLength = j - i;
            }
            i = Math.max(j, i + 1);
        }
        StringBuilder text = new StringBuilder(39);
        for (int i = 0; i < 8; i++) {
            if (i == runStart) {
                text.append("::");
                i += runLength - 1;
                continue;
            }
            if (text.length() > 0 && text.charAt(text.length() - 1) != ':') {
                text.append(':');
            }
            text.append(Integer.toHexString(group[i]));
        }
        String full = ip.getHostAddress();
        int scope = full.indexOf('%');
        return scope >= 0 ? text + full.substring(scope) : text.toString();
    }

    /** The socket family (AF_INET or AF_INET6) of this listener and of every socket it accepts. */
    public int family() {
        return family;
    }

    /**
     * Attaches a classic BPF socket filter ({@code setsockopt(SO_ATTACH_FILTER)}), replacing any earlier one. The
     * kernel copies the program, so its memory is only needed during the call.
     *
     * @param program one {@code struct sock_filter} per row: {@code {code, jt, jf, k}}
     */
    static void attachFilter(int fd, int[][] program, String what) throws NativeException {
        // struct sock_filter: u16 code @0 | u8 jt @2 | u8 jf @3 | u32 k @4      (8 bytes each)
        // struct sock_fprog:  u16 len @0 | 6 bytes padding | sock_filter *filter @8  (16 bytes on 64-bit)
        Pointer insns = Native.allocate(8 * program.length);
        for (int i = 0; i < program.length; i++) {
            insns.putShort(8L * i, (short) program[i][0]);
            insns.putByte(8L * i + 2, (byte) program[i][1]);
            insns.putByte(8L * i + 3, (byte) program[i][2]);
            insns.putInt(8L * i + 4, program[i][3]);
        }
        Pointer fprog = Native.allocate(16);
        fprog.putShort(0, (short) program.length);
        fprog.putAddress(8, insns.address());
        try {
            Native.check(Native.LIBC.setsockopt(fd, Native.SOL_SOCKET, Native.SO_ATTACH_FILTER, fprog, 16),
                    "setsockopt(fd=" + fd + ", SO_ATTACH_FILTER, " + what + ")");
        } finally {
            java.lang.ref.Reference.reachabilityFence(insns);
        }
    }

}
