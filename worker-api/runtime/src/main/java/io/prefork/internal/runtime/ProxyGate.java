package io.prefork.internal.runtime;

import io.prefork.internal.proxy.ProxyHeader;
import io.prefork.internal.proxy.ProxyHeaderException;
import io.prefork.internal.proxy.ProxyHeaderReader;
import io.prefork.internal.proxy.ProxyProtocol;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The PROXY protocol check every connection passes before the user's handler sees it ({@code --proxy-protocol}).
 * It runs in the worker, on the thread that will serve the connection, and not in the supervisor: reading a header
 * means waiting for a peer's bytes, and the supervisor's single loop must never wait on one connection.
 *
 * <p>A connection whose peer is not in {@code --proxy-allow-from}, or whose header is missing, malformed, oversized or
 * slower than {@link ProxyProtocol#HEADER_TIMEOUT_MS}, is closed without reaching the handler, counted (the heartbeat
 * thread reports the count to the supervisor for {@code /metrics}) and logged, at most one line per
 * {@link #LOG_INTERVAL_NANOS} with the number refused in between, so that a flood of bad connections cannot flood
 * the log.
 */
final class ProxyGate {
    private static final System.Logger LOG = System.getLogger("io.prefork.worker");
    static final long LOG_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final ProxyProtocol proxy;
    /** Refused since the heartbeat thread last took the count. */
    private final AtomicInteger refused = new AtomicInteger();
    private final Object logLock = new Object();
    private long lastLogNanos;
    private boolean loggedOnce;
    private int unlogged;

    ProxyGate(ProxyProtocol proxy) {
        this.proxy = proxy;
    }

    /**
     * Checks the peer and reads the header, consuming exactly its bytes; on success sets the connection's client
     * address from it.
     *
     * @return true to serve the connection, false if it was refused (the caller closes it and reports it done)
     */
    boolean admit(WorkerConnection c) {
        if (!proxy.allowFrom().allows(c.peer.getAddress())) {
            refuse(c, "peer " + c.peer.getAddress().getHostAddress() + " is not in --proxy-allow-from "
                    + proxy.allowFrom() + ": only a trusted balancer may send a PROXY protocol header");
            return false;
        }
        Socket socket = c.channel.socket();
        try {
            ProxyHeader h = ProxyHeaderReader.read(new DeadlineStream(socket), proxy.mode());
            socket.setSoTimeout(0); // the handler starts with the channel as it arrived: no read timeout
            if (h.hasAddresses()) {
                c.remote = h.source();
            }
            return true;
        } catch (SocketTimeoutException e) {
            refuse(c, "no complete PROXY protocol header within " + ProxyProtocol.HEADER_TIMEOUT_MS + " ms");
        } catch (ProxyHeaderException e) {
            refuse(c, e.getMessage());
        } catch (IOException e) {
            refuse(c, "reading the PROXY protocol header failed: " + e);
        }
        return false;
    }

    /** How many were refused since the last call; the heartbeat thread reports it. */
    int takeRefusedCount() {
        return refused.getAndSet(0);
    }

    private void refuse(WorkerConnection c, String why) {
        refused.incrementAndGet();
        long now = System.nanoTime();
        String line = null;
        synchronized (logLock) {
            if (!loggedOnce || now - lastLogNanos >= LOG_INTERVAL_NANOS) {
                line = "prefork worker: closed connection " + c.id + " from " + c.peer + " unserved: " + why
                        + (unlogged > 0 ? " (" + unlogged + " more refused since the last such message, not logged)"
                        : "");
                loggedOnce = true;
                lastLogNanos = now;
                unlogged = 0;
            } else {
                unlogged++;
            }
        }
        if (line != null) {
            LOG.log(Level.WARNING, line);
        }
    }

    /**
     * The socket's input with one deadline over all the reads of a header: each read may wait only for what is left
     * of it. The socket adaptor of a blocking SocketChannel honours SO_TIMEOUT on reads; the channel's own read does
     * not.
     */
    private static final class DeadlineStream extends InputStream {
        private final Socket socket;
        private final InputStream in;
        private final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ProxyProtocol.HEADER_TIMEOUT_MS);

        DeadlineStream(Socket socket) throws IOException {
            this.socket = socket;
            this.in = socket.getInputStream();
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new SocketTimeoutException("deadline passed");
            }
            socket.setSoTimeout((int) Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
            return in.read(b, off, len);
        }
    }
}
