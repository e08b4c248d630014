package io.prefork.internal.runtime;

import io.prefork.internal.nativeio.Syscalls;
import java.io.FileDescriptor;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;

/**
 * Turns a connected TCP socket descriptor into a genuine {@link SocketChannel} of the JDK's default provider, so it
 * registers with a normal {@link java.nio.channels.Selector} and its {@code socket()} streams, timeouts and options
 * behave as for a channel the JVM accepted itself.
 *
 * <p>This is the SDK's one dependency on JDK internals. It calls the package-private constructor
 * {@code sun.nio.ch.SocketChannelImpl(SelectorProvider, ProtocolFamily, FileDescriptor, SocketAddress)}, which is
 * the constructor {@code ServerSocketChannel.accept()} itself uses, with a {@code FileDescriptor} from
 * {@code sun.nio.ch.IOUtil.newFD(int)}. Both are identical on JDK 17 and JDK 25 (checked in CI on both). It needs
 * {@code --add-opens java.base/sun.nio.ch=ALL-UNNAMED}; {@link #create()} checks for it up front so a worker
 * without the flag fails at start with a message naming the flag, never at its first connection.
 *
 * <p>Ownership: {@link #wrap} takes the descriptor; from then on the channel owns it and {@code close()} releases
 * it. There is no Cleaner: a channel that is never closed leaks its descriptor even after GC.
 */
public final class ChannelWrapper {
    /** The flag this class needs, spelled as on the java command line. */
    public static final String REQUIRED_FLAG = "--add-opens java.base/sun.nio.ch=ALL-UNNAMED";

    private final MethodHandle newFd;
    private final MethodHandle constructor;
    private final SelectorProvider provider = SelectorProvider.provider();

    private ChannelWrapper(MethodHandle newFd, MethodHandle constructor) {
        this.newFd = newFd;
        this.constructor = constructor;
    }

    /** Thrown when this JVM cannot wrap descriptors; the message names the missing flag. */
    public static final class UnavailableException extends Exception {
        private static final long serialVersionUID = 1L;

        UnavailableException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Looks up the JDK internals this class needs.
     *
     * @throws UnavailableException if the JVM was started without {@link #REQUIRED_FLAG}, or the JDK no longer has
     *     the constructor (a JDK newer than this SDK knows)
     */
    public static ChannelWrapper create() throws UnavailableException {
        Class<?> impl;
        Class<?> ioUtil;
        try {
            impl = Class.forName("sun.nio.ch.SocketChannelImpl");
            ioUtil = Class.forName("sun.nio.ch.IOUtil");
        } catch (ClassNotFoundException e) {
            throw new UnavailableException("this JDK (" + Runtime.version() + ") has no sun.nio.ch.SocketChannelImpl; "
                    + "Prefork's worker SDK supports JDK 17 to 25", e);
        }
        try {
            Constructor<?> ctor = impl.getDeclaredConstructor(SelectorProvider.class, ProtocolFamily.class,
                    FileDescriptor.class, SocketAddress.class);
            ctor.setAccessible(true);
            Method newFd = ioUtil.getDeclaredMethod("newFD", int.class);
            newFd.setAccessible(true);
            MethodHandles.Lookup lookup = MethodHandles.lookup();
            MethodHandle c = lookup.unreflectConstructor(ctor).asType(MethodType.methodType(SocketChannel.class,
                    SelectorProvider.class, ProtocolFamily.class, FileDescriptor.class, SocketAddress.class));
            return new ChannelWrapper(lookup.unreflect(newFd), c);
        } catch (RuntimeException e) {
            // InaccessibleObjectException (JDK 9+) is a RuntimeException: the package is not opened to us.
            if (e.getClass().getName().equals("java.lang.reflect.InaccessibleObjectException")) {
                throw new UnavailableException("cannot wrap descriptors into SocketChannels: the JVM flag " + REQUIRED_FLAG
                        + " is missing (the supervisor adds it to every worker it starts; add it when starting a "
                        + "worker JVM yourself, or put 'Add-Opens: java.base/sun.nio.ch' in your jar's manifest)", e);
            }
            throw e;
        } catch (ReflectiveOperationException e) {
            throw new UnavailableException("this JDK (" + Runtime.version() + ") lacks the SocketChannelImpl constructor "
                    + "Prefork's worker SDK uses; it supports JDK 17 to 25", e);
        }
    }

    /**
     * Wraps a connected TCP socket descriptor, taking ownership of it (it is closed here if wrapping fails). The
     * descriptor is put in blocking mode first, whatever its flags were on arrival, so the channel's blocking state
     * and the descriptor's agree.
     *
     * @param ipv6   true if the socket is AF_INET6: the family must match, or IP options such as IP_TOS fail
     * @param remote the peer address, as the supervisor saw it at accept time
     */
    public SocketChannel wrap(int fd, boolean ipv6, InetSocketAddress remote) throws java.io.IOException {
        return wrap(fd, ipv6, remote, false);
    }

    /**
     * Like {@link #wrap(int, boolean, InetSocketAddress)}; with {@code knownBlocking} the caller vouches that the
     * descriptor is in blocking mode, which spares an {@code fcntl(F_GETFL)}: the supervisor accepts without
     * SOCK_NONBLOCK and never changes a socket's flags, so only a connection a handler parked (and may have made
     * non-blocking: the flag lives in the shared open file) needs the check.
     */
    public SocketChannel wrap(int fd, boolean ipv6, InetSocketAddress remote, boolean knownBlocking)
            throws java.io.IOException {
        try {
            if (!knownBlocking) {
                Syscalls.setBlocking(fd, true);
            }
            FileDescriptor fdo = (FileDescriptor) newFd.invokeExact(fd);
            return (SocketChannel) constructor.invokeExact(provider,
                    (ProtocolFamily) (ipv6 ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET), fdo,
                    (SocketAddress) remote);
        } catch (java.io.IOException | RuntimeException | Error e) {
            Syscalls.closeQuietly(fd);
            throw e;
        } catch (Throwable t) {
            Syscalls.closeQuietly(fd);
            throw new java.io.IOException("wrapping descriptor " + fd + " into a SocketChannel failed", t);
        }
    }
}
