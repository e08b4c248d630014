package io.prefork.supervisor.internal.nativeio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.prefork.internal.nativeio.Native;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code struct epoll_event} in both of its layouts, byte by byte: packed (x86-64) and 8-aligned (aarch64 and every
 * other 64-bit architecture). Only x86-64 runs here, so the aligned layout is checked by its encoding, against the
 * offsets the kernel's {@code include/uapi/linux/eventpoll.h} gives it.
 */
@Timeout(10)
class EpollLayoutTest {
    private static final int EVENTS = Epoll.EPOLLIN | Epoll.EPOLLRDHUP;

    /** Two events written with {@code layout} into native memory, read back as bytes. */
    private static ByteBuffer encode(Epoll.Layout layout) {
        Pointer p = Native.allocate(2 * layout.bytes());
        for (int i = 0; i < 2 * layout.bytes(); i++) {
            p.putByte(i, (byte) 0x55); // what the padding must keep: encoding never writes there
        }
        layout.put(p, 0, EVENTS, 7);
        layout.put(p, 1, Epoll.EPOLLHUP, 0x1_0000_0002L);
        byte[] bytes = new byte[2 * layout.bytes()];
        p.get(0, bytes, 0, bytes.length);
        assertEquals(EVENTS, layout.events(p, 0));
        assertEquals(7, layout.data(p, 0));
        assertEquals(Epoll.EPOLLHUP, layout.events(p, 1));
        assertEquals(0x1_0000_0002L, layout.data(p, 1));
        return ByteBuffer.wrap(bytes).order(ByteOrder.nativeOrder());
    }

    @Test
    void packedOnX86() {
        for (String arch : new String[] {"amd64", "x86_64", "x86", "i386"}) {
            assertSame(Epoll.Layout.PACKED, Epoll.Layout.forArch(arch), arch);
        }
        ByteBuffer b = encode(Epoll.Layout.PACKED);
        assertEquals(24, b.capacity(), "12 bytes each");
        assertEquals(EVENTS, b.getInt(0));
        assertEquals(7, b.getLong(4), "data right after events");
        assertEquals(Epoll.EPOLLHUP, b.getInt(12));
        assertEquals(0x1_0000_0002L, b.getLong(16));
    }

    @Test
    void alignedOnAarch64AndTheOther64BitArchitectures() {
        for (String arch : new String[] {"aarch64", "riscv64", "ppc64le", "s390x", "loongarch64"}) {
            assertSame(Epoll.Layout.ALIGNED, Epoll.Layout.forArch(arch), arch);
        }
        ByteBuffer b = encode(Epoll.Layout.ALIGNED);
        assertEquals(32, b.capacity(), "16 bytes each");
        assertEquals(EVENTS, b.getInt(0));
        assertEquals(0x55555555, b.getInt(4), "padding untouched");
        assertEquals(7, b.getLong(8), "data aligned to 8");
        assertEquals(Epoll.EPOLLHUP, b.getInt(16));
        assertEquals(0x55555555, b.getInt(20));
        assertEquals(0x1_0000_0002L, b.getLong(24));
    }

    @Test
    void thisMachineUsesItsArchitecturesLayout() {
        assertSame(Epoll.Layout.forArch(System.getProperty("os.arch")), Epoll.LAYOUT);
    }
}
