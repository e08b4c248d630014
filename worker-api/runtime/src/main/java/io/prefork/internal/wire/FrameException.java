package io.prefork.internal.wire;

import java.io.IOException;

/**
 * A message on a supervisor/worker channel that is not a valid frame. The receiver logs it and closes the channel:
 * after garbage there is no way to trust the next message, and a closed channel is how the supervisor learns that a
 * worker is unusable (it then kills and replaces it).
 */
public final class FrameException extends IOException {
    private static final long serialVersionUID = 1L;

    public FrameException(String message) {
        super(message);
    }
}
