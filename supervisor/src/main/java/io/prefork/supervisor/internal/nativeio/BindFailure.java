package io.prefork.supervisor.internal.nativeio;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.IOException;
import java.util.Locale;

/**
 * Why a bind failed, in the one place that decides it. The supervisor binds in two ways: {@link TcpListener} calls
 * bind itself and gets errno (a {@link NativeException}); the admin endpoint is the JDK's HTTP server, whose
 * {@code BindException} carries only the text of errno ({@code strerror}, e.g. "Address already in use"). Both are
 * mapped here, the JDK's by comparing its message with the texts of the same errno values, so the two cannot
 * disagree.
 */
public enum BindFailure {
    /** EADDRINUSE: another socket holds the address and port. */
    IN_USE(Native.EADDRINUSE),
    /** EADDRNOTAVAIL: the address is not one of this machine's. */
    NOT_LOCAL(Native.EADDRNOTAVAIL),
    /** EACCES: a port below 1024 without root or CAP_NET_BIND_SERVICE. */
    DENIED(Native.EACCES),
    /** Anything else: report the exception's own message. */
    OTHER(0);

    private final int errno;

    BindFailure(int errno) {
        this.errno = errno;
    }

    /** What a bind that failed with {@code errno} means. */
    public static BindFailure of(int errno) {
        for (BindFailure f : values()) {
            if (f.errno == errno && f != OTHER) {
                return f;
            }
        }
        return OTHER;
    }

    /** What a failed bind means: by errno for ours, by errno's text for the JDK's. */
    public static BindFailure of(IOException e) {
        if (e instanceof NativeException) {
            return of(((NativeException) e).errno());
        }
        String message = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
        for (BindFailure f : values()) {
            if (f != OTHER && message.contains(NativeException.text(f.errno).toLowerCase(Locale.ROOT))) {
                return f;
            }
        }
        return OTHER;
    }
}
