package io.prefork.internal.nativeio;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;

/**
 * The native boundary: the one class that calls {@link LibC}, checks every return value and turns {@code -1} plus
 * errno into a {@link NativeException} naming the call. Constants are Linux's (identical on x86_64 and aarch64);
 * {@link #checkPlatform()} refuses anything else up front rather than fail later with a wrong struct layout.
 *
 * <p>Descriptor ownership is by convention, stated at each method: a method that returns a descriptor hands its
 * ownership to the caller, who must close it exactly once.
 */
public final class Native {
    // <sys/socket.h>, <netinet/in.h>
    public static final int AF_UNIX = 1;
    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_SEQPACKET = 5;
    public static final int SOCK_NONBLOCK = 0x800;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final int SOL_SOCKET = 1;
    public static final int SO_REUSEADDR = 2;
    public static final int SO_SNDBUF = 7;
    public static final int SO_ATTACH_FILTER = 26;
    public static final int SCM_RIGHTS = 1;
    public static final int MSG_CTRUNC = 0x08;
    public static final int MSG_TRUNC = 0x20;
    public static final int MSG_DONTWAIT = 0x40;
    public static final int MSG_NOSIGNAL = 0x4000;
    /** Not in jnr-constants 0.11.2: received descriptors get O_CLOEXEC atomically. */
    public static final int MSG_CMSG_CLOEXEC = 0x40000000;
    public static final int SHUT_RDWR = 2;
    // <poll.h>
    public static final short POLLIN = 0x1;
    public static final short POLLOUT = 0x4;
    public static final short POLLERR = 0x8;
    public static final short POLLHUP = 0x10;
    public static final short POLLNVAL = 0x20;
    // <fcntl.h>, <sys/eventfd.h>
    public static final int F_GETFD = 1;
    public static final int F_SETFD = 2;
    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;
    public static final int F_DUPFD_CLOEXEC = 1030;
    public static final int FD_CLOEXEC = 1;
    public static final int O_NONBLOCK = 0x800;
    public static final int EFD_NONBLOCK = 0x800;
    public static final int EFD_CLOEXEC = 0x80000;
    // <errno.h>
    public static final int EINTR = 4;
    public static final int ESRCH = 3;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENFILE = 23;
    public static final int EMFILE = 24;
    public static final int EPIPE = 32;
    public static final int EADDRINUSE = 98;
    public static final int EADDRNOTAVAIL = 99;
    public static final int ECONNABORTED = 103;
    public static final int ECONNRESET = 104;
    public static final int EACCES = 13;
    // <signal.h>
    public static final int SIGINT = 2;
    public static final int SIGKILL = 9;
    public static final int SIGTERM = 15;
    public static final int SIGQUIT = 3;
    public static final int SIGCONT = 18;
    public static final int SIGSTOP = 19;

    /** Room for either socket address structure: {@code sizeof(struct sockaddr_in6)}. */
    public static final int SOCKADDR_BYTES = 28;

    /**
     * The libc binding. Public, like {@link #errno()}, {@link #check} and {@link #allocate}, only for the supervisor's
     * half of the native boundary ({@code io.prefork.supervisor.internal.nativeio}: listener, poll, eventfd, signals),
     * which lives in the supervisor module so that none of it reaches a worker; nothing else calls libc.
     */
    public static final LibC LIBC;
    static final jnr.ffi.Runtime RUNTIME;

    static {
        LIBC = LibraryLoader.create(LibC.class).load("c");
        RUNTIME = jnr.ffi.Runtime.getRuntime(LIBC);
    }

    private Native() {
    }

    /**
     * Fails unless this is 64-bit Linux, the only platform whose struct layouts ({@code msghdr}, {@code cmsghdr},
     * {@code sockaddr_in6}) and constants this class encodes.
     */
    public static void checkPlatform() {
        Platform p = Platform.getNativePlatform();
        if (p.getOS() != Platform.OS.LINUX || RUNTIME.addressSize() != 8) {
            throw new UnsupportedOperationException("Prefork needs 64-bit Linux (descriptor passing over SOCK_SEQPACKET "
                    + "with Linux struct layouts); this is " + p.getOS() + " with " + (8 * RUNTIME.addressSize())
                    + "-bit addresses");
        }
    }

