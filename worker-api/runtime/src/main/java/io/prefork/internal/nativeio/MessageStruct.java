package io.prefork.internal.nativeio;

import java.nio.ByteBuffer;

/**
 * A {@code struct msghdr} with one iovec and a control buffer, all in native memory allocated once and reused for
 * every call: the hot path allocates nothing, and the control length is reset before every receive. (jnr-posix's
 * reused {@code MsgHdr} keeps the kernel's {@code msg_controllen = 0} from the previous call, so the next descriptor
 * is dropped with MSG_CTRUNC and closed by the kernel.)
 *
 * <pre>
 * x86_64 / aarch64 (LP64) layouts:
 *   struct msghdr  { void *name @0; socklen_t namelen @8; struct iovec *iov @16; size_t iovlen @24;
 *                    void *control @32; size_t controllen @40; int flags @48; }          56 bytes
 *   struct iovec   { void *base @0; size_t len @8; }                                      16 bytes
 *   struct cmsghdr { size_t len @0; int level @8; int type @12; unsigned char data[] @16; }
 *   CMSG_LEN(n) = 16 + n;  CMSG_SPACE(n) = 16 + align8(n)
 * </pre>
 *
 * The structs live in direct buffers in the platform's byte order and are handed to the backend by address, so
 * the same code serves jnr-ffi and FFM ({@link SyscallBackend}); this object keeps the buffers reachable.
 *
 * Not thread-safe: one per direction per channel, used by one thread at a time.
 */
final class MessageStruct {
    static final int MSGHDR_BYTES = 56;
    static final int IOVEC_BYTES = 16;
    static final int CMSG_HEADER_BYTES = 16;

    /** The address of the {@code struct msghdr}, for sendmsg/recvmsg. */
    final long msg;
    private final ByteBuffer msgStruct;
    private final ByteBuffer iov;
    private final ByteBuffer control;
    private final long controlAddress;
    private final int controlCapacity;
    /** Flags the kernel returned from the last receive (MSG_TRUNC, MSG_CTRUNC). */
    int receivedFlags;

    MessageStruct(int maxDescriptors) {
        this.controlCapacity = cmsgSpace(4 * maxDescriptors);
        this.msgStruct = Syscalls.nativeBuffer(MSGHDR_BYTES);
        this.iov = Syscalls.nativeBuffer(IOVEC_BYTES);
        this.control = Syscalls.nativeBuffer(controlCapacity);
        this.msg = Syscalls.address(msgStruct);
        this.controlAddress = Syscalls.address(control);
        msgStruct.putLong(16, Syscalls.address(iov));
        msgStruct.putLong(24, 1);
    }

    static int cmsgSpace(int dataBytes) {
        return CMSG_HEADER_BYTES + ((dataBytes + 7) & ~7);
    }

    /** Points the message at {@code length} bytes at {@code dataAddress} plus {@code fdCount} descriptors. */
    void prepareSend(long dataAddress, int length, int[] fds, int fdCount) {
        iov.putLong(0, dataAddress);
        iov.putLong(8, length);
        if (fdCount == 0) {
            msgStruct.putLong(32, 0L);
            msgStruct.putLong(40, 0L);
        } else {
            control.putLong(0, CMSG_HEADER_BYTES + 4L * fdCount);
            control.putInt(8, Native.SOL_SOCKET);
            control.putInt(12, Native.SCM_RIGHTS);
            for (int i = 0; i < fdCount; i++) {
                control.putInt(CMSG_HEADER_BYTES + 4 * i, fds[i]);
            }
            msgStruct.putLong(32, controlAddress);
            msgStruct.putLong(40, cmsgSpace(4 * fdCount));
        }
        msgStruct.putInt(48, 0);
    }

    /** Prepares a receive into {@code capacity} bytes at {@code dataAddress}, with the full control buffer. */
    void prepareReceive(long dataAddress, int capacity) {
        iov.putLong(0, dataAddress);
        iov.putLong(8, capacity);
        msgStruct.putLong(32, controlAddress);
        // The kernel overwrites controllen with what it used: reset it every time, or the next descriptor is lost.
        msgStruct.putLong(40, controlCapacity);
        msgStruct.putInt(48, 0);
    }

    /**
     * After a receive: copies the descriptors that arrived into {@code out} and records the flags. Every descriptor
     * found becomes the caller's, even ones beyond {@code out.length}, which are closed here so none leaks.
     *
     * @return how many descriptors were stored in {@code out}
     */
    int collectDescriptors(int[] out) {
        receivedFlags = msgStruct.getInt(48);
        long used = msgStruct.getLong(40);
        int count = 0;
        int offset = 0;
        while (offset + CMSG_HEADER_BYTES <= used) {
            long len = control.getLong(offset);
            if (len < CMSG_HEADER_BYTES || offset + len > used) {
                break;
            }
            int level = control.getInt(offset + 8);
            int type = control.getInt(offset + 12);
            if (level == Native.SOL_SOCKET && type == Native.SCM_RIGHTS) {
                int n = (int) ((len - CMSG_HEADER_BYTES) / 4);
                for (int i = 0; i < n; i++) {
                    int fd = control.getInt(offset + CMSG_HEADER_BYTES + 4 * i);
                    if (count < out.length) {
                        out[count++] = fd;
                    } else {
                        Syscalls.closeQuietly(fd);
                    }
                }
            }
            offset += (int) ((len + 7) & ~7L);
        }
        return count;
    }
}
