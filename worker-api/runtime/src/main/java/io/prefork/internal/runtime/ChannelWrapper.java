package io.prefork.internal.runtime;

import io.prefork.internal.nativeio.Syscalls;
import java.io.FileDescriptor;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.channels.SocketChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantLock;

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
 *
 * <p><b>Without the constructor's two getsockname calls.</b> That constructor reads the local address with
 * {@code Net.localAddress(fd)}: {@code getsockname} for the address and again for the port, two JNI calls and two
 * system calls per connection. Where this JDK's {@code SocketChannelImpl} has exactly the fields of JDK 17 or 25
 * ({@link Direct}), {@link #wrap} instead reads the local address with one getsockname of its own
 * ({@link Syscalls#localAddress}) and builds the channel as the constructor would: the real superclass constructor
 * ({@code SocketChannel(SelectorProvider)}, through the JDK's serialization-constructor factory) and then the
 * fields the constructor sets, to the same values. On any other JDK it uses the constructor, as before; and if the
 * direct build ever fails it logs once and uses the constructor from then on.
 */
public final class ChannelWrapper {
    /** The flag this class needs, spelled as on the java command line. */
    public static final String REQUIRED_FLAG = "--add-opens java.base/sun.nio.ch=ALL-UNNAMED";

    private final MethodHandle newFd;
    private final MethodHandle constructor;
    private final SelectorProvider provider = SelectorProvider.provider();
    /**
     * Build channels with {@link Direct}; cleared for good if that ever fails. Plain, not volatile: a thread that
     * still sees true after another cleared it only tries once more, and falls back the same way.
     */
    private boolean direct = Direct.UNAVAILABLE == null;

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
            // Initialised now, at boot, before any handler runs: sun.nio.ch.Net's initialiser loads native libraries
            // (libextnet on JDK 25), and a handler that has filled its descriptor table when Net is first used makes
            // that load fail with EMFILE, which breaks the class for good (NoClassDefFoundError in every later
            // channel call). The constructor's getsockname used to initialise it at the first wrap; the direct build
            // does not call into Net.
            Class.forName("sun.nio.ch.Net", true, null);
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
        return wrap(fd, ipv6, remote, knownBlocking, direct);
    }

    /** {@link #wrap(int, boolean, InetSocketAddress, boolean)} through the constructor, for tests and comparison. */
    SocketChannel wrapWithConstructor(int fd, boolean ipv6, InetSocketAddress remote) throws java.io.IOException {
        return wrap(fd, ipv6, remote, false, false);
    }

    /** Whether {@link #wrap} builds channels without the constructor's getsockname calls on this JVM. */
    boolean direct() {
        return direct;
    }

    /** Why the direct build is not used, or null if it is. */
    static String directUnavailableReason() {
        return Direct.UNAVAILABLE;
    }

    private SocketChannel wrap(int fd, boolean ipv6, InetSocketAddress remote, boolean knownBlocking,
                               boolean useDirect) throws java.io.IOException {
        try {
            if (!knownBlocking) {
                Syscalls.setBlocking(fd, true);
            }
            FileDescriptor fdo = (FileDescriptor) newFd.invokeExact(fd);
            ProtocolFamily family = ipv6 ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET;
            if (useDirect) {
                SocketChannel ch = Direct.build(provider, family, fdo, fd, Syscalls.localAddress(fd), remote);
                if (ch != null) {
                    return ch;
                }
                direct = false; // logged by Direct.build; the constructor below serves this and every later one
            }
            return (SocketChannel) constructor.invokeExact(provider, family, fdo, (SocketAddress) remote);
        } catch (java.io.IOException | RuntimeException | Error e) {
            Syscalls.closeQuietly(fd);
            throw e;
        } catch (Throwable t) {
            Syscalls.closeQuietly(fd);
            throw new java.io.IOException("wrapping descriptor " + fd + " into a SocketChannel failed", t);
        }
    }

    /**
     * Builds a {@code sun.nio.ch.SocketChannelImpl} for an accepted socket as its constructor
     * {@code (SelectorProvider, ProtocolFamily, FileDescriptor, SocketAddress)} does, with the local address given
     * rather than read with two getsockname calls. That constructor (identical in JDK 17 and 25) runs
     * {@code super(provider)}, then sets {@code family}, {@code fd}, {@code fdVal}, the local and remote address and
     * {@code state = ST_CONNECTED}, and its field initialisers create {@code readLock}, {@code writeLock} (two
     * {@link ReentrantLock}s) and {@code stateLock} (an {@link Object}); every other field keeps its default (false,
     * 0, null). Here the superclass constructor runs for real (the serialization-constructor factory of
     * {@code jdk.unsupported}, which ObjectInputStream uses to create an object while running only a superclass's
     * constructor), and the fields are set through method handles, the JVM flag {@link #REQUIRED_FLAG} opening
     * them. Only where the class has exactly the fields listed in {@link #KNOWN_FIELDS} (name and type, JDK 17's, and
     * JDK 25's one more): a JDK whose class differs in any field gets {@link #UNAVAILABLE} set and the constructor.
     * ChannelWrapperTest compares channels built both ways field by field, on both JDKs in CI.
     *
     * <p>Static final method handles, so that the JIT inlines the field stores as it would the constructor's.
     */
    static final class Direct {
        /** The instance fields the build accounts for; JDK 25 adds the last one (false until a virtual thread). */
        static final List<String> KNOWN_FIELDS = List.of("java.net.ProtocolFamily family", "java.io.FileDescriptor fd",
                "int fdVal", "java.util.concurrent.locks.ReentrantLock readLock",
                "java.util.concurrent.locks.ReentrantLock writeLock", "java.lang.Object stateLock",
                "boolean isInputClosed", "boolean isOutputClosed", "boolean connectionReset", "boolean isReuseAddress",
                "int state", "long readerThread", "long writerThread", "java.net.SocketAddress localAddress",
                "java.net.SocketAddress remoteAddress", "java.net.Socket socket", "boolean forcedNonBlocking");
        /** The newest JDK whose SocketChannelImpl this build was checked against (CI runs 17 and 25). */
        static final int LAST_CHECKED_FEATURE = 25;
        /** Fields that JDK 17's class lacks. */
        private static final Set<String> OPTIONAL_FIELDS = Set.of("boolean forcedNonBlocking");

        /** Null if the direct build is available; otherwise why not. */
        static final String UNAVAILABLE;
        private static final Constructor<?> NEW;
        private static final MethodHandle FAMILY;
        private static final MethodHandle FD;
        private static final MethodHandle FD_VAL;
        private static final MethodHandle READ_LOCK;
        private static final MethodHandle WRITE_LOCK;
        private static final MethodHandle STATE_LOCK;
        private static final MethodHandle LOCAL;
        private static final MethodHandle REMOTE;
        private static final MethodHandle STATE;
        private static final int ST_CONNECTED;

        static {
            String unavailable = null;
            Constructor<?> ctor = null;
            MethodHandle[] h = new MethodHandle[9];
            int connected = 0;
            try {
                Class<?> impl = Class.forName("sun.nio.ch.SocketChannelImpl");
                Set<String> fields = new TreeSet<>();
                if (Runtime.version().feature() > LAST_CHECKED_FEATURE) {
                    // JEP 500 (JDK 26) starts to restrict setting final fields by reflection, which this does to
                    // readLock, writeLock, stateLock, family, fd and fdVal: a JDK not checked here gets the constructor.
                    throw new UnsupportedOperationException("JDK " + Runtime.version().feature() + " is newer than "
                            + "the last JDK this build was checked on (" + LAST_CHECKED_FEATURE + ")");
                }
                for (Field f : impl.getDeclaredFields()) {
                    if (!Modifier.isStatic(f.getModifiers())) {
                        fields.add(f.getType().getName() + " " + f.getName());
                    }
                }
                Set<String> known = new TreeSet<>(KNOWN_FIELDS);
                Set<String> without = new TreeSet<>(known);
                without.removeAll(OPTIONAL_FIELDS);
                if (!fields.equals(known) && !fields.equals(without)) {
                    unavailable = "this JDK's sun.nio.ch.SocketChannelImpl has the instance fields " + fields
                            + ", not those of JDK 17 or 25 " + known;
                } else {
                    Class<?> factory = Class.forName("sun.reflect.ReflectionFactory");
                    Object rf = factory.getMethod("getReflectionFactory").invoke(null);
                    ctor = (Constructor<?>) factory.getMethod("newConstructorForSerialization", Class.class,
                            Constructor.class).invoke(rf, impl,
                            SocketChannel.class.getDeclaredConstructor(SelectorProvider.class));
                    if (ctor == null) {
                        throw new NoSuchMethodException("no serialization constructor for " + impl.getName());
                    }
                    MethodHandles.Lookup lookup = MethodHandles.lookup();
                    String[] names = {"family", "fd", "fdVal", "readLock", "writeLock", "stateLock", "localAddress",
                        "remoteAddress", "state"};
                    for (int i = 0; i < names.length; i++) {
                        Field f = impl.getDeclaredField(names[i]);
                        f.setAccessible(true);
                        // (SocketChannel, the field's type)void: callers need not name the JDK-internal class.
                        h[i] = lookup.unreflectSetter(f).asType(MethodType.methodType(void.class, SocketChannel.class,
                                f.getType()));
                    }
                    Field st = impl.getDeclaredField("ST_CONNECTED");
                    st.setAccessible(true);
                    connected = st.getInt(null);
                }
            } catch (ReflectiveOperationException | RuntimeException e) {
                // RuntimeException: InaccessibleObjectException without the flag (create() reports that one).
                unavailable = "cannot build SocketChannelImpl directly: " + e;
            }
            UNAVAILABLE = unavailable;
            NEW = unavailable == null ? ctor : null;
            FAMILY = h[0];
            FD = h[1];
            FD_VAL = h[2];
            READ_LOCK = h[3];
            WRITE_LOCK = h[4];
            STATE_LOCK = h[5];
            LOCAL = h[6];
            REMOTE = h[7];
            STATE = h[8];
            ST_CONNECTED = connected;
        }

        private Direct() {
        }

        /**
         * The channel, connected, owning {@code fdo}; null if the reflective build failed (logged, with the reason),
         * in which case nothing holds the descriptor and the caller builds the channel with the constructor.
         */
        static SocketChannel build(SelectorProvider provider, ProtocolFamily family, FileDescriptor fdo, int fd,
                                   InetSocketAddress local, InetSocketAddress remote) {
            try {
                SocketChannel ch = (SocketChannel) NEW.newInstance(provider);
                FAMILY.invokeExact(ch, family);
                FD.invokeExact(ch, fdo);
                FD_VAL.invokeExact(ch, fd);
                READ_LOCK.invokeExact(ch, new ReentrantLock());
                WRITE_LOCK.invokeExact(ch, new ReentrantLock());
                STATE_LOCK.invokeExact(ch, new Object());
                LOCAL.invokeExact(ch, (SocketAddress) local);
                REMOTE.invokeExact(ch, (SocketAddress) remote);
                // Last, as in the constructor; volatile, so its store also publishes the ones above (the runtime
                // passes a channel to other threads only through a lock or an executor anyway).
                STATE.invokeExact(ch, ST_CONNECTED);
                return ch;
            } catch (Error e) {
                throw e;
            } catch (Throwable t) {
                System.getLogger("io.prefork.worker").log(System.Logger.Level.WARNING, "prefork worker: building "
                        + "SocketChannelImpl directly failed, using its constructor (two getsockname calls per "
                        + "connection) from now on: " + t);
                return null;
            }
        }
    }
}
