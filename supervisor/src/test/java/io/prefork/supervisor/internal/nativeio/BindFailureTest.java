package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.prefork.internal.nativeio.Native;
import io.prefork.internal.nativeio.NativeException;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Both kinds of bind failure, ours (errno) and the JDK's (text only), map to the same reason. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class BindFailureTest {

    @Test
    void errnoValues() {
        assertEquals(BindFailure.IN_USE, BindFailure.of(Native.EADDRINUSE));
        assertEquals(BindFailure.NOT_LOCAL, BindFailure.of(Native.EADDRNOTAVAIL));
        assertEquals(BindFailure.DENIED, BindFailure.of(Native.EACCES));
        assertEquals(BindFailure.OTHER, BindFailure.of(Native.EPIPE));
        assertEquals(BindFailure.OTHER, BindFailure.of(0));
    }

    @Test
    void aPortInUseReadsTheSameFromTcpListenerAndFromTheJdk() throws IOException {
        try (TcpListener taken = TcpListener.open(new InetSocketAddress("127.0.0.1", 0), 4)) {
            NativeException ours = assertThrows(NativeException.class,
                    () -> TcpListener.open(taken.boundAddress(), 4).close());
            assertEquals(BindFailure.IN_USE, BindFailure.of(ours));
            BindException jdks = assertThrows(BindException.class, () -> {
                try (ServerSocket s = new ServerSocket()) {
                    s.bind(taken.boundAddress());
                }
            });
            assertEquals(BindFailure.IN_USE, BindFailure.of(jdks), jdks.getMessage());
        }
    }

    @Test
    void anAddressOfNoInterfaceReadsTheSameFromTcpListenerAndFromTheJdk() throws IOException {
        // 192.0.2.0/24 is TEST-NET-1: documentation only, never an address of this machine.
        InetSocketAddress foreign = new InetSocketAddress(InetAddress.getByName("192.0.2.1"), 0);
        NativeException ours = assertThrows(NativeException.class, () -> TcpListener.open(foreign, 4).close());
        assertEquals(BindFailure.NOT_LOCAL, BindFailure.of(ours));
        BindException jdks = assertThrows(BindException.class, () -> {
            try (ServerSocket s = new ServerSocket()) {
                s.bind(foreign);
            }
        });
        assertEquals(BindFailure.NOT_LOCAL, BindFailure.of(jdks), jdks.getMessage());
    }

    @Test
    void otherTextsAreOther() {
        assertEquals(BindFailure.OTHER, BindFailure.of(new IOException("something else")));
        assertEquals(BindFailure.OTHER, BindFailure.of(new IOException((String) null)));
    }
}
