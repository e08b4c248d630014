package io.prefork.supervisor;

/** The supervisor could not start; {@link #exitCode()} says which kind of failure (see {@link ExitCodes}). */
public final class StartupException extends Exception {
    private static final long serialVersionUID = 1L;

    private final int exitCode;

    public StartupException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }
}
