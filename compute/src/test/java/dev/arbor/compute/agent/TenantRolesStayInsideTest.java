package dev.arbor.compute.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Database;
import dev.arbor.api.compute.ComputeAgentSpec.Role;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.compute.start.ComputeStart;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.postgres.ServerUser;
import dev.arbor.testing.AgentProcess;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The roles a Project declares stay inside their databases (issue 16, item 4): as the strongest role a spec may declare
 * (owner of its database, CREATEDB, and CREATEROLE where the PostgreSQL major confines it), none of the ways out of SQL
 * works, and PostgreSQL's environment holds none of the secrets the agent was given.
 */
class TenantRolesStayInsideTest {
  private static final String APP_PASSWORD = "app-secret-inside";
  private static final String REPORTER_PASSWORD = "reporter-secret-in-the-agents-environment";

  @Test
  void aDeclaredRoleCannotRunProgramsReadServerFilesOrReachTheComputesOwnRoles() throws Exception {
    try (var storage = new StorageProcesses(1).start(); var work = TempDirectory.create("arbor-inside-")) {
      TenantInfo tenant = storage.createTenant(15);
      Path appPasswordFile = work.resolve("app-password");
      Files.writeString(appPasswordFile, APP_PASSWORD);
      ComputeAgentSpec spec = AgentSpecs.readWrite(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("agent"),
          List.of(new Role("app", appPasswordFile.toString(), null, true, true, null),
              new Role("reporter", null, "REPORTER_PASSWORD", null, null, null)),
          List.of(new Database("app", "app")));
      try (AgentProcess agent = AgentProcess.start(spec, work.resolve("spec.json"), Map.of("REPORTER_PASSWORD", REPORTER_PASSWORD))) {
        agent.awaitRunning();
        try (Connection app = agent.connect("app", "app", APP_PASSWORD); Statement st = app.createStatement()) {
          st.execute("CREATE TABLE notes (t text)");
          for (String escape : List.of(
              "COPY (SELECT 1) TO PROGRAM 'id'",
              "COPY notes FROM PROGRAM 'cat /etc/passwd'",
              "COPY notes FROM '/etc/passwd'",
              "SELECT pg_read_file('postgresql.conf')",
              "SELECT pg_read_file('" + appPasswordFile + "')",
              "SELECT pg_read_file('" + spec.storageTokenFile() + "')",
              "SELECT pg_read_file('arbor-storage-auth')", // restore_command's header file, in PGDATA
              "SELECT pg_read_binary_file('/proc/self/environ')",
              "SELECT pg_ls_dir('.')",
              "SELECT lo_import('/etc/passwd')",
              "CREATE EXTENSION dblink",
              "CREATE EXTENSION postgres_fdw",
              "CREATE SUBSCRIPTION escape CONNECTION 'host=127.0.0.1 dbname=app' PUBLICATION p WITH (connect = false)",
              "CREATE FUNCTION escape() RETURNS int AS '/lib/x86_64-linux-gnu/libc.so.6', 'getpid' LANGUAGE c",
              "LOAD '/lib/x86_64-linux-gnu/libc.so.6'",
              "ALTER SYSTEM SET log_min_messages = debug5",
              "ALTER ROLE app SUPERUSER",
              "ALTER ROLE postgres PASSWORD 'taken'",
              "ALTER ROLE " + ComputeStart.REPLICATION_ROLE + " PASSWORD 'taken'",
              "DROP ROLE " + ComputeStart.REPLICATION_ROLE,
              "GRANT pg_execute_server_program TO app",
              "GRANT postgres TO app",
              "SET ROLE postgres")) {
            assertThatThrownBy(() -> st.execute(escape)).as(escape).isInstanceOfSatisfying(SQLException.class,
                e -> assertThat(e.getSQLState()).as("%s: %s", escape, e.getMessage()).isEqualTo("42501"));
          }
          assertThat(one(st, "SELECT count(*) FROM notes")).as("nothing came in").isEqualTo("0");
        }
        try (Connection su = agent.superuser("postgres"); Statement st = su.createStatement()) {
          assertThat(one(st, "SELECT string_agg(rolname || ' ' || rolsuper || rolreplication || rolbypassrls, ', ' ORDER BY rolname) "
              + "FROM pg_authid WHERE rolname IN ('app', 'reporter')")).isEqualTo("app falsefalsefalse, reporter falsefalsefalse");
        }

        // PostgreSQL started with a clean environment: the agent's secrets and settings are not in it.
        long postmaster = agent.postmasterPid().orElseThrow();
        List<String> environment = Arrays.stream(
            new String(Files.readAllBytes(Path.of("/proc/" + postmaster + "/environ")), StandardCharsets.UTF_8).split("\0"))
            .filter(v -> !v.isEmpty()).toList();
        assertThat(environment).noneMatch(v -> v.contains(REPORTER_PASSWORD)).noneMatch(v -> v.contains(APP_PASSWORD))
            .allSatisfy(v -> assertThat(v.substring(0, v.indexOf('='))).satisfiesAnyOf(
                name -> assertThat(ServerUser.PASSED_ENVIRONMENT).contains(name),
                name -> assertThat(name).startsWith("LC_")));

        // Nor are they in the agent's output (its own lines and PostgreSQL's log).
        String token = Files.readString(Path.of(spec.storageTokenFile())).strip();
        assertThat(agent.outputText()).doesNotContain(REPORTER_PASSWORD).doesNotContain(APP_PASSWORD).doesNotContain(token)
            .doesNotContain(token.substring(token.lastIndexOf('.') + 1));

        // Privileges a declared role got behind the spec's back are taken again at the next start.
        try (Connection su = agent.superuser("postgres"); Statement st = su.createStatement()) {
          st.execute("ALTER ROLE app SUPERUSER BYPASSRLS");
        }
        assertThat(agent.sigterm()).isZero();
      }
      try (AgentProcess again = AgentProcess.start(spec, work.resolve("spec.json"), Map.of("REPORTER_PASSWORD", REPORTER_PASSWORD))) {
        again.awaitRunning();
        try (Connection su = again.superuser("postgres"); Statement st = su.createStatement()) {
          assertThat(one(st, "SELECT rolsuper::text || ' ' || rolbypassrls FROM pg_authid WHERE rolname = 'app'")).isEqualTo("false false");
        }
      }
    }
  }

  private static String one(Statement st, String sql) throws SQLException {
    try (ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }
}
