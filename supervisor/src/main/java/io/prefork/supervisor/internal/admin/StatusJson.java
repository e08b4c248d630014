package io.prefork.supervisor.internal.admin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.prefork.supervisor.SupervisorStatus;
import io.prefork.supervisor.WorkerStatus;
import io.prefork.supervisor.internal.nativeio.TcpListener;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.temporal.ChronoUnit;

/**
 * {@code GET /status}: a {@link SupervisorStatus} as JSON. Built as a Jackson tree, field by field, rather than by
 * serializing the records: the JSON field names, their order and their units (seconds as numbers, instants as
 * ISO-8601 text, addresses as {@code HOST:PORT}) are an interface that scripts read, and must not change when a
 * record gains a component.
 */
public final class StatusJson {
    public static final String CONTENT_TYPE = "application/json; charset=utf-8";

    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private StatusJson() {
    }

    /** The JSON document, UTF-8 encoded. */
    public static byte[] render(SupervisorStatus status, long supervisorPid) {
        try {
            return MAPPER.writeValueAsBytes(tree(status, supervisorPid));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write a tree of plain values as JSON", e); // cannot happen
        }
    }

    static ObjectNode tree(SupervisorStatus status, long supervisorPid) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("state", status.state());
        root.put("pid", supervisorPid);
        ArrayNode listen = root.putArray("listen");
        for (InetSocketAddress a : status.listen()) {
            listen.add(TcpListener.format(a));
        }
        root.put("queueDepth", status.queueDepth());
        root.put("parked", status.parked());
        root.put("parkedResumed", status.parkedResumed());
        root.put("accepted", status.accepted());
        root.put("restarts", status.restarts());
        root.put("targetWorkers", status.targetWorkers());
        // ISO-8601 in UTC; milliseconds, since some parsers (Python's before 3.11, JavaScript) reject nanoseconds.
        root.put("startedAt", status.startedAt().truncatedTo(ChronoUnit.MILLIS).toString());
        ArrayNode workers = root.putArray("workers");
        for (WorkerStatus w : status.workers()) {
            ObjectNode o = workers.addObject();
            o.put("id", w.id());
            o.put("index", w.index());
            o.put("pid", w.pid());
            o.put("state", w.state());
            o.put("inFlight", w.inFlight());
            o.put("served", w.served());
            o.put("ageSeconds", seconds(w.age()));
            if (w.sinceHeartbeat() == null) {
                o.putNull("lastHeartbeatSecondsAgo");
            } else {
                o.put("lastHeartbeatSecondsAgo", seconds(w.sinceHeartbeat()));
            }
        }
        return root;
    }

    /** Seconds with millisecond precision: enough for ages and heartbeats, and short to read. */
    static double seconds(Duration d) {
        return d.toMillis() / 1000.0;
    }
}
