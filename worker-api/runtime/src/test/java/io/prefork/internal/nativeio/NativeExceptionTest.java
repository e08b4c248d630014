package io.prefork.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** errno in words, and the call named in every message. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class NativeExceptionTest {

    @Test
    void describeNamesTheErrno() {
        String eagain = NativeException.describe(11);
        assertTrue(eagain.startsWith("EAGAIN ("), eagain);
        assertTrue(eagain.length() > "EAGAIN ()".length(), "a description follows the name: " + eagain);
        assertTrue(NativeException.describe(Native.EPIPE).startsWith("EPIPE"));
        assertTrue(NativeException.describe(Native.EADDRINUSE).startsWith("EADDRINUSE"));
    }

    @Test
    void describeFallsBackToTheNumber() {
        assertEquals("errno 99999", NativeException.describe(99999));
    }

    @Test
    void messageNamesTheCallAndTheErrno() {
        NativeException e = new NativeException("sendmsg(fd=12)", Native.EPIPE);
        assertTrue(e.getMessage().startsWith("sendmsg(fd=12) failed: EPIPE"), e.getMessage());
        assertEquals("sendmsg(fd=12)", e.call());
        assertEquals(Native.EPIPE, e.errno());
    }

    @Test
    void realFailedCallsAreNamed() {
        NativeException close = assertThrows(NativeException.class, () -> Native.close(-1));
        assertEquals(Native.EBADF, close.errno());
        assertTrue(close.getMessage().contains("close(fd=-1)"), close.getMessage());
        assertTrue(close.getMessage().contains("EBADF"), close.getMessage());

        NativeException fcntl = assertThrows(NativeException.class, () -> Native.isBlocking(-1));
        assertEquals(Native.EBADF, fcntl.errno());
        assertTrue(fcntl.getMessage().contains("fcntl(fd=-1, F_GETFL)"), fcntl.getMessage());
    }
}
