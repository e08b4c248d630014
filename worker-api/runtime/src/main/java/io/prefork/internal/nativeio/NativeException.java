package io.prefork.internal.nativeio;

import java.io.IOException;
import jnr.constants.platform.Errno;

/**
 * A failed system call: {@code -1} plus errno, turned into an exception that names the call, its subject and the
 * errno in words, e.g. {@code sendmsg(fd=12) failed: EPIPE (Broken pipe)}. The only place errno becomes an
 * exception; callers test {@link #errno()} against the constants in {@link Native} rather than parse the message.
 */
public final class NativeException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;

    public NativeException(String call, int errno) {
        super(call + " failed: " + describe(errno));
        this.call = call;
        this.errno = errno;
    }

    /** The call and its subject, e.g. {@code bind(127.0.0.1:8080)}. */
    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }

    /**
     * The text of an errno value as {@code strerror} gives it (and so as the JDK's own exceptions carry it), e.g.
     * "Address already in use"; {@code "errno N"} if the platform table does not know it.
     */
    public static String text(int errno) {
        Errno e = Errno.valueOf(errno);
        return e == null || e == Errno.__UNKNOWN_CONSTANT__ ? "errno " + errno : e.description();
    }

    /** {@code ENAME (text)} for an errno value, or the number if the platform table does not know it. */
    public static String describe(int errno) {
        Errno e = Errno.valueOf(errno);
        if (e == null || e == Errno.__UNKNOWN_CONSTANT__) {
            return "errno " + errno;
        }
        return e.name() + " (" + e.description() + ")";
    }
}
