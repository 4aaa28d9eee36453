package dev.arbor.compute.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.compute.AgentActivity;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Database;
import dev.arbor.api.compute.ComputeAgentSpec.Role;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.client.ComputeAgentClient;
import dev.arbor.compute.start.ComputeStart;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.testing.AgentProcess;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * What keeps a compute awake, as its agent sees it (docs/compute-agent.md, "Activity"), against one real agent shared
 * by the cases: each case first waits until nothing keeps the compute awake. A client connection of a tenant's role
 * and an open transaction keep it awake, so do a logical walsender and an autovacuum at work; the compute's own
 * roles, the safekeepers' walsenders and a monitoring loop of the superuser never do. {@code GET /activity} samples
 * PostgreSQL for each call and says why; {@code POST /activity} (the proxy) moves the last activity to now.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ComputeActivityTest {
  private static final String APP_PASSWORD = "app-activity-1";
  /** Long enough for several samples (one a second) to pass. */
  private static final Duration IDLE_WATCH = Duration.ofSeconds(4);

  private StorageProcesses storage;
  private TempDirectory work;
  private AgentProcess agent;
  private ComputeAgentClient client;

  @BeforeAll
  void startAgent() throws Exception {
    storage = new StorageProcesses(1).start();
    work = TempDirectory.create("arbor-activity-");
    TenantInfo tenant = storage.createTenant(15);
    Path passwordFile = work.resolve("app-password");
    Files.writeString(passwordFile, APP_PASSWORD);
    ComputeAgentSpec spec = AgentSpecs.readWrite(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("agent"),
        List.of(new Role("app", passwordFile.toString(), null, null, null, null)), List.of(new Database("app", "app")));
    // Autovacuum looks for work every second, in every database: its workers that find none must not count either.
    agent = AgentProcess.start(AgentSpecs.withParameters(spec, Map.of("autovacuum_naptime", "1s")), work.resolve("spec.json"),
        Map.of());
    agent.awaitRunning();
    client = agent.client();
  }

  @AfterAll
  void stopAgent() throws Exception {
    try (var s = storage; var w = work; var a = agent) {
      if (a != null) {
        assertThat(a.sigterm()).isEqualTo(0);
      }
    }
  }

  @Test
  void theComputesOwnRolesAreTheOnesASpecMayNotName() {
    // A tenant's role named like an internal one would be ignored, and an internal role a tenant could take over would count.
    assertThat(ComputeStart.INTERNAL_ROLES).isEqualTo(ComputeAgentSpec.RESERVED_ROLES);
  }

  @Test
  @Order(1)
  void theSafekeepersAndAMonitoringLoopOfTheSuperuserKeepNothingAwake() throws Exception {
    awaitIdle();
    try (Connection su = agent.superuser("postgres")) {
      await().atMost(Duration.ofMinutes(1)).until(() -> count(su, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'")
          >= 1);
    }
    var stop = new AtomicBoolean();
    var rounds = new AtomicInteger();
    // A slower monitoring query on a connection it keeps: running most of the time, each transaction under a second.
    var slowRounds = new AtomicInteger();
    Thread slowMonitoring = Thread.ofPlatform().name("slow-monitoring-loop").start(() -> {
      try (Connection su = agent.superuser("postgres"); Statement st = su.createStatement()) {
        while (!stop.get()) {
          st.execute("SELECT pg_sleep(0.4), count(*) FROM pg_stat_activity");
          slowRounds.incrementAndGet();
        }
      } catch (SQLException e) {
        // the check below sees too few rounds
      }
    });
    Thread monitoring = Thread.ofPlatform().name("monitoring-loop").start(() -> {
      while (!stop.get()) {
        try (Connection su = agent.superuser("postgres"); Statement st = su.createStatement();
            ResultSet rs = st.executeQuery("SELECT * FROM pg_stat_activity")) {
          while (rs.next()) {
            rs.getString("state");
          }
          rounds.incrementAndGet();
          Thread.sleep(100);
        } catch (SQLException | InterruptedException e) {
          return;
        }
      }
    });
    try {
      assertStaysIdle();
    } finally {
      stop.set(true);
      monitoring.join();
      slowMonitoring.join();
    }
    assertThat(rounds.get()).as("monitoring rounds").isGreaterThan(10);
    assertThat(slowRounds.get()).as("slow monitoring rounds").isGreaterThan(4);
  }

  @Test
  @Order(2)
  void anOpenConnectionOfATenantsRoleKeepsItAwakeUntilItCloses() throws Exception {
    awaitIdle();
    Instant connected = Instant.now();
    try (Connection app = agent.connect("app", "app", APP_PASSWORD)) {
      assertThat(app.isValid(5)).isTrue();
      // The connection does nothing: its being open is what keeps the compute awake, sample after sample.
      await().atMost(Duration.ofSeconds(30)).until(() -> client.status().lastActivity().isAfter(connected.plusSeconds(3)));
      assertThat(client.activity().keptAwakeBy()).containsExactly("1 client connection (app)");
    }
    awaitIdle();
    assertStaysIdle();
  }

  @Test
  @Order(3)
  void anOpenTransactionKeepsItAwakeWhoeverHoldsIt() throws Exception {
    awaitIdle();
    try (Connection su = agent.superuser("postgres"); Connection app = agent.connect("app", "app", APP_PASSWORD)) {
      int suPid = beginTransaction(su);
      int appPid = beginTransaction(app);
      Instant open = Instant.now();
      // The superuser's transaction counts once it has been open a second; the app's at once, its connection too.
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(client.activity().keptAwakeBy()).containsExactly(
          "1 client connection (app)", "open transaction in pid " + suPid + " (role postgres)",
          "open transaction in pid " + appPid + " (role app)"));
      app.rollback();
      app.close();
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(client.activity().keptAwakeBy()).containsExactly(
          "open transaction in pid " + suPid + " (role postgres)"));
      await().atMost(Duration.ofSeconds(30)).until(() -> client.status().lastActivity().isAfter(open.plusSeconds(3)));
      su.rollback();
    }
    awaitIdle();
    assertStaysIdle();
  }

  @Test
  @Order(4)
  void aClientConnectionTheProxyReportsMovesTheLastActivityToNow() throws Exception {
    awaitIdle();
    Instant before = Instant.now();
    client.touch();
    Instant touched = client.status().lastActivity();
    assertThat(touched).as("at once, not at the next sample").isAfterOrEqualTo(before).isBeforeOrEqualTo(Instant.now());
    AgentActivity activity = client.activity();
    assertThat(activity.lastActivity()).isEqualTo(touched);
    assertThat(activity.keptAwakeBy()).isEmpty();
    assertStaysIdle();
  }

  @Test
  @Order(5)
  void aLogicalWalsenderKeepsItAwake() throws Exception {
    awaitIdle();
    try (Connection walsender = agent.superuser("postgres", Map.of("replication", "database", "assumeMinServerVersion", "10",
        "preferQueryMode", "simple", "ApplicationName", "logical-consumer"))) {
      int pid;
      try (Connection su = agent.superuser("postgres")) {
        pid = (int) count(su, "SELECT pid FROM pg_stat_activity WHERE application_name = 'logical-consumer' AND backend_type = 'walsender'");
      }
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(client.activity().keptAwakeBy())
          .containsExactly("logical replication (pid " + pid + ", database postgres)"));
      assertThat(walsender.isClosed()).isFalse();
    }
    awaitIdle();
  }

  @Test
  @Order(6)
  void anAutovacuumAtWorkKeepsItAwake() throws Exception {
    awaitIdle();
    try (Connection app = agent.connect("app", "app", APP_PASSWORD); Statement st = app.createStatement()) {
      // Throttled hard (a 100 ms pause per page it dirties), so the worker stays on the table for many samples.
      st.execute("CREATE TABLE churn (id int) WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, "
          + "autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)");
      st.execute("INSERT INTO churn SELECT generate_series(1, 20000)");
      st.execute("DELETE FROM churn");
    }
    await().atMost(Duration.ofMinutes(1)).untilAsserted(() -> assertThat(client.activity().keptAwakeBy())
        .anyMatch(r -> r.matches("autovacuum on public\\.churn \\(database app\\)")));
    try (Connection app = agent.connect("app", "app", APP_PASSWORD); Statement st = app.createStatement()) {
      st.execute("DROP TABLE churn"); // the worker gives way to the lock and is cancelled
    }
    awaitIdle();
  }

  /** Waits until nothing keeps the compute awake (what an earlier case started has ended). */
  private void awaitIdle() {
    await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(250)).until(() -> client.activity().keptAwakeBy().isEmpty());
  }

  /** For {@link #IDLE_WATCH}, the last activity stays where it is, in the cached status and in fresh samples. */
  private void assertStaysIdle() throws Exception {
    Instant idleSince = client.status().lastActivity();
    Instant end = Instant.now().plus(IDLE_WATCH);
    while (Instant.now().isBefore(end)) {
      Thread.sleep(250);
      AgentActivity fresh = client.activity();
      assertThat(fresh.keptAwakeBy()).as("what keeps an idle compute awake").isEmpty();
      assertThat(fresh.lastActivity()).as("last activity in a fresh sample").isEqualTo(idleSince);
      assertThat(client.status().lastActivity()).as("last activity in the status").isEqualTo(idleSince);
    }
  }

  private static int beginTransaction(Connection c) throws SQLException {
    c.setAutoCommit(false);
    return (int) count(c, "SELECT pg_backend_pid() FROM (SELECT txid_current()) x");
  }

  private static long count(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }
}
