package io.prefork.supervisor.internal.upgrade;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The new supervisor's JVM options: this one's, plus what "java -jar" got from the manifest and -cp does not. */
@Timeout(value = 10, unit = TimeUnit.SECONDS)
class UpgraderCommandTest {

    @Test
    void aJarStartedSupervisorPassesTheManifestsOpensAndNativeAccessOnTheCommandLine() {
        assertEquals(List.of("-Xmx64m", "--add-opens", "jdk.httpserver/sun.net.httpserver=ALL-UNNAMED",
                "--enable-native-access=ALL-UNNAMED"), Upgrader.manifestOptions(List.of("-Xmx64m")));
    }

    @Test
    void optionsTheUserAlreadyGaveAreNotRepeated() {
        List<String> given = List.of("--add-opens=jdk.httpserver/sun.net.httpserver=ALL-UNNAMED",
                "--enable-native-access=ALL-UNNAMED");
        assertEquals(given, Upgrader.manifestOptions(given));
        List<String> split = List.of("--add-opens", "jdk.httpserver/sun.net.httpserver=ALL-UNNAMED",
                "--enable-native-access=ALL-UNNAMED");
        assertEquals(split, Upgrader.manifestOptions(split));
    }
}
