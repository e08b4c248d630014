package io.prefork.supervisor.internal.upgrade;

import io.prefork.internal.nativeio.Native;
import io.prefork.supervisor.internal.nativeio.UpgradeEndpoint;
import io.prefork.supervisor.internal.systemd.SocketActivation;
import java.io.File;
import java.io.IOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The old supervisor's side of an upgrade (USR2, gunicorn's convention): starts a new supervisor from the same
 * command line, hands it the listening sockets ({@link UpgradeEndpoint}), and waits until it is ready. Runs on its
 * own thread, {@code prefork-upgrade}, since each step blocks; it touches no supervisor state and reports the outcome
 * through {@link Outcome}, whose implementation posts to the loop.
 *
 * <p>The new supervisor is the old one's child (there is no way for a JVM to exec itself), so it is reparented to
 * init, or to the service manager, once the old one exits. A new supervisor that fails (it exits, or is not ready
 * within the deadline) is stopped if still alive, and the old one serves on. One asked to stop before the new one is
 * ready {@link #abort aborts} the upgrade: the new one is stopped with it.
 */
public final class Upgrader {
    private static final Logger LOG = LoggerFactory.getLogger("prefork");
    /** Where the new supervisor finds the old one's endpoint, and the token it presents there. */
    public static final String SOCKET_VARIABLE = "PREFORK_UPGRADE_SOCKET";
    public static final String TOKEN_VARIABLE = "PREFORK_UPGRADE_TOKEN";
    /** Variables for the new supervisor only: its workers must not see them. */
    public static final List<String> VARIABLES = List.of(SOCKET_VARIABLE, TOKEN_VARIABLE);
    private static final String ADMIN_OPENS = "jdk.httpserver/sun.net.httpserver=ALL-UNNAMED";
    static final String NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";
    /** How long the new supervisor may take to connect back once started (a JVM start, on a loaded machine). */
    static final long CONNECT_TIMEOUT_MS = 60_000;

    /** What became of an upgrade; called once, on the upgrade thread. */
    public interface Outcome {
        /** The new supervisor (pid {@code pid}) is ready and serving the same sockets. */
        void handedOver(long pid);

        /** It is not, for {@code reason}; the old one keeps serving. */
        void failed(String reason);
    }

    private final Thread thread;
    /** The new supervisor, once started; read by {@link #abort} from the loop thread. */
    private volatile Process process;
    private volatile boolean aborted;
    /** The new supervisor's descendants (its workers) as last seen, so that an abort leaves none behind. */
    private final java.util.Set<ProcessHandle> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private Upgrader(List<String> command, List<Integer> listenerFds, int adminFd, Duration readyTimeout,
                     Outcome outcome) {
        this.thread = new Thread(() -> run(command, listenerFds, adminFd, readyTimeout, outcome), "prefork-upgrade");
        this.thread.setDaemon(true);
    }

    /**
     * The command that started this JVM, to start the new supervisor with: the same java, JVM options, classpath (the
     * jar, when started with {@code -jar}: a new version replaced in place is what starts) and arguments.
     */
    public static List<String> currentCommand(String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command()
                .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java"));
        cmd.addAll(manifestOptions(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()));
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    /**
     * This JVM's options, plus what the jar's manifest gives "java -jar" and a -cp command line does not get from it:
     * the new supervisor serves this one's admin socket through the JDK HttpServer's private fields
     * ({@code AdminServer.adopt}), and loads jffi's native library, which JDK 24+ warns about (and a later JDK will
     * refuse) without native access. JDK 17 accepts the flag too.
     */
    static List<String> manifestOptions(List<String> jvm) {
        List<String> out = new ArrayList<>(jvm);
        if (!jvm.contains(ADMIN_OPENS) && jvm.stream().noneMatch(a -> a.equals("--add-opens=" + ADMIN_OPENS))) {
            out.add("--add-opens");
            out.add(ADMIN_OPENS);
        }
        if (jvm.stream().noneMatch(a -> a.startsWith("--enable-native-access"))) {
            out.add(NATIVE_ACCESS);
        }
        return out;
    }

    /**
     * Starts the upgrade on a new thread.
     *
     * @param listenerFds duplicates of the listening sockets, in --listen order, owned by the upgrade from here on
     *     (closed once sent, or on failure)
     * @param adminFd a duplicate of the admin endpoint's socket, or -1; owned by the upgrade too
     * @param readyTimeout how long the new supervisor may take to become ready once it has the sockets
     */
    public static Upgrader start(List<String> command, List<Integer> listenerFds, int adminFd, Duration readyTimeout,
                                 Outcome outcome) {
        Upgrader u = new Upgrader(command, listenerFds, adminFd, readyTimeout, outcome);
        u.thread.start();
        return u;
    }

    /**
     * The old supervisor is stopping (TERM or INT) while this upgrade is still under way: the new supervisor gets
     * SIGTERM now (its graceful stop stops the workers it started; it accepts nothing before it is ready, so it has
     * no connection to finish), and the upgrade ends as failed, without a word to {@link Outcome} (the old one is
     * stopping, not serving on). Returns at once; {@link #awaitAborted} waits for the end. Any thread.
     */
    public void abort() {
        aborted = true;
        Process p = process;
        if (p != null && p.isAlive()) {
            remember(p);
            p.destroy(); // SIGTERM
        }
    }

    /**
     * After {@link #abort}: waits up to {@code timeout} for the upgrade thread to end (the new supervisor stopped,
     * or killed once its own stop took too long), then kills whatever is left of its process tree (a worker it had
     * started and not yet stopped).
     *
     * @return how it ended, for the log
     */
    public String awaitAborted(Duration timeout) throws InterruptedException {
        thread.join(timeout.toMillis());
        Process p = process;
        if (p != null) {
            remember(p);
            if (p.isAlive()) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
        int killed = 0;
        for (ProcessHandle h : seen) {
            if (h.isAlive() && h.destroyForcibly()) {
                killed++;
            }
        }
        return p == null ? "the new supervisor had not started"
                : "the new supervisor (pid " + p.pid() + ") " + (p.isAlive() ? "is still alive" : "has stopped")
                + (killed > 0 ? "; " + killed + " of its processes were still alive and were killed" : "");
    }

    private void remember(Process p) {
        p.descendants().forEach(seen::add);
    }

    private void run(List<String> command, List<Integer> fds, int adminFd, Duration readyTimeout, Outcome outcome) {
        String failure;
        try (UpgradeEndpoint endpoint = UpgradeEndpoint.open()) {
            byte[] secret = new byte[16];
            new SecureRandom().nextBytes(secret);
            String token = HexFormat.of().formatHex(secret);
            ProcessBuilder pb = new ProcessBuilder(command);
            // LISTEN_PID names us: the new supervisor takes its sockets from us, not from the service manager.
            pb.environment().keySet().removeAll(SocketActivation.VARIABLES);
            pb.environment().put(SOCKET_VARIABLE, endpoint.path().toString());
            pb.environment().put(TOKEN_VARIABLE, token);
            pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            // Its log and its ready line go where ours go (the journal, a terminal, a test's pipe).
            pb.redirectOutput(ProcessBuilder.Redirect.INHERIT);
            pb.redirectError(ProcessBuilder.Redirect.INHERIT);
            process = pb.start();
            if (aborted) {
                process.destroy(); // abort() came while it was being started
            }
            LOG.info("upgrade: started a new supervisor, pid {}; handing it {} listening socket(s) once it connects",
                    process.pid(), fds.size());
            try (UpgradeEndpoint.Peer peer = endpoint.accept(process, token, CONNECT_TIMEOUT_MS)) {
                if (peer == null) {
                    failure = process.isAlive() ? "the new supervisor did not connect back within " + CONNECT_TIMEOUT_MS / 1000 + " s"
                            : "the new supervisor exited before taking the sockets";
                } else {
                    peer.sendListeners(fds, adminFd);
                    closeAll(fds);
                    Native.closeQuietly(adminFd);
                    adminFd = -1;
                    UpgradeEndpoint.Readiness readiness = peer.awaitReady(readyTimeout.toMillis());
                    if (readiness == UpgradeEndpoint.Readiness.READY && !aborted) {
                        outcome.handedOver(process.pid());
                        return;
                    }
                    if (readiness == UpgradeEndpoint.Readiness.CLOSED) {
                        // It closed the connection as it exits: give it a moment to be gone, for its exit code.
                        process.waitFor(10, TimeUnit.SECONDS);
                    }
                    failure = readiness == UpgradeEndpoint.Readiness.TIMEOUT ? "the new supervisor was not ready within "
                            + readyTimeout.toSeconds() + " s" : "the new supervisor exited before it was ready";
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure = "the upgrade was interrupted";
        } catch (IOException | RuntimeException e) {
            failure = "cannot start a new supervisor: " + e.getMessage();
        } finally {
            closeAll(fds);
            Native.closeQuietly(adminFd);
        }
        if (aborted) {
            stop(process);
            return; // the old supervisor is stopping: no pid file to restore, nothing to serve on
        }
        outcome.failed(failure + stop(process));
    }

    /** Stops a new supervisor that failed (its graceful stop stops its workers too); describes how it ended. */
    private String stop(Process process) {
        if (process == null) {
            return "";
        }
        try {
            if (process.isAlive()) {
                remember(process);
                process.destroy(); // SIGTERM
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
                return " (pid " + process.pid() + ", now stopped; its log above says why)";
            }
            process.waitFor(10, TimeUnit.SECONDS);
            return " (pid " + process.pid() + ", exit code " + process.exitValue() + "; its log above says why)";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return " (pid " + process.pid() + ")";
        }
    }

    private static void closeAll(List<Integer> fds) {
        for (int i = 0; i < fds.size(); i++) {
            Native.closeQuietly(fds.get(i));
            fds.set(i, -1); // closed once: a second pass must not close a number reused since
        }
    }
}
