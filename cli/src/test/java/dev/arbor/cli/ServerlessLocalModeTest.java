package dev.arbor.cli;

import static dev.arbor.cli.CliProcesses.psql;
import static dev.arbor.cli.CliProcesses.psqlResult;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.cli.CliProcesses.Result;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Scale to zero in local mode, as a user meets it: an endpoint with a suspend timeout is suspended once idle,
 * shows so in {@code endpoint list}, and the URI it printed wakes it (psql gets its answer, not an error). Open
 * connections and open transactions keep it awake; an endpoint stopped by hand is never woken.
 */
class ServerlessLocalModeTest {
  @RegisterExtension
  final FreshArborHome home = new FreshArborHome("arbor-serverless-");

  @Test
  void anIdleEndpointIsSuspendedAndAConnectionWakesIt() throws Exception {
    Arbor arbor = home.arbor();
    arbor.ok("up");
    arbor.ok("branch", "create", "dev");
    String uri = arbor.ok("endpoint", "start", "dev", "--suspend-timeout", "10s").lastLine();
    psql(uri, "CREATE TABLE t (v int); INSERT INTO t SELECT generate_series(1, 1000)");

    long idleFrom = System.nanoTime();
    awaitState(arbor, "dev", "suspended", Duration.ofSeconds(45));
    assertThat(Duration.ofNanos(System.nanoTime() - idleFrom)).isGreaterThanOrEqualTo(Duration.ofSeconds(9));
    assertThat(arbor.ok("endpoint", "list").out()).contains(uri); // a suspended endpoint keeps its URI
    assertThat(arbor.ok("connstr", "dev").lastLine()).isEqualTo(uri);

    // psql with the printed URI wakes it: the answer, no error
    assertThat(psql(uri, "SELECT count(*) FROM t")).isEqualTo("1000");
    assertThat(state(arbor, "dev")).isEqualTo("running");

    // An open connection through the proxy keeps it awake past the timeout, and so does an open transaction.
    try (Connection idle = DriverManager.getConnection(jdbc(uri))) {
      Thread.sleep(14_000);
      assertThat(state(arbor, "dev")).isEqualTo("running");
      try (Statement st = idle.createStatement()) {
        st.execute("SELECT 1");
      }
    }
    try (Connection tx = DriverManager.getConnection(jdbc(uri))) {
      tx.setAutoCommit(false);
      try (Statement st = tx.createStatement()) {
        st.execute("INSERT INTO t VALUES (0)");
      }
      Thread.sleep(14_000);
      assertThat(state(arbor, "dev")).isEqualTo("running");
      tx.commit();
    }
    awaitState(arbor, "dev", "suspended", Duration.ofSeconds(45));
    assertThat(psql(uri, "SELECT count(*) FROM t")).isEqualTo("1001");

    // Stopped by hand: connections are refused with the reason, and nothing starts the compute.
    arbor.ok("endpoint", "stop", "dev");
    Result refused = psqlResult(uri, "SELECT 1");
    assertThat(refused.exit()).isNotZero();
    assertThat(refused.err()).contains("is stopped; connections do not wake it").contains("./arbor endpoint start dev");
    assertThat(state(arbor, "dev")).isEqualTo("stopped");
    assertThat(psql(arbor.ok("endpoint", "start", "dev").lastLine(), "SELECT count(*) FROM t")).isEqualTo("1001");
  }

  @Test
  void aSuspendTimeoutThatIsNotADurationIsRefused() throws Exception {
    Arbor arbor = home.arbor();
    arbor.ok("up");
    Result bad = arbor.run("endpoint", "start", "main", "--suspend-timeout", "ten");
    assertThat(bad.exit()).isEqualTo(1);
    assertThat(bad.err()).contains("--suspend-timeout 'ten' is not a duration");
  }

  static String jdbc(String uri) {
    Matcher m = Pattern.compile("postgresql://([^:]+):([^@]+)@([^:/]+):(\\d+)/(.+)").matcher(uri);
    assertThat(m.matches()).as(uri).isTrue();
    return "jdbc:postgresql://" + m.group(3) + ":" + m.group(4) + "/" + m.group(5) + "?user=" + m.group(1) + "&password=" + m.group(2);
  }

  static String state(Arbor arbor, String branch) throws Exception {
    for (String line : arbor.ok("endpoint", "list").out().split("\n")) {
      String[] cols = line.trim().split("\\s+");
      if (cols.length > 2 && cols[0].equals(branch)) {
        return cols[2];
      }
    }
    throw new AssertionError("no endpoint " + branch + " in endpoint list");
  }

  static void awaitState(Arbor arbor, String branch, String wanted, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    String last;
    do {
      last = state(arbor, branch);
      if (last.equals(wanted)) {
        return;
      }
      Thread.sleep(500);
    } while (System.nanoTime() < deadline);
    throw new AssertionError("endpoint " + branch + " is " + last + ", not " + wanted + ", after " + timeout.toSeconds() + " s");
  }
}
