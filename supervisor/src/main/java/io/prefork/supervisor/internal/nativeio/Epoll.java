package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.Closeable;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;

/**
 * An epoll instance watching many sockets for readability, for the parked keep-alive connections: tens of thousands
 * of them must cost nothing per loop iteration, which a {@link Poller} set rebuilt every iteration could not give.
 * Only its own descriptor goes into the loop's poll set; a readable epoll descriptor means one of its sockets is
 * ready, and {@link #poll} with timeout 0 says which. Level-triggered, with each socket's descriptor number as the
 * event's data.
 *
 * <p>Owns its epoll descriptor (close-on-exec), not the sockets it watches. A socket closed while registered leaves
 * the set by itself (the supervisor holds the only copy of a parked connection's descriptor), so closing one needs
 * no {@link #remove} first; a socket handed on must be removed, or its readiness would keep firing here.
 *
 * <p>{@code struct epoll_event} has two layouts ({@link Layout}): glibc and the kernel declare it packed on x86 only
 * ({@code __EPOLL_PACKED}, for compatibility with 32-bit x86), so the 64-bit data follows the events at offset 4;
 * every other 64-bit architecture (aarch64, riscv64, ppc64le, s390x) aligns it to 8, with 4 bytes of padding. Reading
 * one layout with the other's offsets would take each event's data from the wrong bytes: sockets never reported, or
 * reported as other numbers.
 */
public final class Epoll implements Closeable {
    /** The three epoll calls; the runtime's {@code LibC} is shared with workers, which never need these. */
    public interface EpollLib {
        int epoll_create1(int flags);

        int epoll_ctl(int epfd, int op, int fd, Pointer event);

        int epoll_wait(int epfd, Pointer events, int maxEvents, int timeoutMs);
    }

    private static final EpollLib LIB = LibraryLoader.create(EpollLib.class).load("c");
    private static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(LIB);
    /** This machine's layout, from {@code os.arch} (what the JVM itself runs as). */
    static final Layout LAYOUT = Layout.forArch(System.getProperty("os.arch"));

    /**
     * The layout of {@code struct epoll_event} in an array.
     *
     * <pre>
     *   x86 (packed):     | events u32 @0 | data u64 @4 |                     12 bytes
     *   elsewhere:        | events u32 @0 | padding @4  | data u64 @8 |       16 bytes
     * </pre>
     */
    record Layout(int bytes, int dataOffset) {
        static final Layout PACKED = new Layout(12, 4);
        static final Layout ALIGNED = new Layout(16, 8);

        /** For {@code os.arch}: packed on x86 (amd64, x86_64, and 32-bit x86), aligned on every other one. */
        static Layout forArch(String osArch) {
            return switch (osArch) {
                case "amd64", "x86_64", "x86", "i386", "i486", "i586", "i686" -> PACKED;
                default -> ALIGNED;
            };
        }

        void put(Pointer array, int index, int events, long data) {
            array.putInt((long) bytes * index, events);
            array.putLong((long) bytes * index + dataOffset, data);
        }

        int events(Pointer array, int index) {
            return array.getInt((long) bytes * index);
        }

        long data(Pointer array, int index) {
            return array.getLong((long) bytes * index + dataOffset);
        }
    }

    public static final int EPOLLIN = 0x001;
    public static final int EPOLLERR = 0x008;
    public static final int EPOLLHUP = 0x010;
    public static final int EPOLLRDHUP = 0x2000;
    private static final int EPOLL_CLOEXEC = 0x80000;
    private static final int EPOLL_CTL_ADD = 1;
    private static final int EPOLL_CTL_DEL = 2;

    private final int epfd;
    private final int maxEvents;
    private final Pointer events;
    private final Pointer ctlEvent = Native.allocate(16);
    private boolean closed;

    /** @param maxEvents the most ready sockets one {@link #poll} reports (the rest are reported by the next) */
    public Epoll(int maxEvents) throws NativeException {
        this.epfd = check(LIB.epoll_create1(EPOLL_CLOEXEC), "epoll_create1(EPOLL_CLOEXEC)");
        this.maxEvents = maxEvents;
        this.events = Native.allocate(LAYOUT.bytes() * maxEvents);
    }

    public int fd() {
        return epfd;
    }

    /** Watches {@code fd} for {@code events} ({@link #EPOLLIN}, {@link #EPOLLRDHUP}). */
    public void add(int fd, int events) throws NativeException {
        LAYOUT.put(ctlEvent, 0, events, fd);
        check(LIB.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ctlEvent), "epoll_ctl(EPOLL_CTL_ADD, fd=" + fd + ")");
    }

    /** Stops watching {@code fd}, which stays open. */
    public void remove(int fd) throws NativeException {
        check(LIB.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, ctlEvent), "epoll_ctl(EPOLL_CTL_DEL, fd=" + fd + ")");
    }

    /**
     * Collects ready sockets.
     *
     * @param timeoutMs 0 to only look, -1 to wait without limit
     * @return how many are ready ({@link #readyFd}, {@link #readyEvents}); 0 when interrupted by a signal
     */
    public int poll(int timeoutMs) throws NativeException {
        int n = LIB.epoll_wait(epfd, events, maxEvents, timeoutMs);
        if (n < 0) {
            int e = RUNTIME.getLastError();
            if (e == Native.EINTR) {
                return 0;
            }
            throw new NativeException("epoll_wait(epfd=" + epfd + ")", e);
        }
        return n;
    }

    public int readyFd(int i) {
        return (int) LAYOUT.data(events, i);
    }

    public int readyEvents(int i) {
        return LAYOUT.events(events, i);
    }

    /** {@link #peek} results. */
    public static final int PEEK_DATA = 1;
    public static final int PEEK_CLOSED = 0;
    public static final int PEEK_NOTHING = -1;
    private static final int MSG_PEEK = 0x2;
    private final Pointer peekByte = Native.allocate(1);

    /**
     * Looks whether a readable socket has bytes or was closed by its peer, without taking any bytes.
     *
     * @return {@link #PEEK_DATA}, {@link #PEEK_CLOSED} (end of stream, reset or another error: nothing will be read
     *     from it) or {@link #PEEK_NOTHING} (not readable after all)
     */
    public int peek(int fd) {
        while (true) {
            long n = Native.LIBC.recv(fd, peekByte, 1, MSG_PEEK | Native.MSG_DONTWAIT);
            if (n > 0) {
                return PEEK_DATA;
            }
            if (n == 0) {
                return PEEK_CLOSED;
            }
            int e = Native.errno();
            if (e == Native.EAGAIN) {
                return PEEK_NOTHING;
            }
            if (e != Native.EINTR) {
                return PEEK_CLOSED;
            }
        }
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Native.closeQuietly(epfd);
        }
    }

    private static int check(int rc, String call) throws NativeException {
        if (rc < 0) {
            throw new NativeException(call, RUNTIME.getLastError());
        }
        return rc;
    }
}
