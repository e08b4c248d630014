package io.prefork.supervisor.internal.process;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.prefork.internal.nativeio.ControlChannel;
import io.prefork.internal.nativeio.NativeException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A worker's state moves only through its transition methods, and only along legal edges. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class WorkerProcessTest {
    private ControlChannel[] pair;
    private WorkerProcess w;

    @BeforeEach
    void create() throws NativeException {
        pair = ControlChannel.pair();
        w = new WorkerProcess(1, 0, "token", pair[0], -1, Long.MAX_VALUE, 0);
    }

    @AfterEach
    void close() {
        pair[0].close();
        pair[1].close();
    }

    @Test
    void theUsualLifeOfAWorker() {
        assertEquals(WorkerProcess.State.SPAWNED, w.state());
        assertFalse(w.hasChannel());
        w.booting();
        w.ready(42);
        assertTrue(w.available());
        assertEquals(42, w.readyNanos());
        w.draining("reload");
        assertEquals("reload", w.stopReason());
        assertFalse(w.available());
        w.stopping();
        assertTrue(w.isStopRequested());
        w.dead();
        assertFalse(w.hasChannel());
    }

    @Test
    void illegalTransitionsThrowNamingBothStates() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.ready(1));
        assertEquals("worker 0 (pid -1): illegal transition from SPAWNED to READY", e.getMessage());
        w.booting();
        assertThrows(IllegalStateException.class, w::booting);
        assertThrows(IllegalStateException.class, () -> w.killing("stuck"), "only a serving worker is stuck");
        w.ready(1);
        w.killing("stuck");
        assertFalse(w.isStopRequested(), "killed for being stuck: its exit still counts as a failure");
        assertThrows(IllegalStateException.class, () -> w.draining("late"));
        w.dead();
        e = assertThrows(IllegalStateException.class, w::dead);
        assertEquals("worker 0 (pid -1): illegal transition from DEAD to DEAD", e.getMessage());
    }

    @Test
    void aWorkerStillStartingMayBeDrainedByTtou() {
        w.draining("TTOU");
        assertEquals(WorkerProcess.State.DRAINING, w.state());
        assertFalse(w.isPrimary());
    }
}
