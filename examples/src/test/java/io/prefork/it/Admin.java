package io.prefork.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * What a supervisor started with {@code --admin 127.0.0.1:0} says about itself: {@code GET /status} and
 * {@code GET /metrics} (README, "Admin endpoint"). Tests ask these instead of reading the log, whose wording is for
 * people and may change; the endpoint's field and metric names are an interface.
 */
public final class Admin {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** A Prometheus sample line: {@code name{labels} value}. */
    private static final Pattern SAMPLE = Pattern.compile("^([a-z_]+(?:\\{[^}]*\\})?) (\\S+)$", Pattern.MULTILINE);
    private static final Duration IO = Duration.ofSeconds(15);

    private final int port;

    private Admin(int port) {
        this.port = port;
    }

    /**
     * The admin endpoint of supervisor {@code pid}, found from /proc: the one TCP socket it listens on that is not
     * one of {@code listenPorts}. The CLI does not print the port that {@code --admin 127.0.0.1:0} picked, and a port
     * chosen by the test beforehand could be taken by another test in between.
     */
    static Admin of(long pid, Set<Integer> listenPorts) {
        Set<Integer> others = new TreeSet<>(listeningPorts(pid));
        others.removeAll(listenPorts);
        if (others.size() != 1) {
            throw new AssertionError("supervisor " + pid + " listens on TCP ports " + listeningPorts(pid) + "; expected "
                    + "the --listen ports " + listenPorts + " and one admin port: start it with --admin 127.0.0.1:0");
        }
        return new Admin(others.iterator().next());
    }

    public int port() {
        return port;
    }

    /** One worker in {@code /status}. */
    public record Worker(long id, int index, long pid, String state, long inFlight, long served) {
    }

    /** {@code /status}, with the fields the tests use; its {@code toString} is what a failed poll shows. */
    public record Status(String state, long accepted, long restarts, int targetWorkers, int queueDepth,
                         List<Worker> workers) {

        public Set<Long> pids() {
            return workers.stream().map(Worker::pid).collect(Collectors.toSet());
        }

        /** Exactly {@code n} workers, every one of them ready (none starting, draining, or dead and not reaped). */
        public boolean readyWorkers(int n) {
            return workers.size() == n && workers.stream().allMatch(w -> w.state().equals("ready"));
        }
    }

    /** {@code GET /status}; fails unless it answers 200. */
    public Status status() throws IOException {
        JsonNode root = JSON.readTree(get("/status"));
        List<Worker> workers = new ArrayList<>();
        for (JsonNode w : root.get("workers")) {
            workers.add(new Worker(w.get("id").asLong(), w.get("index").asInt(), w.get("pid").asLong(),
                    w.get("state").asText(), w.get("inFlight").asLong(), w.get("served").asLong()));
        }
        return new Status(root.get("state").asText(), root.get("accepted").asLong(), root.get("restarts").asLong(),
                root.get("targetWorkers").asInt(), root.get("queueDepth").asInt(), List.copyOf(workers));
    }

    /** {@code GET /metrics}: every sample, {@code name{labels}} to value. */
    public Map<String, Double> metrics() throws IOException {
        Map<String, Double> out = new HashMap<>();
        Matcher m = SAMPLE.matcher(get("/metrics"));
        while (m.find()) {
            out.put(m.group(1), Double.parseDouble(m.group(2)));
        }
        return out;
    }

    /** One sample of {@code /metrics}, as a whole number (counters and gauges here count things). */
    public long metric(String name) throws IOException {
        Map<String, Double> all = metrics();
        Double v = all.get(name);
        if (v == null) {
            throw new AssertionError("no sample " + name + " in /metrics; it has " + new TreeSet<>(all.keySet()));
        }
        return v.longValue();
    }

    private String get(String path) throws IOException {
        HttpClient.Response r = HttpClient.get("127.0.0.1", port, path, IO);
        if (r.status() != 200) {
            throw new AssertionError("GET " + path + " on the admin port " + port + " answered " + r.status() + ": "
                    + r.body());
        }
        return r.body();
    }

    /** Ports of the TCP sockets in state LISTEN that process {@code pid} holds, from /proc/net/tcp and tcp6. */
    static Set<Integer> listeningPorts(long pid) {
        Set<String> inodes = new TreeSet<>();
        for (String target : SupervisorProcess.fdTargets(pid, false)) {
            if (target.startsWith("socket:[")) {
                inodes.add(target.substring("socket:[".length(), target.length() - 1));
            }
        }
        Set<Integer> ports = new TreeSet<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            List<String> lines;
            try {
                lines = Files.readAllLines(Path.of(table));
            } catch (IOException e) {
                throw new AssertionError("cannot read " + table, e);
            }
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
            for (String line : lines.subList(1, lines.size())) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[3].equals("0A") && inodes.contains(f[9])) {
                    ports.add(Integer.parseInt(f[1].substring(f[1].lastIndexOf(':') + 1), 16));
                }
            }
        }
        return ports;
    }
}
