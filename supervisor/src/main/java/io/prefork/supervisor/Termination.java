package io.prefork.supervisor;

/**
 * How a supervisor ended: the process exit code ({@link ExitCodes}) and, for a failure, one line saying why.
 *
 * @param exitCode one of {@link ExitCodes}
 * @param reason   null after a normal stop
 */
public record Termination(int exitCode, String reason) {
}
