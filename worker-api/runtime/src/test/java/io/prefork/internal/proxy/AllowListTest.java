package io.prefork.internal.proxy;

import static io.prefork.internal.proxy.ProxyHeaderReaderTest.ip;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class AllowListTest {
    @Test
    void defaultIsLoopbackOnly() {
        AllowList a = AllowList.parse(AllowList.DEFAULT);
        assertTrue(a.allows(ip("127.0.0.1")));
        assertTrue(a.allows(ip("127.255.0.9")));
        assertTrue(a.allows(ip("::1")));
        assertTrue(a.allows(ip("::ffff:127.0.0.1")), "an IPv4-mapped peer on a dual-stack listener");
        assertFalse(a.allows(ip("10.0.0.1")));
        assertFalse(a.allows(ip("::2")));
    }

    @Test
    void prefixesThatDoNotEndOnAByte() {
        AllowList a = AllowList.parse("10.0.0.0/8, 192.168.4.0/22,fd00::/7,198.51.100.7");
        assertTrue(a.allows(ip("10.200.1.1")));
        assertTrue(a.allows(ip("192.168.7.255")));
        assertFalse(a.allows(ip("192.168.8.0")));
        assertTrue(a.allows(ip("fdff::1")));
        assertTrue(a.allows(ip("fc00::1")));
        assertFalse(a.allows(ip("fe00::1")));
        assertTrue(a.allows(ip("198.51.100.7")));
        assertFalse(a.allows(ip("198.51.100.8")));
        assertTrue(AllowList.parse("0.0.0.0/0").allows(ip("203.0.113.1")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "localhost", "10.0.0/8",
        "10.0.0.0/8,,", "fd00::/-1", "1.2.3.4/+8"})
    void refusedWithTheBlockNamed(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AllowList.parse(text));
        assertTrue(text.isEmpty() ? e.getMessage().contains("at least one") : e.getMessage().contains("'"),
                e.getMessage());
    }
}
