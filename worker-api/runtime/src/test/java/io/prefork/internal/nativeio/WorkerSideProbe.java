package io.prefork.internal.nativeio;

import java.nio.file.Path;

/**
 * Run in a JVM of its own by {@link SyscallsTest}: the native calls a worker makes, through {@link Syscalls} and
 * {@link ControlChannel} only, so that the test can read from the class-load log what they cost.
 */
public final class WorkerSideProbe {
    private WorkerSideProbe() {
    }

    public static void main(String[] args) throws Exception {
        Syscalls.checkPlatform();
        ControlChannel[] pair = ControlChannel.pair();
        int spare = Syscalls.reserveDescriptor(pair[0].fd());
        pair[0].sendBuffer().put(0, (byte) 42);
        pair[0].send(1, new int[] {spare}, 1, false);
        if (pair[1].receive(false) != 1 || pair[1].receivedDescriptorCount() != 1) {
            throw new AssertionError("no frame with a descriptor");
        }
        int got = pair[1].receivedDescriptor(0);
        Syscalls.setBlocking(got, false);
        Syscalls.close(got);
        Syscalls.close(spare);
        Syscalls.ignoreSignal(Native.SIGINT);
        try {
            Syscalls.connectUnix(Path.of(args[0]), 100);
            throw new AssertionError("connected to a path that does not exist");
        } catch (NativeException expected) {
            // ENOENT: the error path (NativeException's errno text) is part of what a worker may load
        }
        pair[0].close();
        pair[1].close();
        // Where jffi's native library was mapped from, if jnr-ffi is in use (the supervisor's JffiLibraryTest).
        String jffi = java.nio.file.Files.readAllLines(Path.of("/proc/self/maps")).stream()
                .filter(l -> l.contains("libjffi") || l.contains("jffi") && l.endsWith(".so"))
                .map(l -> l.substring(l.indexOf('/'))).findFirst().orElse("none");
        System.out.println("probe ok backend=" + Syscalls.backend() + " jffi=" + jffi);
    }
}
