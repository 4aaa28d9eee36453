package dev.arbor.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A failure of {@code arbor} prints one line a person can act on, {@code arbor: ...}, and never a Java exception
 * class name or a stack trace: bad usage, and a failure deep in the storage engine (initdb in the pageserver).
 */
class CliFailureLineTest {
  private TempDirectory home;

  record Result(int exit, String out, String err) {
    /** The lines of stderr that are not progress of steps that went well ("starting sk-0 ... ok (0.2 s)"). */
    List<String> errorLines() {
      return err.lines().filter(l -> !l.matches(".* \\.\\.\\. ok \\(.*\\)")).toList();
    }
  }

  @BeforeEach
  void setUp() {
    home = TempDirectory.create("arbor-cli-");
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      arbor(Map.of(), "down");
    } finally {
      home.close();
    }
  }

  @Test
  void anUnknownCommandIsOneLineWithTheNearestCommandsAndWhereHelpIs() throws Exception {
    Result r = arbor(Map.of(), "stauts");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.errorLines()).singleElement().satisfies(line -> assertThat(line)
        .startsWith("arbor: ").contains("'stauts'").contains("./arbor status").contains("(see ./arbor --help)"));
    assertNoJavaIn(r);
  }

  @Test
  void aBadOptionValueIsOneLineNamingTheOptionAndTheCommandsHelp() throws Exception {
    Result r = arbor(Map.of(), "up", "--safekeepers", "many");
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

    Result r = arbor(Map.of("ARBOR_PG15_BIN", bin.toString()), "up", "--safekeepers", "1");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errorLines()).as("stderr:\n%s", r.err()).hasSize(2);
    assertThat(r.errorLines().getFirst()).isEqualTo("creating project default (initdb) ... failed");
    assertThat(r.errorLines().getLast())
        .startsWith("arbor: the storage engine failed: initdb into ")
        .contains("No space left on device")
        .contains(home.resolve("logs").toString());
    assertNoJavaIn(r);
  }

  private static void assertNoJavaIn(Result r) {
    assertThat(r.err()).doesNotContain("Exception").doesNotContain("java.").doesNotContain("\tat ");
  }

  private Result arbor(Map<String, String> env, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
        "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp", System.getProperty("java.class.path"), ArborCli.class.getName()));
    cmd.addAll(List.of(args));
    var pb = new ProcessBuilder(cmd);
    pb.environment().put("ARBOR_HOME", home.path().toString());
    pb.environment().putAll(env);
    Path err = Files.createTempFile("arbor-cli-err", ".txt");
    try {
      Process p = pb.redirectError(err.toFile()).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new AssertionError(cmd + " did not finish within 5 minutes");
      }
      return new Result(p.exitValue(), out, Files.readString(err));
    } finally {
      Files.deleteIfExists(err);
    }
  }
}
