package io.prefork.supervisor.internal.systemd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** sd_listen_fds(3)'s reading of LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class SocketActivationTest {
    private static final long PID = 4242;

    @Test
    void noVariablesMeansNoSockets() {
        SocketActivation a = SocketActivation.fromEnvironment(Map.of(), PID);
        assertFalse(a.active());
        assertEquals(List.of(), a.fds());
    }

    @Test
    void socketsFromDescriptorThreeOnWithTheirNames() {
        SocketActivation a = SocketActivation.fromEnvironment(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "2",
                "LISTEN_FDNAMES", "web:admin"), PID);
        assertTrue(a.active());
        assertEquals(List.of(3, 4), a.fds());
        assertEquals("web", a.name(3));
        assertEquals("admin", a.name(4));
    }

    @Test
    void namesAreOptional() {
        SocketActivation a = SocketActivation.fromEnvironment(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "1"), PID);
        assertEquals(Map.of(3, ""), a.named());
    }

    @Test
    void variablesForAnotherProcessAreIgnored() {
        // An ancestor's, inherited: the descriptors they name are not ours.
        SocketActivation a = SocketActivation.fromEnvironment(Map.of("LISTEN_PID", "1", "LISTEN_FDS", "1"), PID);
        assertFalse(a.active());
    }

    @Test
    void malformedVariablesAreErrorsNamingThem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SocketActivation
                .fromEnvironment(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "two"), PID));
        assertTrue(e.getMessage().startsWith("LISTEN_FDS=two is not a number"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SocketActivation
                .fromEnvironment(Map.of("LISTEN_PID", "4242", "LISTEN_FDS", "-1"), PID));
        assertTrue(e.getMessage().startsWith("LISTEN_FDS=-1 is not a number"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SocketActivation
                .fromEnvironment(Map.of("LISTEN_FDS", "1"), PID));
        assertTrue(e.getMessage().contains("without LISTEN_PID"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SocketActivation.fromEnvironment(Map.of(
                "LISTEN_PID", "4242", "LISTEN_FDS", "2", "LISTEN_FDNAMES", "web"), PID));
        assertTrue(e.getMessage().contains("names 1 descriptor(s) but LISTEN_FDS=2"), e.getMessage());
    }
}
