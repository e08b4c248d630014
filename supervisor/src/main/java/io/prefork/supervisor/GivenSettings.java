package io.prefork.supervisor;

import io.prefork.supervisor.internal.systemd.SocketActivation;
import java.io.IOException;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * The settings given to one run of the command line, gathered from its three sources, each named by the settings
 * table ({@link Settings#ALL}): the command line, the {@code PREFORK_CMD_ARGS} environment variable (gunicorn's
 * {@code GUNICORN_CMD_ARGS}) and a {@code --config} file. A source overrides a setting of a lower one as a whole (a
 * repeatable {@code --listen} on the command line replaces the file's, it does not add to them): command line over
 * environment over file, as in gunicorn.
 *
 * <p>Remembers where each value came from, so an error in a value from the file names the file and line.
 *
 * <p>The file format: {@code name = value} lines, {@code name} an option's long name without {@code --} (or one of
 * its aliases), {@code #} starting a comment line, blank lines ignored; a repeatable setting on several lines; a flag
 * as {@code name = true} (or {@code false}). Line-based rather than {@code java.util.Properties}: Properties keeps only
 * the last of several {@code listen} lines and forgets line numbers, which the errors need.
 */
final class GivenSettings {
    /** The environment variable with extra arguments, parsed like a shell's words. */
    static final String ENV = "PREFORK_CMD_ARGS";

    private final Map<Setting, List<String>> values = new LinkedHashMap<>();
    private final Map<Setting, String> sources = new LinkedHashMap<>();

    /** The values of {@code parsed} (one source), overriding what was given before. */
    void addParsed(ParseResult parsed, String source) {
        for (Setting s : Settings.ALL) {
            OptionSpec option = parsed.matchedOption(s.name());
            if (option == null) {
                continue; // not given: a lower source's value, or the builder's default
            }
            List<String> v;
            if (s.flag()) {
                v = List.of();
            } else if (s.repeatable()) {
                v = option.getValue();
            } else {
                String one = option.getValue();
                v = List.of(one);
            }
            values.put(s, v);
            if (source != null) {
                sources.put(s, source);
            } else {
                sources.remove(s);
            }
        }
    }

    /**
     * Reads a settings file; its values override nothing given yet (call it first).
     *
     * @throws ConfigException naming {@code --config}, the file, the line and what to write instead
     */
    void addFile(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ConfigException("--config", file, "does not exist (as seen from "
                    + Path.of("").toAbsolutePath() + "); fix the path");
        } catch (MalformedInputException e) {
            throw new ConfigException("--config", file, "is not UTF-8 text; save it as UTF-8");
        } catch (IOException e) {
            throw new ConfigException("--config", file, "cannot be read: " + e.getMessage());
        }
        Map<Setting, Integer> firstLine = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String where = file + " line " + (i + 1);
            int eq = line.indexOf('=');
            if (eq < 0) {
                throw new ConfigException("--config", where, "'" + line + "' is not 'name = value'; e.g. "
                        + "'workers = 4' (a flag: 'no-jmx = true')");
            }
            String key = line.substring(0, eq).strip();
            String value = line.substring(eq + 1).strip();
            String name = key.startsWith("-") ? key : (key.length() == 1 ? "-" : "--") + key;
            Setting s = Settings.named(name);
            if (s == null) {
                String near = nearest(key);
                throw new ConfigException("--config", where, "unknown setting '" + key + "'"
                        + (near != null ? "; did you mean '" + near + "'?" : "")
                        + " (the names are the options of --help without '--')");
            }
            if (s.name().equals("--config")) {
                throw new ConfigException("--config", where, "a settings file cannot name another one; give "
                        + "--config on the command line");
            }
            Integer before = firstLine.putIfAbsent(s, i + 1);
            if (before != null && !s.repeatable()) {
                throw new ConfigException("--config", where, "'" + key + "' is given again (first on line " + before
                        + "); give it once");
            }
            if (s.flag()) {
                String v = value.toLowerCase(Locale.ROOT);
                if (!v.equals("true") && !v.equals("false")) {
                    throw new ConfigException("--config", where, "'" + key + "' is a flag: write '" + key
                            + " = true' or leave it out (not '" + value + "')");
                }
                if (v.equals("true")) {
                    values.put(s, List.of());
                    sources.put(s, "--config " + where);
                }
                continue;
            }
            List<String> v = values.computeIfAbsent(s, k -> new ArrayList<>());
            if (before == null) {
                v.clear();
            }
            v.add(value);
            // A repeatable setting from several lines: its first line locates it well enough.
            if (before == null) {
                sources.put(s, "--config " + where);
            }
        }
    }

    /** The setting's one value as given, or null. */
    String value(String name) {
        List<String> v = values.get(Settings.named(name));
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    /** The required settings given nowhere, by name. */
    List<String> missing() {
        List<String> out = new ArrayList<>();
        for (Setting s : Settings.ALL) {
            if (s.required() && !values.containsKey(s)) {
                out.add(s.name());
            }
        }
        return out;
    }

    /** Where the value of {@code settingName} came from, as " (from ...)", or "" for the command line. */
    String sourceOf(String settingName) {
        Setting s = Settings.named(settingName);
        String src = s == null ? null : sources.get(s);
        return src == null ? "" : " (from " + src + ")";
    }

    /** Checks the process settings' values (the rest is the builder's to check). */
    void checkProcessSettings() {
        check("--log-level", Settings.LOG_LEVELS);
        check("--log-format", Settings.LOG_FORMATS);
    }

    private void check(String name, List<String> allowed) {
        String v = value(name);
        if (v != null && !allowed.contains(v)) {
            throw new ConfigException(name, v, "must be one of " + String.join(", ", allowed) + sourceOf(name));
        }
    }

    /** A builder with every given setting applied, validated. */
    SupervisorConfig config() {
        return config(SocketActivation.fromEnvironment(java.util.Map.of(), 0));
    }

    /** Like {@link #config()}, serving the sockets systemd (or an upgrade) passed, if any, instead of --listen. */
    SupervisorConfig config(SocketActivation activation) {
        SupervisorConfig.Builder b = SupervisorConfig.builder().inheritedListeners(activation.named(),
                activation.upgrade() ? SupervisorConfig.FROM_UPGRADE : SupervisorConfig.FROM_SERVICE_MANAGER);
        values.forEach((s, v) -> s.apply(b, v));
        return b.build();
    }

    /** The setting name closest to {@code key} (at most two edits away), without {@code --}; or null. */
    private static String nearest(String key) {
        String best = null;
        int bestDistance = 3;
        for (Setting s : Settings.ALL) {
            String n = s.name().substring(2);
            int d = distance(key.toLowerCase(Locale.ROOT), n);
            if (d < bestDistance) {
                best = n;
                bestDistance = d;
            }
        }
        return best;
    }

    /** Levenshtein distance. */
    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    /**
     * Splits {@code text} into words as a POSIX shell would, without expansions: whitespace separates, single
     * quotes keep everything, double quotes keep everything but {@code \"} and {@code \\}, a backslash outside
     * quotes escapes the next character. gunicorn splits {@code GUNICORN_CMD_ARGS} with Python's {@code shlex}.
     *
     * @throws ConfigException naming {@link #ENV} when a quote is not closed
     */
    static List<String> words(String text) {
        List<String> out = new ArrayList<>();
        StringBuilder w = new StringBuilder();
        boolean inWord = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isWhitespace(c)) {
                if (inWord) {
                    out.add(w.toString());
                    w.setLength(0);
                    inWord = false;
                }
            } else if (c == '\'') {
                int end = text.indexOf('\'', i + 1);
                if (end < 0) {
                    throw new ConfigException(ENV, "'" + text + "'", "has a ' that is not closed");
                }
                w.append(text, i + 1, end);
                i = end;
                inWord = true;
            } else if (c == '"') {
                int j = i + 1;
                for (; j < text.length() && text.charAt(j) != '"'; j++) {
                    char d = text.charAt(j);
                    char next = j + 1 < text.length() ? text.charAt(j + 1) : 0;
                    if (d == '\\' && (next == '"' || next == '\\')) {
                        d = text.charAt(++j);
                    }
                    w.append(d);
                }
                if (j >= text.length()) {
                    throw new ConfigException(ENV, "'" + text + "'", "has a \" that is not closed");
                }
                i = j;
                inWord = true;
            } else if (c == '\\' && i + 1 < text.length()) {
                w.append(text.charAt(++i));
                inWord = true;
            } else {
                w.append(c);
                inWord = true;
            }
        }
        if (inWord) {
            out.add(w.toString());
        }
        return out;
    }
}
