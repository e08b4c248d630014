package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.Closeable;
import jnr.ffi.Pointer;

/**
 * An eventfd that other threads {@link #signal()} to wake a thread blocked in {@link Poller#poll}. Signals coalesce:
 * many signals before a {@link #drain()} wake the poller once, which then handles everything queued for it.
 */
public final class Wakeup implements Closeable {
    private final int fd;
    private final Pointer one = Native.allocate(8);
    private final Pointer sink = Native.allocate(8);
    private volatile boolean closed;

    public Wakeup() throws NativeException {
        fd = Native.check(Native.LIBC.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC), "eventfd()");
        one.putLong(0, 1);
    }

    public int fd() {
        return fd;
    }

    /**
     * Wakes the poller. Thread-safe; never blocks (a full counter already means "wake"). Synchronized with
     * {@link #close()}: a write racing a close could otherwise land on whatever file reused the descriptor number.
     */
    public synchronized void signal() {
        if (!closed) {
            Native.LIBC.write(fd, one, 8);
        }
    }

    /** Resets the counter; called by the polling thread after it woke. */
    public void drain() {
        Native.LIBC.read(fd, sink, 8);
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Native.closeQuietly(fd);
        }
    }
}
