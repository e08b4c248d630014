package io.prefork.internal.nativeio;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;

/**
 * {@link SyscallBackend} with the JDK's foreign function API (final in JDK 22): a worker on JDK 22+ binds libc with
 * a dozen method handles and loads no jnr class. Lives in {@code META-INF/versions/22} of the runtime jar; a JDK
 * 17-21 never sees it, and {@link Syscalls} loads it by name only on 22+.
 *
 * <p>errno: every handle is linked with {@code captureCallState("errno")}, so the JDK copies errno into a small
 * segment right after the call, before any JVM code could overwrite it (reading errno with a second downcall would
 * be unreliable). The segment is per thread: calls on different threads run at the same time.
 *
 * <p>Linking a downcall is a restricted method: without {@code --enable-native-access=ALL-UNNAMED} (which the
 * supervisor gives every worker, and its own jar's manifest gives it) JDK 22-25 print a warning, and a later JDK
 * may refuse.
 */
@SuppressWarnings("restricted") // the point of this class; see above for the JVM flag that allows it
final class FfmBackend implements SyscallBackend {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final long ERRNO_OFFSET = CAPTURE.byteOffset(MemoryLayout.PathElement.groupElement("errno"));
    /** The captured-errno segment of each thread; freed with the thread (an automatic arena per segment). */
    private static final ThreadLocal<MemorySegment> STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(CAPTURE));

    private static final MethodHandle SOCKET = link("socket", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle SOCKETPAIR = link("socketpair", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    private static final MethodHandle CONNECT = link("connect", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle SETSOCKOPT =
            link("setsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle SEND = link("send", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle SENDMSG = link("sendmsg", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle RECVMSG = link("recvmsg", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle CLOSE = link("close", JAVA_INT, JAVA_INT);
    private static final MethodHandle SHUTDOWN = link("shutdown", JAVA_INT, JAVA_INT, JAVA_INT);
    private static final MethodHandle POLL = link("poll", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle GETSOCKNAME = link("getsockname", JAVA_INT, JAVA_INT, ADDRESS, ADDRESS);
    // fcntl is variadic in C; with an int third argument the x86_64 and aarch64 Linux ABIs pass it like a fixed one.
    private static final MethodHandle FCNTL = LINKER.downcallHandle(find("fcntl"),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
            Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
    private static final MethodHandle SIGNAL = link("signal", ADDRESS, JAVA_INT, ADDRESS);

    private static MemorySegment find(String name) {
        return LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name + " (FFM default lookup)"));
    }

    private static MethodHandle link(String name, MemoryLayout result, MemoryLayout... args) {
        return LINKER.downcallHandle(find(name), FunctionDescriptor.of(result, args),
                Linker.Option.captureCallState("errno"));
    }

    private static int errno(MemorySegment state) {
        return state.get(JAVA_INT, ERRNO_OFFSET);
    }

    private static int rc(int rc, MemorySegment state) {
        return rc < 0 ? -errno(state) : rc;
    }

    private static long rc(long rc, MemorySegment state) {
        return rc < 0 ? -errno(state) : rc;
    }

    /**
     * What a downcall threw: errors (out of memory, a stack overflow) as they are; anything else means the handle does
     * not match its signature, a bug here rather than an OS condition (those come back as minus errno).
     */
    private static RuntimeException unexpected(String call, Throwable t) {
        if (t instanceof Error e) {
            throw e;
        }
        if (t instanceof RuntimeException r) {
            return r;
        }
        return new IllegalStateException("FFM downcall " + call + " failed to run: " + t, t);
    }

    @Override
    public String name() {
        return "ffm";
    }

    @Override
    public long address(ByteBuffer direct) {
        return MemorySegment.ofBuffer(direct).address();
    }

    @Override
    public int socket(int domain, int type, int protocol) {
        MemorySegment s = STATE.get();
        try {
            return rc((int) SOCKET.invokeExact(s, domain, type, protocol), s);
        } catch (Throwable t) {
            throw unexpected("socket", t);
        }
    }

    @Override
    public int socketpair(int domain, int type, int protocol, long sv) {
        MemorySegment s = STATE.get();
        try {
            return rc((int) SOCKETPAIR.invokeExact(s, domain, type, protocol, MemorySegment.ofAddress(sv)), s);
        } catch (Throwable t) {
            throw unexpected("socketpair", t);
        }
    }

    @Override
    public int connect(int fd, long addr, int addrlen) {
        MemorySegment s = STATE.get();
        try {
            return rc((int) CONNECT.invokeExact(s, fd, MemorySegment.ofAddress(addr), addrlen), s);
        } catch (Throwable t) {
            throw unexpected("connect", t);
        }
    }

    @Override
    public int setsockopt(int fd, int level, int optname, long optval, int optlen) {
        MemorySegment s = STATE.get();
        try {
            return rc((int) SETSOCKOPT.invokeExact(s, fd, level, optname, MemorySegment.ofAddress(optval), optlen), s);
        } catch (Throwable t) {
            throw unexpected("setsockopt", t);
        }
    }

    @Override
    public long send(int fd, long buf, long len, int flags) {
        MemorySegment s = STATE.get();
        try {
            return rc((long) SEND.invokeExact(s, fd, MemorySegment.ofAddress(buf), len, flags), s);
        } catch (Throwable t) {
            throw unexpected("send", t);
        }
    }

    @Override
    public long sendmsg(int fd, long msg, int flags) {
        MemorySegment s = STATE.get();
        try {
            return rc((long) SENDMSG.invokeExact(s, fd, MemorySegment.ofAddress(msg), flags), s);
        } catch (Throwable t) {
            throw unexpected("sendmsg", t);
        }
    }

    @Override
    public long recvmsg(int fd, long msg, int flags) {
        MemorySegment s = STATE.get();
        try {
            return rc((long) RECVMSG.invokeExact(s, fd, MemorySegment.ofAddress(msg), flags), s);
        } catch (Throwable t) {
            throw unexpected("recvmsg", t);
        }
    }

    @Override
    public int close(int fd) {
        MemorySegment s = STATE.get();
        try {
            return rc((int) CLOSE.invokeExact(s, fd), s);
        } catch (Throwable t) {
            throw unexpected("close", t);
        }
    }

    @Override
    public int shutdown(int fd, int how) {
        MemorySegment s = STATE.get();
        try {
            return rc((int) SHUTDOWN.invokeExact(s, fd, how), s);
        } catch (Throwable t) {
            throw unexpected("shutdown", t);
        }
    }

    @Override
    public int poll(long fds, long nfds, int timeoutMs) {
        MemorySegment s = STATE.get();
        try {
            return rc((int) POLL.invokeExact(s, MemorySegment.ofAddress(fds), nfds, timeoutMs), s);
        } catch (Throwable t) {
            throw unexpected("poll", t);
        }
    }

    @Override
    public int getsockname(int fd, long addr, long addrlen) {
        MemorySegment s = STATE.get();
        try {
            return rc((int) GETSOCKNAME.invokeExact(s, fd, MemorySegment.ofAddress(addr), MemorySegment.ofAddress(addrlen)),
                    s);
        } catch (Throwable t) {
            throw unexpected("getsockname", t);
        }
    }

    @Override
    public int fcntl(int fd, int cmd, int arg) {
        MemorySegment s = STATE.get();
        try {
            return rc((int) FCNTL.invokeExact(s, fd, cmd, arg), s);
        } catch (Throwable t) {
            throw unexpected("fcntl", t);
        }
    }

    @Override
    public int ignoreSignal(int sig) {
        MemorySegment s = STATE.get();
        try {
            MemorySegment previous = (MemorySegment) SIGNAL.invokeExact(s, sig, MemorySegment.ofAddress(1L /* SIG_IGN */));
            return previous.address() == -1L /* SIG_ERR */ ? -errno(s) : 0;
        } catch (Throwable t) {
            throw unexpected("signal", t);
        }
    }
}
