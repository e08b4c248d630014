package io.prefork.supervisor;

/**
 * A setting with a value the supervisor cannot use. The message names the setting as the command line spells it,
 * the value, and what to do, e.g. {@code --workers 0: must be at least 1}.
 */
public final class ConfigException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String setting;

    public ConfigException(String setting, Object value, String problem) {
        super(setting + " " + value + ": " + problem);
        this.setting = setting;
    }

    /** The setting's command-line name, e.g. {@code --workers}. */
    public String setting() {
        return setting;
    }
}
