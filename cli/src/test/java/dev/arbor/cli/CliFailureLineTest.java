package dev.arbor.cli;

import static dev.arbor.cli.CliProcesses.assertNoJavaIn;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.cli.CliProcesses.Result;
import dev.arbor.postgres.PostgresInstallation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A failure of {@code arbor} prints one line a person can act on, {@code arbor: ...}, and never a Java exception
 * class name or a stack trace: bad usage, and a failure deep in the storage engine (initdb in the pageserver).
 */
class CliFailureLineTest {
  @RegisterExtension
  final FreshArborHome home = new FreshArborHome("arbor-cli-");

  @Test
  void anUnknownCommandIsOneLineWithTheNearestCommandsAndWhereHelpIs() throws Exception {
    Result r = home.arbor().run("stauts");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.errorLines()).singleElement().satisfies(line -> assertThat(line)
        .startsWith("arbor: ").contains("'stauts'").contains("./arbor status").contains("(see ./arbor --help)"));
    assertNoJavaIn(r);
  }

  @Test
  void aBadOptionValueIsOneLineNamingTheOptionAndTheCommandsHelp() throws Exception {
    Result r = home.arbor().run("up", "--safekeepers", "many");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.errorLines()).singleElement().satisfies(line -> assertThat(line)
        .startsWith("arbor: ").contains("--safekeepers").contains("'many'").contains("./arbor up --help"));
    assertNoJavaIn(r);
  }

  /**
   * initdb fails inside the pageserver (here a stand-in initdb that fails as a full disk would): the pageserver
   * answers 500 with an IOException's message, and the CLI ends its progress line and prints one line.
   */
  @Test
  void anInitdbFailureInThePageserverIsOneLineSayingWhatFailedAndWhereTheLogIs() throws Exception {
    Path bin = Files.createDirectories(home.resolve("pg15-bin"));
    try (Stream<Path> real = Files.list(PostgresInstallation.find(15).binDir())) {
      for (Path b : real.toList()) {
        if (!b.getFileName().toString().equals("initdb")) {
          Files.createSymbolicLink(bin.resolve(b.getFileName()), b);
        }
      }
    }
    Path initdb = bin.resolve("initdb");
    Files.writeString(initdb, "#!/bin/sh\necho 'initdb: error: could not create directory \"pgdata\": No space left on device' >&2\nexit 1\n");
    Files.setPosixFilePermissions(initdb, PosixFilePermissions.fromString("rwxr-xr-x"));

    Result r = home.arbor().with(Map.of("ARBOR_PG15_BIN", bin.toString())).run("up", "--safekeepers", "1");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errorLines()).as("stderr:\n%s", r.err()).hasSize(2);
    assertThat(r.errorLines().getFirst()).isEqualTo("creating project default (initdb) ... failed");
    assertThat(r.errorLines().getLast())
        .startsWith("arbor: the storage engine failed: initdb into ")
        .contains("No space left on device")
        .contains(home.resolve("logs").toString());
    assertNoJavaIn(r);
  }
}
