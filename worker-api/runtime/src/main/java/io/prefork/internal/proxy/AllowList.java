package io.prefork.internal.proxy;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * The peers allowed to send a PROXY protocol header ({@code --proxy-allow-from CIDR,...}): only a trusted balancer
 * may say who the client is. Literal addresses only (never a host name: no DNS lookup at startup or per connection).
 * An IPv4-mapped IPv6 peer ({@code ::ffff:10.0.0.1}, what a dual-stack listener sees) matches IPv4 blocks, because
 * the JDK turns such an address into an {@link Inet4Address}.
 */
public final class AllowList {
    /** Loopback only: a balancer on the same machine. */
    public static final String DEFAULT = "127.0.0.0/8,::1/128";

    private final List<byte[]> networks = new ArrayList<>();
    private final List<Integer> prefixes = new ArrayList<>();
    private final String text;

    private AllowList(String text) {
        this.text = text;
    }

    /**
     * Parses a comma-separated list of {@code address/prefix} blocks, or bare addresses (a /32 or /128).
     *
     * @throws IllegalArgumentException naming the block that is wrong and the expected form
     */
    public static AllowList parse(String text) {
        AllowList list = new AllowList(text);
        if (text.isBlank()) {
            throw new IllegalArgumentException("an empty list would refuse every connection: give at least one "
                    + "CIDR block, e.g. " + DEFAULT);
        }
        for (String raw : text.split(",", -1)) {
            String block = raw.trim();
            int slash = block.indexOf('/');
            String addr = slash < 0 ? block : block.substring(0, slash);
            InetAddress a = literal(addr, block);
            int max = a.getAddress().length * 8;
            int prefix = max;
            if (slash >= 0) {
                String p = block.substring(slash + 1);
                try {
                    prefix = Integer.parseInt(p);
                } catch (NumberFormatException e) {
                    prefix = -1;
                }
                if (prefix < 0 || prefix > max || !p.chars().allMatch(c -> c >= '0' && c <= '9')) {
                    throw new IllegalArgumentException("'" + block + "': prefix length '" + p + "' is not a number"
                            + " from 0 to " + max);
                }
            }
            list.networks.add(a.getAddress());
            list.prefixes.add(prefix);
        }
        return list;
    }

    private static InetAddress literal(String addr, String block) {
        boolean v4 = addr.chars().allMatch(c -> c == '.' || (c >= '0' && c <= '9')) && addr.chars().filter(c -> c == '.').count() == 3;
        boolean v6 = addr.indexOf(':') >= 0 && addr.chars().allMatch(c -> c == ':' || c == '.' || Character.digit(c, 16) >= 0);
        if (v4 || v6) {
            try {
                // Only digits, dots, hex and colons: parsed as a literal, never looked up.
                return InetAddress.getByName(addr);
            } catch (UnknownHostException e) {
                // Reported below.
            }
        }
        throw new IllegalArgumentException("'" + block + "' is not an address or CIDR block (like 10.0.0.0/8, "
                + "192.0.2.7 or fd00::/8): host names are not accepted");
    }

    /** True if {@code peer} lies in one of the blocks. */
    public boolean allows(InetAddress peer) {
        byte[] p = peer.getAddress();
        for (int i = 0; i < networks.size(); i++) {
            byte[] net = networks.get(i);
            if (net.length == p.length && matches(net, p, prefixes.get(i))) {
                return true;
            }
        }
        return false;
    }

    private static boolean matches(byte[] net, byte[] addr, int prefix) {
        int full = prefix / 8;
        for (int i = 0; i < full; i++) {
            if (net[i] != addr[i]) {
                return false;
            }
        }
        int rest = prefix % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xFF << (8 - rest)) & 0xFF;
        return (net[full] & mask) == (addr[full] & mask);
    }

    /** Equal when written the same: two startups compare equal after a trip through the environment. */
    @Override
    public boolean equals(Object o) {
        return o instanceof AllowList other && other.text.equals(text);
    }

    @Override
    public int hashCode() {
        return text.hashCode();
    }

    @Override
    public String toString() {
        return text;
    }
}
