package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import jnr.ffi.Pointer;

/**
 * A {@code poll(2)} set in native memory, rebuilt by its one owning thread before each wait. poll rather than epoll:
 * the set is small (the listener, a wakeup descriptor, one channel per worker) and rebuilt cheaply, and poll keeps
 * no kernel state that could outlive a closed descriptor.
 *
 * <pre>struct pollfd { int fd @0; short events @4; short revents @6; }   8 bytes</pre>
 */
public final class Poller {
    private Pointer fds;
    private int capacity;
    private int size;

    public Poller(int initialCapacity) {
        capacity = Math.max(4, initialCapacity);
        fds = Native.allocate(8 * capacity);
    }

    public void clear() {
        size = 0;
    }

    /** Adds a descriptor; returns its slot for {@link #readyOps}. */
    public int add(int fd, short events) {
        if (size == capacity) {
            Pointer bigger = Native.allocate(16 * capacity);
            for (int i = 0; i < size; i++) {
                bigger.putLong(8L * i, fds.getLong(8L * i));
            }
            fds = bigger;
            capacity *= 2;
        }
        fds.putInt(8L * size, fd);
        fds.putShort(8L * size + 4, events);
        fds.putShort(8L * size + 6, (short) 0);
        return size++;
    }

    /**
     * Waits until a descriptor is ready or the timeout passes.
     *
     * @param timeoutMs -1 for no timeout
     * @return the number of ready descriptors (0 on timeout or when interrupted by a signal)
     */
    public int poll(int timeoutMs) throws NativeException {
        int n = Native.LIBC.poll(fds, size, timeoutMs);
        if (n < 0) {
            int e = Native.errno();
            if (e == Native.EINTR) {
                return 0;
            }
            throw new NativeException("poll(" + size + " fds)", e);
        }
        return n;
    }

    /** The events that fired on a slot (POLLIN, POLLOUT, POLLHUP, POLLERR, POLLNVAL). */
    public short readyOps(int slot) {
        return fds.getShort(8L * slot + 6);
    }
}
