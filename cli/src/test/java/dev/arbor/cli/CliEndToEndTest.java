package dev.arbor.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The CLI as a user drives it: every step is a separate {@code arbor} process (the same main class the
 * {@code ./arbor} script runs) against one ARBOR_HOME, and every query goes through the real {@code psql}.
 */
class CliEndToEndTest {
  private TempDirectory home;

  record Result(int exit, String out, String err) {
    String lastLine() {
      var lines = out.strip().lines().toList();
      return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
    }
  }

  @BeforeEach
  void setUp() {
    home = TempDirectory.create("arbor-cli-");
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      arbor("down");
    } finally {
      home.close();
    }
  }

  @Test
  void upBranchDownUpAsAUserWould() throws Exception {
    Result up = ok(arbor("up"));
    String mainUri = up.lastLine();
    assertThat(mainUri).startsWith("postgresql://arbor:").endsWith("/arbor");
    psql(mainUri, "CREATE TABLE items (v int); INSERT INTO items SELECT generate_series(1, 100)");
    String lsn = ok(arbor("lsn", "main")).lastLine();
    assertThat(lsn).matches("[0-9A-F]+/[0-9A-F]+");
    psql(mainUri, "INSERT INTO items SELECT generate_series(101, 200)");

    Result created = ok(arbor("branch", "create", "b1", "--lsn", lsn));
    assertThat(created.out()).contains("b1").contains("main").contains(lsn);
    String b1Uri = ok(arbor("endpoint", "start", "b1")).lastLine();
    assertThat(psql(b1Uri, "SELECT count(*) FROM items")).isEqualTo("100");
    psql(b1Uri, "INSERT INTO items VALUES (1000)");
    assertThat(psql(mainUri, "SELECT count(*) FROM items WHERE v = 1000")).isEqualTo("0");
    assertThat(ok(arbor("connstr", "b1")).lastLine()).isEqualTo(b1Uri);
    assertThat(ok(arbor("branch", "list")).out()).contains("main").contains("└─ b1 @ " + lsn);

    ok(arbor("down"));
    assertThat(ok(arbor("status")).out()).doesNotContain("running");

    String mainAgain = ok(arbor("up")).lastLine();
    assertThat(psql(mainAgain, "SELECT count(*) FROM items")).isEqualTo("200");
    String b1Again = ok(arbor("endpoint", "start", "b1")).lastLine();
    assertThat(psql(b1Again, "SELECT count(*) FROM items")).isEqualTo("101");
    ok(arbor("endpoint", "stop", "b1"));

    ok(arbor("branch", "create", "b2", "--parent", "b1"));
    Result refused = arbor("branch", "delete", "b1");
    assertThat(refused.exit()).isEqualTo(1);
    assertThat(refused.err()).contains("child branches [b2]");
    ok(arbor("branch", "delete", "b2"));
    ok(arbor("branch", "delete", "b1"));
  }

  @Test
  void readOnlyEndpointAtAnLsnServesExactlyThatDataAndRefusesWrites() throws Exception {
    String mainUri = ok(arbor("up", "--safekeepers", "1")).lastLine();
    psql(mainUri, "CREATE TABLE items (v int); INSERT INTO items SELECT generate_series(1, 10)");
    String lsn = ok(arbor("lsn", "main")).lastLine();
    psql(mainUri, "INSERT INTO items SELECT generate_series(11, 20)");
    ok(arbor("endpoint", "stop", "main"));

    String snapshotUri = ok(arbor("endpoint", "start", "main", "--read-only", "--lsn", lsn)).lastLine();
    assertThat(psql(snapshotUri, "SELECT sum(v) FROM items")).isEqualTo("55");
    Result write = psqlResult(snapshotUri, "INSERT INTO items VALUES (-1)");
    assertThat(write.exit()).isNotZero();
    assertThat(write.err()).contains("cannot execute INSERT in a read-only transaction");
    ok(arbor("endpoint", "stop", "main"));

    String again = ok(arbor("endpoint", "start", "main")).lastLine();
    assertThat(psql(again, "SELECT sum(v) FROM items")).isEqualTo("210");
  }

  @Test
  void badInputGetsAClearErrorAndChangesNothing() throws Exception {
    ok(arbor("up", "--safekeepers", "1"));
    Result badLsn = arbor("branch", "create", "x", "--lsn", "not-an-lsn");
    assertThat(badLsn.exit()).isEqualTo(1);
    assertThat(badLsn.err()).contains("--lsn 'not-an-lsn' is not an LSN");
    Result beyond = arbor("branch", "create", "x", "--lsn", "FF/0");
    assertThat(beyond.exit()).isEqualTo(1);
    assertThat(beyond.err()).contains("beyond the head");
    Result unknownParent = arbor("branch", "create", "x", "--parent", "nope");
    assertThat(unknownParent.err()).contains("--parent: no branch 'nope'");
    Result noEndpoint = arbor("connstr", "nope");
    assertThat(noEndpoint.exit()).isEqualTo(1);
    assertThat(ok(arbor("branch", "list", "-o", "json")).out()).doesNotContain("\"x\"");
    Result otherCount = arbor("up", "--safekeepers", "3");
    assertThat(otherCount.exit()).isEqualTo(1);
    assertThat(otherCount.err()).contains("runs 1 safekeepers");
  }

  private Result ok(Result r) {
    assertThat(r.exit()).as("exit code; stderr:\n" + r.err()).isZero();
    return r;
  }

  private Result arbor(String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
        "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp", System.getProperty("java.class.path"), ArborCli.class.getName()));
    cmd.addAll(List.of(args));
    var pb = new ProcessBuilder(cmd);
    pb.environment().put("ARBOR_HOME", home.path().toString());
    return run(pb, 15);
  }

  private String psql(String uri, String sql) throws IOException, InterruptedException {
    Result r = psqlResult(uri, sql);
    assertThat(r.exit()).as("psql: " + r.err()).isZero();
    return r.out().strip();
  }

  private Result psqlResult(String uri, String sql) throws IOException, InterruptedException {
    Path psql = PostgresInstallation.find(15).binary("psql");
    return run(new ProcessBuilder(psql.toString(), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", sql), 2);
  }

  private static Result run(ProcessBuilder pb, int minutes) throws IOException, InterruptedException {
    Path err = Files.createTempFile("arbor-cli-err", ".txt");
    try {
      Process p = pb.redirectError(err.toFile()).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(minutes, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new AssertionError(pb.command() + " did not finish within " + minutes + " minutes");
      }
      return new Result(p.exitValue(), out, Files.readString(err));
    } finally {
      Files.deleteIfExists(err);
    }
  }
}
