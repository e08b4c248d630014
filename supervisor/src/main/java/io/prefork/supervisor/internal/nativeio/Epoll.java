package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.Closeable;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
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
 * <pre>struct epoll_event { uint32_t events @0; uint64_t data @4; }   12 bytes, packed on x86-64 (16, aligned, elsewhere)</pre>
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
    private static final int EVENT_BYTES = Platform.getNativePlatform().getCPU() == Platform.CPU.X86_64 ? 12 : 16;
    private static final int DATA_OFFSET = EVENT_BYTES == 12 ? 4 : 8;

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
        this.events = Native.allocate(EVENT_BYTES * maxEvents);
    }

    public int fd() {
        return epfd;
    }

    /** Watches {@code fd} for {@code events} ({@link #EPOLLIN}, {@link #EPOLLRDHUP}). */
    public void add(int fd, int events) throws NativeException {
        ctlEvent.putInt(0, events);
        ctlEvent.putLong(DATA_OFFSET, fd);
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
        return (int) events.getLong((long) EVENT_BYTES * i + DATA_OFFSET);
    }

    public int readyEvents(int i) {
        return events.getInt((long) EVENT_BYTES * i);
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
