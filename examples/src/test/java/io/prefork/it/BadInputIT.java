package io.prefork.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.testing.Poll;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Bad command lines: one clear line naming the setting and value, a distinct exit code, nothing left running. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class BadInputIT {
    static final String HELLO = "io.prefork.examples.HelloHttpWorker";

    private static void expect(int exitCode, String[] mustContain, String... args) throws Exception {
        try (SupervisorProcess s = SupervisorProcess.start(args)) {
            int code = s.awaitExit(Duration.ofSeconds(30));
            // The output is the oracle here: the one line is the error the user must see (README, "Exit codes"),
            // and the supervisor exits before any admin endpoint could answer.
            // The process has exited; its line may still be in the pipe to the pump.
            Poll.within(Duration.ofSeconds(15)).until("the error line", () -> !s.output().isEmpty());
            List<String> out = s.output();
            assertEquals(exitCode, code, "exit code; output: " + out);
            assertEquals(1, out.size(), "exactly one line of output: " + out);
            for (String m : mustContain) {
                assertTrue(out.get(0).contains(m), "'" + out.get(0) + "' should mention '" + m + "'");
            }
            assertTrue(out.get(0).startsWith("prefork: "), out.get(0));
            assertTrue(s.taggedProcesses().isEmpty(), "nothing left running");
        }
    }

    private static String[] hello(String listen, String workers) {
        return new String[] {"--listen", listen, "--workers", workers, "--worker-classpath",
            SupervisorProcess.examplesClasspath(), "--worker", HELLO};
    }

    @Test
    void zeroWorkers() throws Exception {
        expect(2, new String[] {"--workers", "0"}, hello("127.0.0.1:0", "0"));
    }

    @Test
    void negativeWorkers() throws Exception {
        expect(2, new String[] {"--workers", "-2"}, hello("127.0.0.1:0", "-2"));
    }

    @Test
    void workersNotANumber() throws Exception {
        expect(2, new String[] {"--workers", "many"}, hello("127.0.0.1:0", "many"));
    }

    @Test
    void malformedListen() throws Exception {
        expect(2, new String[] {"--listen", "localhost"}, hello("localhost", "1"));
        expect(2, new String[] {"--listen", "127.0.0.1:http"}, hello("127.0.0.1:http", "1"));
        expect(2, new String[] {"--listen", "127.0.0.1:70000"}, hello("127.0.0.1:70000", "1"));
    }

    @Test
    void portInUse() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            String listen = "127.0.0.1:" + taken.getLocalPort();
            expect(4, new String[] {"--listen", listen, "already in use"}, hello(listen, "1"));
        }
    }

    /** The second of two listen addresses is taken: the first, already bound, is released again. */
    @Test
    void secondListenAddressInUse() throws Exception {
        int free;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            free = probe.getLocalPort();
        }
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            String busy = "127.0.0.1:" + taken.getLocalPort();
            List<String> args = new ArrayList<>(List.of(hello("127.0.0.1:" + free, "1")));
            args.addAll(List.of("--listen", busy));
            expect(4, new String[] {"--listen " + busy + ": address already in use"}, args.toArray(new String[0]));
        }
        try (ServerSocket again = new ServerSocket(free, 1, InetAddress.getByName("127.0.0.1"))) {
            assertEquals(free, again.getLocalPort(), "the first listen address was closed again");
        }
    }

    /** A wildcard address and a specific one on the same port: the error names both. */
    @Test
    void wildcardAndSpecificListenOnOnePort() throws Exception {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            port = probe.getLocalPort();
        }
        List<String> args = new ArrayList<>(List.of(hello("0.0.0.0:" + port, "1")));
        args.addAll(List.of("--listen", "127.0.0.1:" + port));
        expect(4, new String[] {"--listen 127.0.0.1:" + port + ": address already in use, by --listen 0.0.0.0:" + port,
            "give only one of them"}, args.toArray(new String[0]));
    }

    @Test
    void unknownWorkerClass() throws Exception {
        expect(2, new String[] {"--worker", "com.example.NoSuchWorker", "not found"}, "--listen", "127.0.0.1:0",
                "--workers", "1", "--worker-classpath", SupervisorProcess.examplesClasspath(),
                "--worker", "com.example.NoSuchWorker");
    }

    @Test
    void classThatIsNotAWorker() throws Exception {
        expect(2, new String[] {"--worker", "java.lang.String", "does not implement"}, "--listen", "127.0.0.1:0",
                "--workers", "1", "--worker-classpath", SupervisorProcess.examplesClasspath(),
                "--worker", "java.lang.String");
    }

    @Test
    void missingClasspathEntry() throws Exception {
        expect(2, new String[] {"--worker-classpath", "/no/such/worker.jar", "does not exist"}, "--listen",
                "127.0.0.1:0", "--workers", "1", "--worker-classpath", "/no/such/worker.jar", "--worker", HELLO);
    }

    /** A typo'd option is the problem, not the required option it seems to leave out. */
    @Test
    void anUnknownOptionComesBeforeMissingOnes() throws Exception {
        expect(2, new String[] {"Unknown option", "--bnd", "see --help"}, "--bnd", "127.0.0.1:0");
    }

    /** gunicorn's spellings reach the same checks. */
    @Test
    void gunicornSpellings() throws Exception {
        expect(2, new String[] {"--workers", "0"}, "-b", "127.0.0.1:0", "-w", "0", "--worker-classpath",
                SupervisorProcess.examplesClasspath(), "--worker", HELLO);
    }

    @Test
    void aBadLineInTheConfigFileNamesTheFileAndLine() throws Exception {
        java.nio.file.Path conf = java.nio.file.Files.createTempFile("prefork", ".conf");
        try {
            java.nio.file.Files.write(conf, List.of("listen = 127.0.0.1:0", "worker = " + HELLO,
                    "worker-classpath = " + SupervisorProcess.examplesClasspath(), "workers = none"));
            expect(2, new String[] {"--workers none: not a whole number", "(from --config " + conf + " line 4)"},
                    "--config", conf.toString());
            java.nio.file.Files.write(conf, List.of("listen = 127.0.0.1:0", "wrokers = 2"));
            expect(2, new String[] {"--config " + conf + " line 2: unknown setting 'wrokers'", "did you mean "
                + "'workers'"}, "--config", conf.toString());
        } finally {
            java.nio.file.Files.delete(conf);
        }
    }

    @Test
    void missingRequiredOptions() throws Exception {
        expect(2, new String[] {"--worker"}, "--listen", "127.0.0.1:0");
    }
}
