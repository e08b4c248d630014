package io.prefork.supervisor;

import java.util.List;
import java.util.Objects;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * One row of the settings table, {@link Settings#ALL}: a supervisor setting as the command line spells it. That one
 * table drives the command line and its {@code --help} ({@link Main}) and the README's options reference
 * ({@link Settings#markdownTable()}), as gunicorn's {@code config.py} does.
 *
 * <p>A setting only turns text into typed values and hands them to {@link SupervisorConfig.Builder}. Ranges and rules
 * that involve several settings stay in {@link SupervisorConfig.Builder#build()}, the one place that validates, so a
 * value given on the command line and the same value given through the builder meet the same checks. Text that does
 * not parse (a {@code --workers abc}) is the setting's own error: a {@link ConfigException} naming the option, the
 * value and what to write instead.
 *
 * <p>Three shapes, told apart by {@link #flag()} and {@link #repeatable()}:
 * <ul>
 *   <li>a value, given at most once: {@code --workers N};
 *   <li>a repeatable value, each occurrence adding one: {@code --worker-setting KEY=VALUE}, or
 *       {@code --listen HOST:PORT}, which is also required (at least once);
 *   <li>a flag, with no value: present turns on what its name says ({@code --admin-allow-remote}, {@code --no-jmx}),
 *       absent is the default. There is no {@code --flag=false}: leave the flag out.
 * </ul>
 *
 * <p>Defaults live in {@link SupervisorConfig.Builder} (the embedding API has to have them too); {@link
 * #defaultText()} is how the default is shown to people, and a test checks that the two agree.
 */
public final class Setting {

    /** Applies the texts given for one setting to a builder; see {@link Setting#apply}. */
    @FunctionalInterface
    interface Applier {
        void apply(SupervisorConfig.Builder builder, List<String> values);
    }

    private final String name;
    private final String label;
    private final String defaultText;
    private final boolean required;
    private final boolean repeatable;
    private final String description;
    private final Applier applier;
    private final Function<SupervisorConfig, Object> reader;
    private final List<String> aliases;
    private final String brief;
    private final boolean process;

    private Setting(String name, String label, String defaultText, boolean required, boolean repeatable,
                    String description, Applier applier, Function<SupervisorConfig, Object> reader) {
        this(name, label, defaultText, required, repeatable, description, applier, reader, List.of(), null, false);
    }

    private Setting(String name, String label, String defaultText, boolean required, boolean repeatable,
                    String description, Applier applier, Function<SupervisorConfig, Object> reader,
                    List<String> aliases, String brief, boolean process) {
        if (!name.startsWith("--")) {
            throw new IllegalArgumentException("a setting's name is its long option, e.g. --workers: " + name);
        }
        this.aliases = List.copyOf(aliases);
        this.brief = brief;
        this.process = process;
        this.name = name;
        this.label = label;
        this.defaultText = defaultText;
        this.required = required;
        this.repeatable = repeatable;
        this.description = Objects.requireNonNull(description);
        this.applier = Objects.requireNonNull(applier);
        this.reader = Objects.requireNonNull(reader);
    }

    /** A value that must be given, e.g. {@code --listen HOST:PORT}. */
    static Setting required(String name, String label, String description,
                            BiConsumer<SupervisorConfig.Builder, String> apply, Function<SupervisorConfig, Object> reader) {
        return new Setting(name, label, null, true, false, description, (b, v) -> apply.accept(b, v.get(0)), reader);
    }

    /** A value that must be given at least once and may be given again, each occurrence adding one. */
    static Setting requiredRepeatable(String name, String label, String description,
                                      BiConsumer<SupervisorConfig.Builder, List<String>> apply,
                                      Function<SupervisorConfig, Object> reader) {
        return new Setting(name, label, null, true, true, description, apply::accept, reader);
    }

    /** An optional value with a default, shown to people as {@code defaultText} ("30", "number of CPUs", "none"). */
    static Setting value(String name, String label, String defaultText, String description,
                         BiConsumer<SupervisorConfig.Builder, String> apply, Function<SupervisorConfig, Object> reader) {
        return new Setting(name, label, Objects.requireNonNull(defaultText), false, false, description,
                (b, v) -> apply.accept(b, v.get(0)), reader);
    }

    /** A value that may be given any number of times; {@code apply} receives every occurrence, in order. */
    static Setting repeatable(String name, String label, String description,
                              BiConsumer<SupervisorConfig.Builder, List<String>> apply,
                              Function<SupervisorConfig, Object> reader) {
        return new Setting(name, label, null, false, true, description, apply::accept, reader);
    }

    /** A flag: no value; {@code apply} runs when it is present. */
    static Setting flag(String name, String description, Consumer<SupervisorConfig.Builder> apply,
                        Function<SupervisorConfig, Object> reader) {
        return new Setting(name, null, null, false, false, description, (b, v) -> apply.accept(b), reader);
    }

    /**
     * A setting of the command-line process only (its log, its settings file), not of {@link SupervisorConfig}:
     * {@link Main} reads its value; {@link #apply} does nothing with it. An embedding application configures these
     * itself (its own logging), so they have no builder method.
     */
    static Setting process(String name, String label, String defaultText, String description) {
        return new Setting(name, label, defaultText, false, false, description, (b, v) -> { }, c -> null,
                List.of(), null, true);
    }

    /**
     * This setting with other names too, e.g. gunicorn's {@code -b}/{@code --bind} for {@code --listen}: the
     * command line and the settings file accept them; help and README show them beside the name.
     */
    Setting aliases(String... names) {
        return new Setting(name, label, defaultText, required, repeatable, description, applier, reader,
                List.of(names), brief, process);
    }

    /**
     * This setting with a shorter text for {@code --help}, where the README's full one would be a wall (the help
     * adds a pointer to the README).
     */
    Setting brief(String text) {
        return new Setting(name, label, defaultText, required, repeatable, description, applier, reader, aliases,
                text, process);
    }

    /** Other names for it ({@code -b}, {@code --bind}); empty for most. */
    public List<String> aliases() {
        return aliases;
    }

    /** The text {@code --help} shows: the brief one if there is one, else {@link #description()}. */
    public String helpDescription() {
        return brief != null ? brief + " More in the README, under Options." : description;
    }

    /** Whether this is a setting of the command-line process only; see {@link #process}. */
    public boolean isProcessSetting() {
        return process;
    }

    /** The long option, e.g. {@code --workers}. */
    public String name() {
        return name;
    }

    /** The value's placeholder in usage text, e.g. {@code N}; null for a flag. */
    public String label() {
        return label;
    }

    /** {@code --workers N}, or just the name for a flag. */
    public String usage() {
        return flag() ? name : name + " " + label;
    }

    /**
     * The default as shown to people ({@code "30"}, {@code "number of CPUs"}, {@code "none"}); null for a required
     * setting, a repeatable one (default: none given) and a flag (default: absent).
     */
    public String defaultText() {
        return defaultText;
    }

    public boolean required() {
        return required;
    }

    /** Whether the option may be given more than once, each occurrence adding a value. */
    public boolean repeatable() {
        return repeatable;
    }

    /** Whether this is a flag, given without a value. */
    public boolean flag() {
        return label == null;
    }

    /**
     * What the setting does, in a sentence or two of Markdown (code in backticks); {@code --help} shows it with the
     * backticks removed.
     */
    public String description() {
        return description;
    }

    /**
     * Parses the texts given for this setting and sets them on {@code builder}.
     *
     * @param values the texts given on the command line, in order: exactly one for a value, one per occurrence for a
     *     repeatable value, none for a flag (which is applied by being present)
     * @throws ConfigException naming this setting and the value, when a text does not parse (ranges are checked
     *     later, by {@link SupervisorConfig.Builder#build()})
     */
    public void apply(SupervisorConfig.Builder builder, List<String> values) {
        int expected = flag() ? 0 : 1;
        if (!repeatable && values.size() != expected) {
            throw new IllegalArgumentException(name + " takes " + expected + " value(s), got " + values);
        }
        applier.apply(builder, values);
    }

    /** This setting's value in a built configuration (for status pages, and for the test that checks defaults). */
    public Object valueIn(SupervisorConfig config) {
        return reader.apply(config);
    }

    @Override
    public String toString() {
        return usage();
    }
}