    /** errno of this thread's last libc call through {@link #LIBC}. */
    public static int errno() {
        return RUNTIME.getLastError();
    }

    /** {@code rc}, or a {@link NativeException} naming {@code call} and errno when {@code rc} is negative. */
    public static int check(int rc, String call) throws NativeException {
        if (rc < 0) {
            throw new NativeException(call, errno());
        }
        return rc;
    }

    /** Native memory that lives as long as the returned pointer is reachable. */
    public static Pointer allocate(int bytes) {
        return Memory.allocateDirect(RUNTIME, bytes, true);
    }

    /** A direct buffer's native address; the buffer must stay reachable while the address is in use. */
    static long address(ByteBuffer direct) {
        if (!direct.isDirect()) {
            // A heap buffer's "address" would be a temporary copy: sendmsg would see EFAULT or stale bytes.
            throw new IllegalArgumentException("only direct buffers have a stable native address");
        }
        return Pointer.wrap(RUNTIME, direct).address();
    }

    /** A direct buffer of {@code bytes} in the platform's byte order, for native structs. */
    static ByteBuffer nativeBuffer(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
    }

    /**
     * An AF_UNIX SOCK_SEQPACKET socketpair, both ends close-on-exec. SEQPACKET because STREAM loses message
     * boundaries (a descriptor can arrive attached to a read that starts inside the previous message).
     *
     * @return two descriptors, owned by the caller
     */
    public static int[] seqpacketPair() throws NativeException {
        int[] sv = new int[2];
        check(LIBC.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "socketpair(AF_UNIX, SOCK_SEQPACKET)");
        return sv;
    }

    /**
     * Closes a descriptor. On Linux the descriptor is released even when close reports EINTR, so it is never retried
     * (a retry could close a number another thread has just been given).
     */
    public static void close(int fd) throws NativeException {
        if (LIBC.close(fd) < 0) {
            int e = errno();
            if (e != EINTR) {
                throw new NativeException("close(fd=" + fd + ")", e);
            }
        }
    }

    /** Closes a descriptor on a path where a failure has nothing left to tell (cleanup after another error). */
    public static void closeQuietly(int fd) {
        if (fd >= 0) {
            LIBC.close(fd);
        }
    }

    /**
     * Takes a descriptor slot as a reservation (the worker runtime's descriptor sentinel: closed just before each
     * recvmsg, so that a descriptor arriving then finds a free slot), by duplicating {@code existingFd}.
     *
     * @return the descriptor, owned by the caller, or -1 if the descriptor table is full (EMFILE/ENFILE)
     */
    public static int reserveDescriptor(int existingFd) throws NativeException {
        // A dup of a descriptor we already hold: one cheap syscall, no path lookup, no string to convert
        // (open("/dev/null") costs about 3.5 us and allocates in jnr; this about 0.7 us and nothing).
        int fd = LIBC.fcntl(existingFd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0) {
            int e = errno();
            if (e == EMFILE || e == ENFILE) {
                return -1;
            }
            throw new NativeException("fcntl(fd=" + existingFd + ", F_DUPFD_CLOEXEC)", e);
        }
        return fd;
    }

    /** Puts a descriptor in blocking or non-blocking mode, with no system call when it already is. */
    public static void setBlocking(int fd, boolean blocking) throws NativeException {
        // On the hot path (every wrapped connection): the error text is built only on failure.
        int flags = LIBC.fcntl(fd, F_GETFL, 0);
        if (flags < 0) {
            throw new NativeException("fcntl(fd=" + fd + ", F_GETFL)", errno());
        }
        int wanted = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
        if (wanted != flags && LIBC.fcntl(fd, F_SETFL, wanted) < 0) {
            throw new NativeException("fcntl(fd=" + fd + ", F_SETFL)", errno());
        }
    }

    // sockaddr_in:  u16 family @0 (host order) | u16 port @2 (network order) | 4 address bytes @4 | 8 zero bytes
    // sockaddr_in6: u16 family @0 | u16 port @2 | u32 flowinfo @4 | 16 address bytes @8 | u32 scope id @24

