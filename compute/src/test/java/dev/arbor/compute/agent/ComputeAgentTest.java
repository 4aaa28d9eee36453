package dev.arbor.compute.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.compute.AgentStatus;
import dev.arbor.api.compute.AgentStatus.Phase;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Database;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.api.compute.ComputeAgentSpec.Role;
import dev.arbor.testing.AgentProcess;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import java.net.http.HttpResponse;
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
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The compute agent as a process of its own, as Kubernetes and the CLI run it: it starts a compute from the
 * storage engine, applies roles and databases (idempotently, scram passwords from a file and from the
 * environment), serves status and metrics, forwards PostgreSQL's log, and on SIGTERM stops PostgreSQL
 * cleanly and exits 0 with every commit on the safekeepers.
 */
class ComputeAgentTest {
  private static final String APP_PASSWORD = "app-secret-1";
  private static final String REPORTER_PASSWORD = "rep'orter \"secret\" 2"; // quotes must survive SQL and JSON

  @Test
  void runsAComputeWithItsRolesAndDatabasesAndStopsCleanlyOnSigterm() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-agent-")) {
      TenantInfo tenant = storage.createTenant(15);
      Path appPasswordFile = work.resolve("app-password");
      Files.writeString(appPasswordFile, APP_PASSWORD + "\n"); // as `echo secret > file` writes it
      List<Role> roles = List.of(new Role("app", appPasswordFile.toString(), null, null, true, null),
          new Role("reporter", null, "REPORTER_PASSWORD", null, null, null));
      List<Database> databases = List.of(new Database("app", "app"), new Database("reports", "reporter"));
      Map<String, String> env = Map.of("REPORTER_PASSWORD", REPORTER_PASSWORD);
      ComputeAgentSpec first = AgentSpecs.readWrite(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("agent-1"),
          roles, databases);

