package io.prefork.internal.runtime;

import io.prefork.internal.proxy.AllowList;
import io.prefork.internal.proxy.ProxyMode;
import io.prefork.internal.proxy.ProxyProtocol;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;

/**
 * What the supervisor passes a worker JVM when it starts it: the contract between the two processes, in one place.
 * The supervisor's launcher encodes it with {@link #toEnvironment()}; the worker's {@link WorkerMain} decodes it with
 * {@link #fromEnvironment(Map)}. The environment rather than the command line: the boot token must not be readable
 * by other users, and any user can read a process's command line in {@code /proc}.
 *
 * @param bootSocket        the supervisor's bootstrap endpoint, where the worker fetches its channel end
 * @param bootToken         the one-time token the worker presents there
 * @param workerClass       the user's {@code io.prefork.worker.Worker} implementation
 * @param index             the worker's slot, 0 to workers - 1 ({@code WorkerContext.index()})
 * @param concurrency       the most connections the worker takes at once, and its handler threads
 * @param settings          the {@code --worker-setting} pairs, in order
 * @param proxy             the PROXY protocol header to require on each connection ({@code --proxy-protocol},
 *                          {@code --proxy-allow-from}); {@link ProxyProtocol#OFF} by default
 */
public record WorkerStartup(Path bootSocket, String bootToken, String workerClass, int index, int concurrency,
                            Map<String, String> settings, ProxyProtocol proxy) {
    static final String ENV_BOOT_SOCKET = "PREFORK_BOOT_SOCKET";
    static final String ENV_BOOT_TOKEN = "PREFORK_BOOT_TOKEN";
    static final String ENV_WORKER_CLASS = "PREFORK_WORKER_CLASS";
    static final String ENV_WORKER_INDEX = "PREFORK_WORKER_INDEX";
    static final String ENV_CONCURRENCY = "PREFORK_CONCURRENCY";
    /** {@code KEY=VALUE} lines in {@link Properties} syntax, so any key or value survives the trip. */
    static final String ENV_SETTINGS = "PREFORK_SETTINGS";
    static final String ENV_PROXY_PROTOCOL = "PREFORK_PROXY_PROTOCOL";
    static final String ENV_PROXY_ALLOW_FROM = "PREFORK_PROXY_ALLOW_FROM";

    /** A startup the worker cannot use; the message names the variable, its value and what to do. */
    public static final class InvalidException extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidException(String message) {
            super(message);
        }
    }

    public WorkerStartup {
        Objects.requireNonNull(bootSocket, "bootSocket");
        Objects.requireNonNull(bootToken, "bootToken");
        Objects.requireNonNull(workerClass, "workerClass");
        if (index < 0 || concurrency < 1) {
            throw new IllegalArgumentException("index " + index + ", concurrency " + concurrency
                    + ": need index >= 0, concurrency >= 1");
        }
        settings = Map.copyOf(settings); // unmodifiable, as WorkerContext.settings() promises
        Objects.requireNonNull(proxy, "proxy");
    }

    /** A startup without the PROXY protocol. */
    public WorkerStartup(Path bootSocket, String bootToken, String workerClass, int index, int concurrency,
                         Map<String, String> settings) {
        this(bootSocket, bootToken, workerClass, index, concurrency, settings, ProxyProtocol.OFF);
    }

    /** The environment variables that carry this startup to the worker JVM. */
    public Map<String, String> toEnvironment() {
        Map<String, String> env = new LinkedHashMap<>();
        env.put(ENV_BOOT_SOCKET, bootSocket.toString());
        env.put(ENV_BOOT_TOKEN, bootToken);
        env.put(ENV_WORKER_CLASS, workerClass);
        env.put(ENV_WORKER_INDEX, Integer.toString(index));
        env.put(ENV_CONCURRENCY, Integer.toString(concurrency));
        env.put(ENV_SETTINGS, encodeSettings(settings));
        env.put(ENV_PROXY_PROTOCOL, proxy.mode().cliName());
        env.put(ENV_PROXY_ALLOW_FROM, proxy.allowFrom().toString());
        return env;
    }

    /**
     * Reads a startup from a worker JVM's environment ({@link System#getenv()}). The boot socket, token and worker
     * class are required; the rest default to slot 0, concurrency 1, no settings and no PROXY protocol.
     *
     * @throws InvalidException naming the variable: missing (the JVM was not started by a supervisor) or malformed
     */
    public static WorkerStartup fromEnvironment(Map<String, String> env) throws InvalidException {
        String socket = env.get(ENV_BOOT_SOCKET);
        String token = env.get(ENV_BOOT_TOKEN);
        String className = env.get(ENV_WORKER_CLASS);
        if (socket == null || token == null || className == null) {
            throw new InvalidException(ENV_BOOT_SOCKET + ", " + ENV_BOOT_TOKEN + " and " + ENV_WORKER_CLASS
                    + " must be set: worker JVMs are started by the prefork supervisor, not by hand");
        }
        int index = (int) number(env, ENV_WORKER_INDEX, 0, 0, Integer.MAX_VALUE);
        int concurrency = (int) number(env, ENV_CONCURRENCY, 1, 1, Integer.MAX_VALUE);
        Map<String, String> settings;
        try {
            settings = decodeSettings(env.getOrDefault(ENV_SETTINGS, ""));
        } catch (IOException | IllegalArgumentException e) {
            throw new InvalidException(ENV_SETTINGS + " is not in java.util.Properties syntax (" + e.getMessage()
                    + "): the supervisor writes it; start workers through the supervisor");
        }
        ProxyProtocol proxy;
        try {
            proxy = new ProxyProtocol(ProxyMode.parse(env.getOrDefault(ENV_PROXY_PROTOCOL, "off")),
                    AllowList.parse(env.getOrDefault(ENV_PROXY_ALLOW_FROM, AllowList.DEFAULT)));
        } catch (IllegalArgumentException e) {
            throw new InvalidException(ENV_PROXY_PROTOCOL + " / " + ENV_PROXY_ALLOW_FROM + ": " + e.getMessage()
                    + "; the supervisor writes them; start workers through the supervisor");
        }
        return new WorkerStartup(Path.of(socket), token, className, index, concurrency, settings, proxy);
    }

    private static long number(Map<String, String> env, String name, long absent, long min, long max)
            throws InvalidException {
        String text = env.get(name);
        if (text == null) {
            return absent;
        }
        try {
            long value = Long.parseLong(text);
            if (value >= min && value <= max) {
                return value;
            }
        } catch (NumberFormatException e) {
            // Reported below, with the range.
        }
        throw new InvalidException(name + "='" + text + "' is not a whole number from " + min + " to " + max
                + ": the supervisor writes it; start workers through the supervisor");
    }

    static String encodeSettings(Map<String, String> settings) {
        Properties p = new Properties();
        p.putAll(settings);
        StringWriter w = new StringWriter();
        try {
            p.store(w, null);
        } catch (IOException e) {
            throw new IllegalStateException(e); // a StringWriter does not fail
        }
        return w.toString();
    }

    static Map<String, String> decodeSettings(String text) throws IOException {
        Properties p = new Properties();
        p.load(new StringReader(text));
        Map<String, String> out = new LinkedHashMap<>();
        for (String k : p.stringPropertyNames()) {
            out.put(k, p.getProperty(k));
        }
        return out;
    }
}
