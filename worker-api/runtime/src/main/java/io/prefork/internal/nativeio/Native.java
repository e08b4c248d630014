package io.prefork.internal.nativeio;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * The native boundary: the one class that calls {@link LibC}, checks every return value and turns {@code -1} plus
 * errno into a {@link NativeException} naming the call. Constants are Linux's (identical on x86_64 and aarch64);
 * {@link #checkPlatform()} refuses anything else up front rather than fail later with a wrong struct layout.
 *
 * <p>Two halves: this class binds the whole {@link LibC} with jnr-ffi when it is initialised, for the supervisor;
 * what a worker calls lives in {@link Syscalls} (FFM on JDK 22+, else a small jnr-ffi binding), and the methods here
 * of the same names delegate to it. Worker code must not call this class's methods (its constants are compile-time
 * constants and cost nothing): initialising it would bind jnr-ffi, the cost {@link Syscalls} exists to avoid.
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

    /** See {@link Syscalls#checkPlatform()}. */
    public static void checkPlatform() {
        Syscalls.checkPlatform();
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

    // The descriptor helpers below are shared with workers and live in Syscalls, over FFM on JDK 22+ or jnr-ffi,
    // so that a worker never initialises this class (which binds the whole LibC with jnr-ffi). These delegates keep
    // the supervisor's calls as they were.

    /** See {@link Syscalls#seqpacketPair()}. */
    public static int[] seqpacketPair() throws NativeException {
        return Syscalls.seqpacketPair();
    }

    /** See {@link Syscalls#close(int)}. */
    public static void close(int fd) throws NativeException {
        Syscalls.close(fd);
    }

    /** See {@link Syscalls#closeQuietly(int)}. */
    public static void closeQuietly(int fd) {
        Syscalls.closeQuietly(fd);
    }

    /** See {@link Syscalls#reserveDescriptor(int)}. */
    public static int reserveDescriptor(int existingFd) throws NativeException {
        return Syscalls.reserveDescriptor(existingFd);
    }

    /** See {@link Syscalls#setBlocking(int, boolean)}. */
    public static void setBlocking(int fd, boolean blocking) throws NativeException {
        Syscalls.setBlocking(fd, blocking);
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

    /** See {@link Syscalls#setCloseOnExec(int)}. */
    public static void setCloseOnExec(int fd) throws NativeException {
        Syscalls.setCloseOnExec(fd);
    }

    public static boolean isBlocking(int fd) throws NativeException {
        return Syscalls.isBlocking(fd);
    }

    public static boolean isCloseOnExec(int fd) throws NativeException {
        return Syscalls.isCloseOnExec(fd);
    }

    public static void shutdown(int fd) {
        Syscalls.shutdown(fd);
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

    /** See {@link Syscalls#ignoreSignal(int)}. */
    public static void ignoreSignal(int signal) throws NativeException {
        Syscalls.ignoreSignal(signal);
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

    /** See {@link Syscalls#sendWithDescriptor(int, byte[], int)}. */
    public static void sendWithDescriptor(int socketFd, byte[] payload, int passFd) throws NativeException {
        Syscalls.sendWithDescriptor(socketFd, payload, passFd);
    }

    /** See {@link Syscalls#receiveWithDescriptor(int, byte[])}. */
    public static int[] receiveWithDescriptor(int socketFd, byte[] buffer) throws NativeException {
        return Syscalls.receiveWithDescriptor(socketFd, buffer);
    }
}
