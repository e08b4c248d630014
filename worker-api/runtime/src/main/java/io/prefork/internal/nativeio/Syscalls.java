package io.prefork.internal.nativeio;

import static io.prefork.internal.nativeio.Native.AF_INET;
import static io.prefork.internal.nativeio.Native.AF_INET6;
import static io.prefork.internal.nativeio.Native.AF_UNIX;
import static io.prefork.internal.nativeio.Native.EINTR;
import static io.prefork.internal.nativeio.Native.EMFILE;
import static io.prefork.internal.nativeio.Native.ENFILE;
import static io.prefork.internal.nativeio.Native.EPIPE;
import static io.prefork.internal.nativeio.Native.FD_CLOEXEC;
import static io.prefork.internal.nativeio.Native.F_DUPFD_CLOEXEC;
import static io.prefork.internal.nativeio.Native.F_GETFD;
import static io.prefork.internal.nativeio.Native.F_GETFL;
import static io.prefork.internal.nativeio.Native.F_SETFD;
import static io.prefork.internal.nativeio.Native.F_SETFL;
import static io.prefork.internal.nativeio.Native.MSG_CMSG_CLOEXEC;
import static io.prefork.internal.nativeio.Native.MSG_NOSIGNAL;
import static io.prefork.internal.nativeio.Native.O_NONBLOCK;
import static io.prefork.internal.nativeio.Native.POLLERR;
import static io.prefork.internal.nativeio.Native.POLLHUP;
import static io.prefork.internal.nativeio.Native.POLLIN;
import static io.prefork.internal.nativeio.Native.SHUT_RDWR;
import static io.prefork.internal.nativeio.Native.SOCK_CLOEXEC;
import static io.prefork.internal.nativeio.Native.SOCK_SEQPACKET;
import static io.prefork.internal.nativeio.Native.SOCK_STREAM;
import static io.prefork.internal.nativeio.Native.SOL_SOCKET;

import java.io.IOException;
import java.lang.ref.Reference;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The half of the native boundary that a worker uses (descriptors, the control channel, the bootstrap connection),
 * over whichever {@link SyscallBackend} suits this JVM: the JDK's FFM API on JDK 22+, jnr-ffi before. This class
 * loads no jnr class by itself, so a worker on JDK 22+ boots without jnr; {@link Native} (jnr-ffi, the supervisor's
 * listener, epoll, signals...) keeps its own methods of the same names as delegates to these.
 *
 * <p>The backend is chosen once per JVM: {@code -Dprefork.native=jnr} forces jnr-ffi on any JDK (to compare, or to
 * step around an FFM problem); {@code -Dprefork.native=ffm} insists on FFM and fails at start if it is unavailable
 * (JDK older than 22, or a runtime jar built without a JDK 22+ compiler, which then has no
 * {@code META-INF/versions/22}). Without the property: FFM where it can, else jnr-ffi.
 *
 * <p>Descriptor ownership is by convention, stated at each method: a method that returns a descriptor hands its
 * ownership to the caller, who must close it exactly once.
 */
public final class Syscalls {
    /** The system property that picks the backend: "ffm" or "jnr"; unset means FFM on JDK 22+ when present. */
    public static final String BACKEND_PROPERTY = "prefork.native";
    private static final String FFM_CLASS = "io.prefork.internal.nativeio.FfmBackend";
    /** {@code SO_RCVTIMEO} on Linux; its value is a {@code struct timeval} (two longs: seconds, microseconds). */
    private static final int SO_RCVTIMEO = 20;
    /** {@code sizeof(((struct sockaddr_un *) 0)->sun_path)} on Linux, the terminating NUL included. */
    private static final int SUN_PATH_BYTES = 108;

    static final SyscallBackend BACKEND = choose(System.getProperty(BACKEND_PROPERTY, ""), Runtime.version().feature());

    private Syscalls() {
    }

