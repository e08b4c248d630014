package io.prefork.examples;

import io.prefork.worker.WorkerContext;

/**
 * Reads the examples' numeric worker settings, failing loudly on bad input: called from {@code start}, the failure
 * becomes a boot failure that stops the supervisor instead of serving with a mistyped value.
 */
final class Settings {

    private Settings() {
    }

    /**
     * @param context      the worker's context
     * @param key          the {@code --worker-setting} name
     * @param defaultValue used when the setting is absent
     * @param min          the smallest accepted value
     * @return the setting as an int
     * @throws IllegalArgumentException if the setting is not an integer of at least {@code min}
     */
    static int intSetting(WorkerContext context, String key, int defaultValue, int min) {
        String raw = context.settings().get(key);
        if (raw == null) {
            return defaultValue;
        }
        int value;
        try {
            value = Integer.parseInt(raw.trim());
        } catch (NumberFormatException e) {
            value = Integer.MIN_VALUE;
        }
        if (value < min) {
            throw new IllegalArgumentException(
                    "worker setting " + key + "=" + raw + " is invalid: expected an integer >= " + min);
        }
        return value;
    }

    /**
     * A boolean worker setting: {@code true} or {@code false}.
     *
     * @throws IllegalArgumentException if the setting is anything else
     */
    static boolean booleanSetting(WorkerContext context, String key, boolean defaultValue) {
        String raw = context.settings().get(key);
        if (raw == null) {
            return defaultValue;
        }
        switch (raw.trim()) {
            case "true":
                return true;
            case "false":
                return false;
            default:
                throw new IllegalArgumentException(
                        "worker setting " + key + "=" + raw + " is invalid: expected true or false");
        }
    }
}