    /**
     * Writes {@code a} as a {@code sockaddr_in} or {@code sockaddr_in6} into {@code sa} ({@link #SOCKADDR_BYTES}).
     *
     * @return the structure's length, for bind/connect
     */
    public static int putSockaddr(InetSocketAddress a, Pointer sa) {
        byte[] ip = a.getAddress().getAddress();
        sa.setMemory(0, SOCKADDR_BYTES, (byte) 0);
        sa.putShort(0, (short) (ip.length == 4 ? AF_INET : AF_INET6));
        sa.putByte(2, (byte) (a.getPort() >>> 8));
        sa.putByte(3, (byte) a.getPort());
        if (ip.length == 4) {
            sa.put(4, ip, 0, 4);
            return 16;
        }
        sa.put(8, ip, 0, 16);
        return SOCKADDR_BYTES;
    }

    /** Reads a {@code sockaddr_in} or {@code sockaddr_in6} that the kernel wrote (getsockname, accept4). */
    public static InetSocketAddress sockaddr(Pointer sa) {
        boolean v4 = sa.getShort(0) == AF_INET;
        byte[] ip = new byte[v4 ? 4 : 16];
        sa.get(v4 ? 4 : 8, ip, 0, ip.length);
        int port = (sa.getByte(2) & 0xFF) << 8 | (sa.getByte(3) & 0xFF);
        try {
            return new InetSocketAddress(InetAddress.getByAddress(ip), port);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // only for a wrong length, which cannot happen here
        }
    }

    /** Sets close-on-exec on a descriptor that a library created without it. */
    public static void setCloseOnExec(int fd) throws NativeException {
        check(LIBC.fcntl(fd, F_SETFD, FD_CLOEXEC), "fcntl(fd=" + fd + ", F_SETFD, FD_CLOEXEC)");
    }

    public static boolean isBlocking(int fd) throws NativeException {
        return (check(LIBC.fcntl(fd, F_GETFL, 0), "fcntl(fd=" + fd + ", F_GETFL)") & O_NONBLOCK) == 0;
    }

    public static boolean isCloseOnExec(int fd) throws NativeException {
        return (check(LIBC.fcntl(fd, F_GETFD, 0), "fcntl(fd=" + fd + ", F_GETFD)") & FD_CLOEXEC) != 0;
    }

    public static void shutdown(int fd) {
        LIBC.shutdown(fd, SHUT_RDWR);
    }

    /** Sends a signal; false if the process no longer exists. */
    public static boolean kill(long pid, int signal) throws NativeException {
        if (LIBC.kill((int) pid, signal) < 0) {
            int e = errno();
            if (e == ESRCH) {
                return false;
            }
            throw new NativeException("kill(pid=" + pid + ", sig=" + signal + ")", e);
        }
        return true;
    }

    /**
     * Makes this process ignore {@code signal} ({@code signal(2)} with SIG_IGN: what {@code sun.misc.Signal}'s
     * SIG_IGN does too, without reaching into the JDK).
     */
    public static void ignoreSignal(int signal) throws NativeException {
        if (LIBC.signal(signal, 1 /* SIG_IGN */) == -1L /* SIG_ERR */) {
            throw new NativeException("signal(" + signal + ", SIG_IGN)", errno());
        }
    }

    public static int uid() {
        return LIBC.getuid();
    }

    /** Sets an int socket option. */
    public static void setIntOption(int fd, int level, int option, int value, String name) throws NativeException {
        Pointer v = allocate(4);
        v.putInt(0, value);
        check(LIBC.setsockopt(fd, level, option, v, 4), "setsockopt(fd=" + fd + ", " + name + ")");
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
            n = LIBC.sendmsg(socketFd, m.msg, MSG_NOSIGNAL);
        } while (n < 0 && errno() == EINTR);
        if (n < 0) {
            throw new NativeException("sendmsg(fd=" + socketFd + ", SCM_RIGHTS)", errno());
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
            n = LIBC.recvmsg(socketFd, m.msg, MSG_CMSG_CLOEXEC);
        } while (n < 0 && errno() == EINTR);
        if (n < 0) {
            throw new NativeException("recvmsg(fd=" + socketFd + ")", errno());
        }
        int[] fds = new int[1];
        int count = m.collectDescriptors(fds);
        data.get(0, buffer, 0, (int) n);
        return new int[] {(int) n, count > 0 ? fds[0] : -1};
    }

}