    static SyscallBackend choose(String wanted, int jdkFeature) {
        switch (wanted) {
            case "jnr":
                return new JnrBackend();
            case "ffm":
            case "":
                break;
            default:
                throw new IllegalArgumentException("-D" + BACKEND_PROPERTY + "=" + wanted + " is not a native backend; "
                        + "use ffm (JDK 22+) or jnr, or leave it unset to have ffm where available");
        }
        SyscallBackend ffm = jdkFeature >= 22 ? loadFfm() : null;
        if (ffm != null) {
            return ffm;
        }
        if (wanted.equals("ffm")) {
            throw new IllegalStateException("-D" + BACKEND_PROPERTY + "=ffm, but " + (jdkFeature < 22
                    ? "this is JDK " + jdkFeature + " and the FFM API is final only from JDK 22"
                    : "this prefork-worker-runtime was built without a JDK 22+ compiler (no META-INF/versions/22)")
                    + "; remove the property to use jnr-ffi");
        }
        return new JnrBackend();
    }

    private static SyscallBackend loadFfm() {
        Class<?> c;
        try {
            c = Class.forName(FFM_CLASS);
        } catch (ClassNotFoundException e) {
            return null; // a jar built where no JDK 22+ javac was found: jnr-ffi it is (see the README's build notes)
        }
        try {
            return (SyscallBackend) c.getDeclaredConstructor().newInstance();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot start the FFM native backend " + FFM_CLASS + ": " + e, e);
        }
    }

    /** The native backend of this JVM: "ffm" (java.lang.foreign, JDK 22+) or "jnr" (jnr-ffi). */
    public static String backend() {
        return BACKEND.name();
    }

    /**
     * Fails unless this is 64-bit Linux, the only platform whose struct layouts ({@code msghdr}, {@code cmsghdr},
     * {@code sockaddr_in6}) and constants the native boundary encodes. Reads system properties only: it must not
     * load a native binding just to say no.
     */
    public static void checkPlatform() {
        String os = System.getProperty("os.name", "?");
        String bits = System.getProperty("sun.arch.data.model", System.getProperty("os.arch", "?").contains("64")
                ? "64" : "32");
        if (!os.equals("Linux") || !bits.equals("64")) {
            throw new UnsupportedOperationException("Prefork needs 64-bit Linux (descriptor passing over SOCK_SEQPACKET "
                    + "with Linux struct layouts); this is " + os + " with " + bits + "-bit addresses");
        }
    }

    /** A direct buffer's native address; the buffer must stay reachable while the address is in use. */
    static long address(ByteBuffer direct) {
        if (!direct.isDirect()) {
            // A heap buffer's "address" would be a temporary copy: sendmsg would see EFAULT or stale bytes.
            throw new IllegalArgumentException("only direct buffers have a stable native address");
        }
        return BACKEND.address(direct);
    }

    /** A direct buffer of {@code bytes} in the platform's byte order, for native structs. */
    static ByteBuffer nativeBuffer(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
    }

    /** {@code rc}, or a {@link NativeException} naming {@code call} when it is minus errno. */
    private static int check(int rc, String call) throws NativeException {
        if (rc < 0) {
            throw new NativeException(call, -rc);
        }
        return rc;
    }

    /** sendmsg on an address-prepared message: bytes sent, or minus errno (EINTR included: the caller decides). */
    static long sendmsg(int fd, long msg, int flags) {
        return BACKEND.sendmsg(fd, msg, flags);
    }

    /** recvmsg on an address-prepared message: bytes received, or minus errno (EINTR included). */
    static long recvmsg(int fd, long msg, int flags) {
        return BACKEND.recvmsg(fd, msg, flags);
    }

