package io.prefork.internal.nativeio;

import jnr.ffi.Pointer;

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
 * Not thread-safe: one per direction per channel, used by one thread at a time.
 */
final class MessageStruct {
    static final int MSGHDR_BYTES = 56;
    static final int IOVEC_BYTES = 16;
    static final int CMSG_HEADER_BYTES = 16;

    final Pointer msg;
    private final Pointer iov;
    private final Pointer control;
    private final int controlCapacity;
    /** Flags the kernel returned from the last receive (MSG_TRUNC, MSG_CTRUNC). */
    int receivedFlags;

    MessageStruct(int maxDescriptors) {
        this.controlCapacity = cmsgSpace(4 * maxDescriptors);
        this.msg = Native.allocate(MSGHDR_BYTES);
        this.iov = Native.allocate(IOVEC_BYTES);
        this.control = Native.allocate(controlCapacity);
        msg.putAddress(16, iov.address());
        msg.putLong(24, 1);
    }

    static int cmsgSpace(int dataBytes) {
        return CMSG_HEADER_BYTES + ((dataBytes + 7) & ~7);
    }

    /** Points the message at {@code length} bytes at {@code dataAddress} plus {@code fdCount} descriptors. */
    void prepareSend(long dataAddress, int length, int[] fds, int fdCount) {
        iov.putAddress(0, dataAddress);
        iov.putLong(8, length);
        if (fdCount == 0) {
            msg.putAddress(32, 0L);
            msg.putLong(40, 0L);
        } else {
            control.putLong(0, CMSG_HEADER_BYTES + 4L * fdCount);
            control.putInt(8, Native.SOL_SOCKET);
            control.putInt(12, Native.SCM_RIGHTS);
            for (int i = 0; i < fdCount; i++) {
                control.putInt(CMSG_HEADER_BYTES + 4L * i, fds[i]);
            }
            msg.putAddress(32, control.address());
            msg.putLong(40, cmsgSpace(4 * fdCount));
        }
        msg.putInt(48, 0);
    }

    /** Prepares a receive into {@code capacity} bytes at {@code dataAddress}, with the full control buffer. */
    void prepareReceive(long dataAddress, int capacity) {
        iov.putAddress(0, dataAddress);
        iov.putLong(8, capacity);
        msg.putAddress(32, control.address());
        // The kernel overwrites controllen with what it used: reset it every time, or the next descriptor is lost.
        msg.putLong(40, controlCapacity);
        msg.putInt(48, 0);
    }

    /**
     * After a receive: copies the descriptors that arrived into {@code out} and records the flags. Every descriptor
     * found becomes the caller's, even ones beyond {@code out.length}, which are closed here so none leaks.
     *
     * @return how many descriptors were stored in {@code out}
     */
    int collectDescriptors(int[] out) {
        receivedFlags = msg.getInt(48);
        long used = msg.getLong(40);
        int count = 0;
        long offset = 0;
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
                    int fd = control.getInt(offset + CMSG_HEADER_BYTES + 4L * i);
                    if (count < out.length) {
                        out[count++] = fd;
                    } else {
                        Native.closeQuietly(fd);
                    }
                }
            }
            offset += (len + 7) & ~7L;
        }
        return count;
    }
}
