package io.prefork.internal.runtime;

import io.prefork.internal.nativeio.Bootstrap;
import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.Native;
import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;

/**
 * The entry point of a worker JVM. The supervisor starts
 * {@code java --add-opens java.base/sun.nio.ch=ALL-UNNAMED ... io.prefork.internal.runtime.WorkerMain} with its
 * configuration in {@code PREFORK_*} environment variables (see {@link WorkerExit}); it is not meant to be started
 * by hand.
 */
public final class WorkerMain {
    private WorkerMain() {
    }

    public static void main(String[] args) {
        System.exit(run());
    }

    static int run() {
        ChannelWrapper wrapper;
        try {
            Native.checkPlatform();
            wrapper = ChannelWrapper.create();
        } catch (ChannelWrapper.UnavailableException | UnsupportedOperationException e) {
            System.err.println("prefork worker: " + e.getMessage());
            return WorkerExit.UNSUPPORTED;
        }
        String socket = System.getenv(WorkerExit.ENV_BOOT_SOCKET);
        String token = System.getenv(WorkerExit.ENV_BOOT_TOKEN);
        String className = System.getenv(WorkerExit.ENV_WORKER_CLASS);
        if (socket == null || token == null || className == null) {
            System.err.println("prefork worker: " + WorkerExit.ENV_BOOT_SOCKET + ", " + WorkerExit.ENV_BOOT_TOKEN + " and "
                    + WorkerExit.ENV_WORKER_CLASS + " must be set: worker JVMs are started by the prefork supervisor, "
                    + "not by hand");
            return WorkerExit.BOOTSTRAP_FAILED;
        }
        int index;
        int concurrency;
        long prefetchTimeoutMs;
        Map<String, String> settings;
        try {
            index = Integer.parseInt(System.getenv().getOrDefault(WorkerExit.ENV_WORKER_INDEX, "0"));
            concurrency = Integer.parseInt(System.getenv().getOrDefault(WorkerExit.ENV_CONCURRENCY, "1"));
            prefetchTimeoutMs = Long.parseLong(System.getenv().getOrDefault(WorkerExit.ENV_PREFETCH_TIMEOUT_MS, "0"));
            settings = parseSettings(System.getenv().getOrDefault(WorkerExit.ENV_SETTINGS, ""));
        } catch (NumberFormatException | IOException e) {
            System.err.println("prefork worker: malformed PREFORK_* environment: " + e.getMessage());
            return WorkerExit.BOOTSTRAP_FAILED;
        }
        ControlChannel channel;
        try {
            channel = Bootstrap.connect(Path.of(socket), token, 10_000);
        } catch (IOException e) {
            System.err.println("prefork worker: cannot get a channel from the supervisor at " + socket + ": " + e.getMessage());
            return WorkerExit.BOOTSTRAP_FAILED;
        }
        WorkerRuntime runtime = new WorkerRuntime(channel, wrapper, index, concurrency, prefetchTimeoutMs, settings);
        return runtime.run(className);
    }

    static Map<String, String> parseSettings(String text) throws IOException {
        Properties p = new Properties();
        p.load(new StringReader(text));
        Map<String, String> out = new LinkedHashMap<>();
        for (String k : p.stringPropertyNames()) {
            out.put(k, p.getProperty(k));
        }
        return out;
    }
}