    /**
     * An AF_UNIX SOCK_SEQPACKET socketpair, both ends close-on-exec. SEQPACKET because STREAM loses message
     * boundaries (a descriptor can arrive attached to a read that starts inside the previous message).
     *
     * @return two descriptors, owned by the caller
     */
    public static int[] seqpacketPair() throws NativeException {
        ByteBuffer sv = nativeBuffer(8);
        check(BACKEND.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, address(sv)),
                "socketpair(AF_UNIX, SOCK_SEQPACKET)"); // sv is read below: reachable through the call
        return new int[] {sv.getInt(0), sv.getInt(4)};
    }

    /**
     * Closes a descriptor. On Linux the descriptor is released even when close reports EINTR, so it is never retried
     * (a retry could close a number another thread has just been given).
     */
    public static void close(int fd) throws NativeException {
        int rc = BACKEND.close(fd);
        if (rc < 0 && -rc != EINTR) {
            throw new NativeException("close(fd=" + fd + ")", -rc);
        }
    }

    /** Closes a descriptor on a path where a failure has nothing left to tell (cleanup after another error). */
    public static void closeQuietly(int fd) {
        if (fd >= 0) {
            BACKEND.close(fd);
        }
    }

    /**
     * Takes a descriptor slot as a reservation (the worker runtime's descriptor sentinel: closed just before each
     * recvmsg, so that a descriptor arriving then finds a free slot), by duplicating {@code existingFd}.
     *
     * @return the descriptor, owned by the caller, or -1 if the descriptor table is full (EMFILE/ENFILE)
     */
    public static int reserveDescriptor(int existingFd) throws NativeException {
        // A dup of a descriptor we already hold: one cheap syscall, no path lookup, no string to convert.
        int fd = BACKEND.fcntl(existingFd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            if (-fd == EMFILE || -fd == ENFILE) {
                return -1;
            }
            throw new NativeException("fcntl(fd=" + existingFd + ", F_DUPFD_CLOEXEC)", -fd);
        }
        return fd;
    }

    /** Room for a {@code sockaddr_in6} (28 bytes), then the {@code socklen_t} getsockname reads and updates. */
    private static final int SOCKADDR_ROOM = 28;

    /** A thread's getsockname buffer and its native address (taken once: jnr allocates to find an address). */
    private static final class SockaddrScratch {
        final ByteBuffer buffer = nativeBuffer(SOCKADDR_ROOM + 4);
        final long address = address(buffer);
        /**
         * The last IPv4 address returned, and its raw address and port: a worker's connections mostly share one
         * local address (that of the listener), and an InetSocketAddress is immutable, so one object serves them all
         * instead of four new ones per connection.
         */
        InetSocketAddress lastV4;
        int lastV4Raw;
        int lastV4Port = -1;
    }

    private static final ThreadLocal<SockaddrScratch> SOCKADDR = ThreadLocal.withInitial(SockaddrScratch::new);

    /**
     * The local address of a TCP socket, with one getsockname: what the JDK's {@code Net.localAddress} returns for it
     * (an IPv4-mapped IPv6 address as an {@link Inet4Address}, an IPv6 one with its scope id), which costs the JDK
     * two calls (address, then port).
     *
     * @throws IOException naming the call and errno (ENOTSOCK for a descriptor that is no socket), or the address
     *     family if it is neither AF_INET nor AF_INET6
     */
    public static InetSocketAddress localAddress(int fd) throws IOException {
        SockaddrScratch scratch = SOCKADDR.get();
        ByteBuffer sa = scratch.buffer;
        sa.putInt(SOCKADDR_ROOM, SOCKADDR_ROOM);
        int rc = BACKEND.getsockname(fd, scratch.address, scratch.address + SOCKADDR_ROOM);
        if (rc < 0) {
            throw new NativeException("getsockname(fd=" + fd + ")", -rc);
        }
        // sockaddr_in:  u16 family | u16 port (network order) | 4 address bytes
        // sockaddr_in6: u16 family | u16 port | u32 flowinfo | 16 address bytes | u32 scope id
        int family = sa.getShort(0);
        int port = (sa.get(2) & 0xFF) << 8 | (sa.get(3) & 0xFF);
        if (family == AF_INET) {
            int raw = sa.getInt(4);
            if (port != scratch.lastV4Port || raw != scratch.lastV4Raw) {
                byte[] ip = new byte[4];
                sa.get(4, ip);
                scratch.lastV4 = new InetSocketAddress(byAddress(ip, 0), port);
                scratch.lastV4Raw = raw;
                scratch.lastV4Port = port;
            }
            return scratch.lastV4;
        }
        if (family == AF_INET6) {
            byte[] ip = new byte[16];
            sa.get(8, ip);
            return new InetSocketAddress(byAddress(ip, sa.getInt(24)), port);
        }
        throw new IOException("getsockname(fd=" + fd + ") gave address family " + family
                + ", not AF_INET or AF_INET6: not a TCP socket");
    }

    private static InetAddress byAddress(byte[] ip, int scopeId) {
        try {
            // getByAddress turns an IPv4-mapped address into an Inet4Address, as the JDK's own getsockname does.
            InetAddress a = InetAddress.getByAddress(ip);
            return scopeId != 0 && a instanceof Inet6Address ? Inet6Address.getByAddress(null, ip, scopeId) : a;
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // only for a length other than 4 or 16
        }
    }

    /** Puts a descriptor in blocking or non-blocking mode, with no system call when it already is. */
    public static void setBlocking(int fd, boolean blocking) throws NativeException {
        // On the hot path (every wrapped connection): the error text is built only on failure.
        int flags = BACKEND.fcntl(fd, F_GETFL, 0);
        if (flags < 0) {
            throw new NativeException("fcntl(fd=" + fd + ", F_GETFL)", -flags);
        }
        int wanted = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
        if (wanted != flags) {
            int rc = BACKEND.fcntl(fd, F_SETFL, wanted);
            if (rc < 0) {
                throw new NativeException("fcntl(fd=" + fd + ", F_SETFL)", -rc);
            }
        }
    }

    /** Sets close-on-exec on a descriptor that a library created without it. */
    public static void setCloseOnExec(int fd) throws NativeException {
        check(BACKEND.fcntl(fd, F_SETFD, FD_CLOEXEC), "fcntl(fd=" + fd + ", F_SETFD, FD_CLOEXEC)");
    }

    public static boolean isBlocking(int fd) throws NativeException {
        return (check(BACKEND.fcntl(fd, F_GETFL, 0), "fcntl(fd=" + fd + ", F_GETFL)") & O_NONBLOCK) == 0;
    }

    public static boolean isCloseOnExec(int fd) throws NativeException {
        return (check(BACKEND.fcntl(fd, F_GETFD, 0), "fcntl(fd=" + fd + ", F_GETFD)") & FD_CLOEXEC) != 0;
    }

    /**
     * Whether poll(2), without waiting, reports POLLHUP or POLLERR on {@code fd}; {@code pollFd} is a direct buffer of
     * at least 8 bytes (one {@code struct pollfd}) that the caller owns and reuses. EINTR reads as "not now".
     */
    public static boolean hungUp(int fd, ByteBuffer pollFd) throws NativeException {
        pollFd.order(ByteOrder.nativeOrder());
        pollFd.putInt(0, fd);
        pollFd.putShort(4, POLLIN);
        pollFd.putShort(6, (short) 0);
        int n = BACKEND.poll(BACKEND.address(pollFd), 1, 0);
        if (n == -EINTR) {
            return false;
        }
        check(n, "poll(fd=" + fd + ")");
        return n > 0 && (pollFd.getShort(6) & (POLLHUP | POLLERR)) != 0;
    }

    /** shutdown(SHUT_RDWR), ignoring failure: for waking a thread blocked on the socket, on the way out. */
    public static void shutdown(int fd) {
        BACKEND.shutdown(fd, SHUT_RDWR);
    }

    /**
     * Makes this process ignore {@code signal} ({@code signal(2)} with SIG_IGN: what {@code sun.misc.Signal}'s
     * SIG_IGN does too, without reaching into the JDK).
     */
    public static void ignoreSignal(int signal) throws NativeException {
        check(BACKEND.ignoreSignal(signal), "signal(" + signal + ", SIG_IGN)");
    }

    /**
     * Connects a close-on-exec AF_UNIX SOCK_STREAM socket to {@code path}, whose receives time out after
     * {@code receiveTimeoutMs} (SO_RCVTIMEO: a receive then fails with EAGAIN).
     *
     * @return the connected descriptor, owned by the caller
     * @throws NativeException naming the step that failed; IllegalArgumentException for a path too long for AF_UNIX
     */
    public static int connectUnix(Path path, int receiveTimeoutMs) throws NativeException {
        byte[] p = path.toString().getBytes(StandardCharsets.UTF_8);
        if (p.length >= SUN_PATH_BYTES) {
            throw new IllegalArgumentException("AF_UNIX socket path " + path + " is " + p.length + " bytes; Linux allows "
                    + (SUN_PATH_BYTES - 1) + ": use a shorter directory (TMPDIR, or the supervisor's --runtime-dir)");
        }
        // struct sockaddr_un { sa_family_t sun_family @0 (u16); char sun_path[108] @2 }
        ByteBuffer sa = nativeBuffer(2 + SUN_PATH_BYTES);
        sa.putShort(0, (short) AF_UNIX);
        sa.put(2, p);
        sa.put(2 + p.length, (byte) 0);
        // struct timeval { time_t tv_sec @0; suseconds_t tv_usec @8 }
        ByteBuffer tv = nativeBuffer(16);
        tv.putLong(0, receiveTimeoutMs / 1000);
        tv.putLong(8, (receiveTimeoutMs % 1000) * 1000L);
        int fd = check(BACKEND.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX, SOCK_STREAM)");
        try {
            check(BACKEND.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, address(tv), 16), "setsockopt(fd=" + fd
                    + ", SO_RCVTIMEO)");
            int rc;
            do {
                rc = BACKEND.connect(fd, address(sa), 2 + p.length + 1);
            } while (rc == -EINTR);
            check(rc, "connect(" + path + ")");
            // The kernel has copied both structs by now; until then the buffers must not be freed under it.
            Reference.reachabilityFence(sa);
            Reference.reachabilityFence(tv);
            return fd;
        } catch (NativeException | RuntimeException e) {
            closeQuietly(fd);
            throw e;
        }
    }

    /** Writes all of {@code bytes} to a connected socket (blocking), never raising SIGPIPE. */
    public static void sendAll(int fd, byte[] bytes) throws NativeException {
        ByteBuffer b = ByteBuffer.allocateDirect(bytes.length);
        b.put(0, bytes);
        long base = address(b);
        int sent = 0;
        while (sent < bytes.length) {
            long n = BACKEND.send(fd, base + sent, bytes.length - sent, MSG_NOSIGNAL);
            if (n < 0 && n != -EINTR) {
                throw new NativeException("send(fd=" + fd + ")", (int) -n);
            }
            sent += (int) Math.max(n, 0);
        }
        Reference.reachabilityFence(b);
    }

    /**
     * Sends {@code payload} and one descriptor over a connected AF_UNIX socket (any type). Not for the hot path: it
     * allocates. At least one payload byte always goes with the descriptor: a zero-byte sendmsg on a STREAM socket
     * silently drops the descriptor. The caller keeps ownership of {@code passFd} (the receiver gets a new one).
     */
    public static void sendWithDescriptor(int socketFd, byte[] payload, int passFd) throws NativeException {
        if (payload.length == 0) {
            throw new IllegalArgumentException("a descriptor needs at least one payload byte to travel with");
        }
        ByteBuffer data = ByteBuffer.allocateDirect(payload.length);
        data.put(0, payload);
        MessageStruct m = new MessageStruct(1);
        m.prepareSend(address(data), payload.length, new int[] {passFd}, 1);
        long n;
        do {
            n = BACKEND.sendmsg(socketFd, m.msg, MSG_NOSIGNAL);
        } while (n == -EINTR);
        // Only addresses reached the kernel: keep the buffers they point into alive until it is done with them.
        Reference.reachabilityFence(data);
        Reference.reachabilityFence(m);
        if (n < 0) {
            throw new NativeException("sendmsg(fd=" + socketFd + ", SCM_RIGHTS)", (int) -n);
        }
        if (n != payload.length) {
            throw new NativeException("sendmsg(fd=" + socketFd + ") sent " + n + " of " + payload.length + " bytes", EPIPE);
        }
    }

    /**
     * Receives up to {@code buffer.length} bytes and at most one descriptor (blocking). Not for the hot path.
     *
     * @return {bytes received (0 at end of stream), received descriptor or -1}; the descriptor is the caller's and
     *     close-on-exec
     */
    public static int[] receiveWithDescriptor(int socketFd, byte[] buffer) throws NativeException {
        ByteBuffer data = ByteBuffer.allocateDirect(buffer.length);
        MessageStruct m = new MessageStruct(1);
        m.prepareReceive(address(data), buffer.length);
        long n;
        do {
            n = BACKEND.recvmsg(socketFd, m.msg, MSG_CMSG_CLOEXEC);
        } while (n == -EINTR);
        if (n < 0) {
            throw new NativeException("recvmsg(fd=" + socketFd + ")", (int) -n);
        }
        int[] fds = new int[1];
        int count = m.collectDescriptors(fds);
        data.get(0, buffer, 0, (int) n);
        return new int[] {(int) n, count > 0 ? fds[0] : -1};
    }
}
