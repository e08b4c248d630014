package io.prefork.internal.nativeio;

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
 * method handles and loads no jnr class. Lives in {@code META-INF/versions/22} of the runtime jar; a JDK 17-21 never
 * sees it, and {@link Syscalls} loads it by name only on 22+.
 *
 * <p><b>One shape for all calls.</b> The JDK links a downcall per distinct {@link FunctionDescriptor}: a native stub
 * and a class spun by its binding specializer, then a few dozen lambda forms to adapt it, about 10 ms each on a
 * worker's cold JVM. A dozen signatures cost 150 ms of a 350 ms boot (bench/README.md, "Worker start-up"). So every
 * call but fcntl goes through one handle of the shape {@code long f(long, long, long, long, long)} with the function's
 * address as its first argument: linked once (about 50 ms, most of it the FFM machinery's own first use). That is
 * sound for these functions on the 64-bit Linux ABIs this runtime supports (x86_64 System V, AAPCS64; see
 * {@link Syscalls#checkPlatform()}): integer and pointer arguments travel in 64-bit registers, a callee that takes
 * an {@code int} reads the low half of its register, and arguments beyond a callee's own (here zeros) are in
 * registers it never reads, the caller cleaning up; a function that returns an {@code int} leaves the upper half of
 * the result register undefined, so those results are cut back to {@code int} here, never used as longs. The
 * exception is {@code fcntl}, variadic in C, which is linked as such on its own, on first use (after READY: the
 * boot never calls it).
 *
 * <p>errno: the handles are linked with {@code captureCallState("errno")}, so the JDK copies errno into a small
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

    /** {@code (function, state, a, b, c, d, e) -> long}: every call but fcntl (see the class comment). */
    private static final MethodHandle CALL = LINKER.downcallHandle(
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            Linker.Option.captureCallState("errno"));

    private static final MemorySegment SOCKET = find("socket");
    private static final MemorySegment SOCKETPAIR = find("socketpair");
    private static final MemorySegment CONNECT = find("connect");
    private static final MemorySegment SETSOCKOPT = find("setsockopt");
    private static final MemorySegment SEND = find("send");
    private static final MemorySegment SENDMSG = find("sendmsg");
    private static final MemorySegment RECVMSG = find("recvmsg");
    private static final MemorySegment CLOSE = find("close");
    private static final MemorySegment SHUTDOWN = find("shutdown");
    private static final MemorySegment POLL = find("poll");
    private static final MemorySegment GETSOCKNAME = find("getsockname");
    private static final MemorySegment SIGNAL = find("signal");

    /** fcntl, variadic in C: linked as such, in a holder class so that the first call links it, not the boot. */
    private static final class Fcntl {
        // With an int third argument the x86_64 and aarch64 Linux ABIs pass it like a fixed one; the option says so
        // to the linker (on x86_64 it sets %al, the count of vector registers a variadic callee reads).
        static final MethodHandle HANDLE = LINKER.downcallHandle(find("fcntl"),
                FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT),
                Linker.Option.firstVariadicArg(2), Linker.Option.captureCallState("errno"));
    }

    private static MemorySegment find(String name) {
        return LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name + " (FFM default lookup)"));
    }

    /** Calls {@code function} through {@link #CALL}: its result, or minus errno when it is negative. */
    private static long call(MemorySegment function, String name, long a, long b, long c, long d, long e) {
        MemorySegment s = STATE.get();
        long rc;
        try {
            rc = (long) CALL.invokeExact(function, s, a, b, c, d, e);
        } catch (Throwable t) {
            throw unexpected(name, t);
        }
        return rc < 0 ? -errno(s) : rc;
    }

    /** The same for a C function that returns an {@code int}: only the low half of the register is its result. */
    private static int callInt(MemorySegment function, String name, long a, long b, long c, long d, long e) {
        MemorySegment s = STATE.get();
        int rc;
        try {
            rc = (int) (long) CALL.invokeExact(function, s, a, b, c, d, e);
        } catch (Throwable t) {
            throw unexpected(name, t);
        }
        return rc < 0 ? -errno(s) : rc;
    }

    private static int errno(MemorySegment state) {
        return state.get(JAVA_INT, ERRNO_OFFSET);
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
        return callInt(SOCKET, "socket", domain, type, protocol, 0, 0);
    }

    @Override
    public int socketpair(int domain, int type, int protocol, long sv) {
        return callInt(SOCKETPAIR, "socketpair", domain, type, protocol, sv, 0);
    }

    @Override
    public int connect(int fd, long addr, int addrlen) {
        return callInt(CONNECT, "connect", fd, addr, addrlen, 0, 0);
    }

    @Override
    public int setsockopt(int fd, int level, int optname, long optval, int optlen) {
        return callInt(SETSOCKOPT, "setsockopt", fd, level, optname, optval, optlen);
    }

    @Override
    public long send(int fd, long buf, long len, int flags) {
        return call(SEND, "send", fd, buf, len, flags, 0);
    }

    @Override
    public long sendmsg(int fd, long msg, int flags) {
        return call(SENDMSG, "sendmsg", fd, msg, flags, 0, 0);
    }

    @Override
    public long recvmsg(int fd, long msg, int flags) {
        return call(RECVMSG, "recvmsg", fd, msg, flags, 0, 0);
    }

    @Override
    public int close(int fd) {
        return callInt(CLOSE, "close", fd, 0, 0, 0, 0);
    }

    @Override
    public int shutdown(int fd, int how) {
        return callInt(SHUTDOWN, "shutdown", fd, how, 0, 0, 0);
    }

    @Override
    public int poll(long fds, long nfds, int timeoutMs) {
        return callInt(POLL, "poll", fds, nfds, timeoutMs, 0, 0);
    }

    @Override
    public int getsockname(int fd, long addr, long addrlen) {
        return callInt(GETSOCKNAME, "getsockname", fd, addr, addrlen, 0, 0);
    }

    @Override
    public int fcntl(int fd, int cmd, int arg) {
        MemorySegment s = STATE.get();
        int rc;
        try {
            rc = (int) Fcntl.HANDLE.invokeExact(s, fd, cmd, arg);
        } catch (Throwable t) {
            throw unexpected("fcntl", t);
        }
        return rc < 0 ? -errno(s) : rc;
    }

    @Override
    public int ignoreSignal(int sig) {
        MemorySegment s = STATE.get();
        long previous;
        try {
            previous = (long) CALL.invokeExact(SIGNAL, s, (long) sig, 1L /* SIG_IGN */, 0L, 0L, 0L);
        } catch (Throwable t) {
            throw unexpected("signal", t);
        }
        return previous == -1L /* SIG_ERR */ ? -errno(s) : 0;
    }
}