      String catalogBefore;
      long firstGeneration;
      try (AgentProcess agent = AgentProcess.start(first, work.resolve("spec-1.json"), env)) {
        AgentStatus status = agent.awaitRunning();
        assertThat(status.mode()).isEqualTo(ComputeAgentSpec.Mode.READ_WRITE);
        assertThat(status.tenant()).isEqualTo(tenant.tenantId());
        assertThat(status.timeline()).isEqualTo(tenant.rootTimelineId());
        assertThat(status.generation()).isPositive();
        assertThat(status.pgTli()).isEqualTo(2); // initdb wrote TLI 1
        assertThat(status.startedAt()).isNotNull();
        assertThat(status.currentLsn()).isNotNull();
        assertThat(status.lastActivity()).isNotNull();
        assertThat(status.fenced()).isFalse();
        firstGeneration = status.generation();

        // Sessions of the compute itself are no client activity: the agent's sample every second, the slot
        // trimmer's pass every 2 s, the safekeepers' walsenders (ComputeActivityTest has the rest).
        Instant idleSince = agent.status().lastActivity();
        Thread.sleep(5000);
        assertThat(agent.status().lastActivity()).as("last activity of a compute no client used").isEqualTo(idleSince);

        // The roles log in over TCP with their passwords; pg_hba only offers scram-sha-256.
        try (Connection app = agent.connect("app", "app", APP_PASSWORD); Statement st = app.createStatement()) {
          st.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)");
          st.execute("INSERT INTO orders SELECT g, 'first' FROM generate_series(1, 100) g");
        }
        try (Connection reporter = agent.connect("reports", "reporter", REPORTER_PASSWORD)) {
          assertThat(one(reporter, "SELECT current_user || '@' || current_database()")).isEqualTo("reporter@reports");
        }
        assertThatThrownBy(() -> agent.connect("app", "app", "wrong").close())
            .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("28P01"));
        try (Connection su = agent.superuser("postgres")) {
          assertThat(one(su, "SELECT string_agg(rolname || ' ' || left(rolpassword, 14) || ' ' || rolcreatedb, ', ' ORDER BY rolname) "
              + "FROM pg_authid WHERE rolname IN ('app', 'reporter')"))
              .isEqualTo("app SCRAM-SHA-256$ true, reporter SCRAM-SHA-256$ false");
          assertThat(one(su, "SELECT string_agg(datname || ' ' || pg_get_userbyid(datdba), ', ' ORDER BY datname) "
              + "FROM pg_database WHERE datname IN ('app', 'reports')")).isEqualTo("app app, reports reporter");
          catalogBefore = catalogRows(su);
        }

        HttpResponse<String> metrics = agent.metrics();
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.headers().firstValue("Content-Type")).contains("text/plain; version=0.0.4; charset=utf-8");
        Map<String, Double> series = PrometheusText.parse(metrics.body());
        assertThat(series).containsEntry("arbor_compute_up", 1.0)
            .containsEntry("arbor_compute_phase{phase=\"Running\"}", 1.0)
            .containsEntry("arbor_compute_phase{phase=\"Starting\"}", 0.0)
            .containsEntry("arbor_compute_generation", (double) firstGeneration)
            .containsEntry("arbor_compute_pg_tli", 2.0)
            .containsEntry("arbor_compute_fenced", 0.0)
            .containsKeys("arbor_compute_connections", "arbor_compute_start_duration_seconds",
                "arbor_compute_last_activity_timestamp_seconds", "arbor_compute_info{mode=\"read_write\",postgres_version=\"15\",tenant=\""
                    + tenant.tenantId() + "\",timeline=\"" + tenant.rootTimelineId() + "\"}");
        assertThat(series.get("arbor_compute_current_lsn_bytes")).isPositive();

        // A commit acknowledged right before SIGTERM.
        try (Connection app = agent.connect("app", "app", APP_PASSWORD); Statement st = app.createStatement()) {
          st.execute("INSERT INTO orders VALUES (101, 'just before SIGTERM')");
        }
        long postmaster = agent.postmasterPid().orElseThrow();
        assertThat(agent.sigterm()).as("exit code after SIGTERM").isEqualTo(0);
        assertThat(ProcessHandle.of(postmaster).map(ProcessHandle::isAlive)).as("PostgreSQL after the agent exited").isNotEqualTo(
            Optional.of(true));
        assertThat(agent.postmasterPid()).as("postmaster.pid is removed by a clean shutdown").isEmpty();
        assertThat(agent.output()).as("PostgreSQL's own log lines on the agent's stdout")
            .anyMatch(l -> l.contains("LOG:  database system is ready to accept connections"))
            .anyMatch(l -> l.contains("LOG:  database system is shut down"))
            .anyMatch(l -> l.contains("event=agent_stopped"));
        assertNoSecretsOrStackTraces(agent);
      }

      // The same spec again, on a fresh directory: all data is back, and roles and databases stay untouched.
      try (AgentProcess agent = AgentProcess.start(AgentSpecs.movedTo(first, work.resolve("agent-2")), work.resolve("spec-2.json"), env)) {
        AgentStatus status = agent.awaitRunning();
        assertThat(status.generation()).isGreaterThan(firstGeneration);
        try (Connection app = agent.connect("app", "app", APP_PASSWORD)) {
          assertThat(one(app, "SELECT count(*) || ' ' || count(*) FILTER (WHERE note = 'first') || ' ' || max(id) FROM orders"))
              .isEqualTo("101 100 101");
        }
        try (Connection su = agent.superuser("postgres")) {
          assertThat(catalogRows(su)).as("pg_authid and pg_database rows (xmin, password verifier, owner)").isEqualTo(catalogBefore);
        }
        assertThat(agent.output()).anyMatch(l -> l.contains("event=catalog_applied roles=2 databases=2 changed=0 unchanged=4"));
        assertThat(agent.sigterm()).isEqualTo(0);
        assertNoSecretsOrStackTraces(agent);
      }
    }
  }

  /** Kubernetes may delete a pod whose compute is still starting: wherever the start is, it stops and exits 0. */
  @Test
  void sigtermWhileStartingLeavesNothingRunningAndExitsZero() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-agent-early-")) {
      TenantInfo tenant = storage.createTenant(15);
      ComputeAgentSpec spec = AgentSpecs.readWrite(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("agent"),
          List.of(), List.of());
      try (AgentProcess agent = AgentProcess.start(spec, work.resolve("spec.json"), Map.of())) {
        // The hardest moment: PostgreSQL is starting or recovering, and the start sequence waits for it.
        await().atMost(Duration.ofMinutes(2)).until(() -> agent.output().stream().anyMatch(l -> l.contains("event=postgres_starting")));
        assertThat(agent.status().phase()).isEqualTo(Phase.STARTING);
        assertThat(agent.sigterm()).isEqualTo(0);
        assertThat(agent.postmasterPid().flatMap(ProcessHandle::of).map(ProcessHandle::isAlive)).as("PostgreSQL left behind")
            .isNotEqualTo(Optional.of(true));
        assertThat(agent.output()).anyMatch(l -> l.contains("event=agent_stopped")).noneMatch(l -> l.contains("event=start_failed"));
        assertNoSecretsOrStackTraces(agent);
      }
      // The timeline is not harmed: the next compute starts and writes.
      try (AgentProcess agent = AgentProcess.start(AgentSpecs.movedTo(spec, work.resolve("agent-2")), work.resolve("spec-2.json"), Map.of())) {
        agent.awaitRunning();
        try (Connection su = agent.superuser("postgres"); Statement st = su.createStatement()) {
          st.execute("CREATE TABLE after_early_stop (id int)");
        }
        assertThat(agent.sigterm()).isEqualTo(0);
      }
    }
  }

  @Test
  void anUnreachableStorageEngineIsOneClearLineAndExitCodeOne() throws Exception {
    try (var work = TempDirectory.create("arbor-agent-down-")) {
      var down = new ComputeAgentSpec(1, TenantId.random(), TimelineId.random(), Mode.READ_WRITE, null,
          "http://127.0.0.1:" + FreePort.pick(), Map.of("sk-0", "http://127.0.0.1:" + FreePort.pick()), 15, "127.0.0.1",
          FreePort.pick(), FreePort.pick(), work.resolve("agent"), Map.of(), List.of(), List.of(), null, null);
      try (AgentProcess agent = AgentProcess.start(down, work.resolve("spec.json"), Map.of())) {
        assertThat(agent.awaitExit()).isEqualTo(1);
        assertThat(agent.output()).anyMatch(l -> l.contains("event=start_failed reason=\"cannot reach the pageserver at "
            + down.pageserverUrl() + " (") && l.contains("check pageserver_url and that the storage engine is running"));
        assertNoSecretsOrStackTraces(agent);
        assertThat(Files.exists(work.resolve("agent/pgdata"))).as("nothing started").isFalse();
      }
    }
  }

  @Test
  void aSpecItCannotRunIsRefusedWithTheFieldAndExitCodeTwo() throws Exception {
    try (var work = TempDirectory.create("arbor-agent-spec-")) {
      String json = """
          {"format_version": 1, "tenant_id": "%s", "timeline_id": "%s", "mode": "read_write", "lsn": "0/16B5A50",
           "pageserver_url": "http://127.0.0.1:1", "safekeepers": {"sk-0": "http://127.0.0.1:2"}, "postgres_version": 15,
           "listen_host": "127.0.0.1", "port": 5432, "http_port": 0, "work_dir": "%s"}
          """.formatted(TenantId.random(), TimelineId.random(), work.resolve("agent"));
      Path file = work.resolve("spec.json");
      Files.writeString(file, json);
      try (AgentProcess agent = AgentProcess.launch(null, List.of("--spec", file.toString()), Map.of())) {
        assertThat(agent.awaitExit()).isEqualTo(2);
        assertThat(agent.output()).anyMatch(l -> l.contains("event=spec_invalid field=lsn error=\"is only allowed with mode read_only"));
        assertNoSecretsOrStackTraces(agent);
      }
    }
  }

  /** The roles' and databases' catalog rows; xmin changes with any UPDATE, the verifier's salt with any new password. */
  private static String catalogRows(Connection su) throws SQLException {
    return one(su, "SELECT (SELECT string_agg(rolname || ' ' || xmin || ' ' || rolpassword || ' ' || rolcanlogin || rolcreatedb || rolcreaterole, "
        + "', ' ORDER BY rolname) FROM pg_authid WHERE rolname IN ('app', 'reporter')) || ' | ' || "
        + "(SELECT string_agg(datname || ' ' || xmin || ' ' || datdba, ', ' ORDER BY datname) FROM pg_database WHERE datname IN ('app', 'reports'))");
  }

  private static void assertNoSecretsOrStackTraces(AgentProcess agent) {
    assertThat(agent.output()).as("agent output").noneMatch(l -> l.contains(APP_PASSWORD) || l.contains("orter \\\"secret")
        || l.contains("orter \"secret") || l.matches("^\\s+at [\\w.$]+\\(.*\\)$"));
  }

  private static String one(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }
}
