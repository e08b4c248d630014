package io.prefork.it.workers;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.wire.FrameCodec;
import io.prefork.worker.Connection;
import io.prefork.worker.Worker;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A broken worker that corrupts its control channel on request: {@code GET /garbage/magic} sends bytes that are
 * not a frame, {@code /garbage/type} a frame of an unknown type, {@code /garbage/length} a header claiming more
 * bytes than the message has. Any other path answers 200. The supervisor must kill and replace it and keep serving.
 *
 * <p>It finds its channel the way a stray write in buggy native code would hit it: the process's only AF_UNIX
 * SOCK_SEQPACKET socket (from /proc/self/fd and /proc/net/unix).
 */
public final class GarbageWorker implements Worker {
    @Override
    public void handle(Connection connection) throws IOException {
        String path = Requests.readPath(connection.channel().socket().getInputStream());
        // Answer first: the supervisor kills this worker as soon as the garbage arrives.
        String body = "ok " + ProcessHandle.current().pid() + "\n";
        OutputStream out = connection.channel().socket().getOutputStream();
        out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + body.length() + "\r\nConnection: close\r\nX-Prefork-Worker: "
                + ProcessHandle.current().pid() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
        out.flush();
        connection.channel().shutdownOutput();
        if (!path.startsWith("/garbage/")) {
            return;
        }
        int fd = channelFd();
        // Not closed: the descriptor belongs to the runtime; this wrapper only borrows it to send.
        @SuppressWarnings("resource")
        ControlChannel channel = new ControlChannel(fd);
        ByteBuffer b = channel.sendBuffer();
        int length;
        switch (path) {
            case "/garbage/magic":
                b.put(0, "this is not a frame".getBytes(StandardCharsets.US_ASCII));
                length = 19;
                break;
            case "/garbage/type":
                b.putShort(0, (short) 0x5046).put(2, (byte) FrameCodec.VERSION).put(3, (byte) 0x7F).putInt(4, 0);
                length = 8;
                break;
            default:
                b.putShort(0, (short) 0x5046).put(2, (byte) FrameCodec.VERSION).put(3, (byte) 0x21).putInt(4, 1 << 30); // REJECTED, oversized
                length = 18;
                break;
        }
        channel.send(length, null, 0, false);
    }

    private static int channelFd() throws IOException {
        Set<String> seqpacket = new HashSet<>();
        List<String> unix = Files.readAllLines(Path.of("/proc/net/unix"));
        for (String l : unix.subList(1, unix.size())) {
            String[] f = l.trim().split("\\s+");
            if (f.length > 6 && f[4].equals("0005")) {
                seqpacket.add("socket:[" + f[6] + "]");
            }
        }
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : (Iterable<Path>) fds::iterator) {
                try {
                    if (seqpacket.contains(Files.readSymbolicLink(p).toString())) {
                        return Integer.parseInt(p.getFileName().toString());
                    }
                } catch (IOException ignored) {
                    // closed while listing
                }
            }
        }
        throw new IOException("no SEQPACKET socket in this process");
    }
}
