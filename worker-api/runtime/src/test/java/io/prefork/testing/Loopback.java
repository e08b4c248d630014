package io.prefork.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

/** What the machine's loopback offers, for tests that need IPv6 and must be skipped (not failed) without it. */
public final class Loopback {
    private Loopback() {
    }

    /** Whether a socket can be bound on {@code ::1} (containers and CI runners may have IPv6 switched off). */
    public static boolean ipv6Works() {
        try (ServerSocket probe = new ServerSocket()) {
            probe.bind(new InetSocketAddress(InetAddress.getByName("::1"), 0));
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
