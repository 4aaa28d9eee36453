package dev.arbor.compute.start;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The start sequence end to end: a compute starts from storage, and each start is a new generation and TLI. */
class ComputeStartTest {

  @Test
  void startsFromStorageAgainAndAgainWithItsData() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-start-")) {
      TenantInfo tenant = storage.createTenant(15);
      int previousTli;
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
        assertThat(c.pgTli()).isEqualTo(2); // initdb wrote TLI 1
        Sql.exec(c, "CREATE TABLE t (v int)");
        Sql.exec(c, "INSERT INTO t SELECT generate_series(1, 1000)");
        previousTli = c.pgTli();
      }
      RunningCompute killed = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"));
      assertThat(killed.pgTli()).isEqualTo(previousTli + 1);
      assertThat(Sql.one(killed, "SELECT sum(v) FROM t")).isEqualTo("500500");
      Sql.exec(killed, "INSERT INTO t VALUES (-1)");
      killed.kill();
      // In the killed compute's work directory, as a pod whose container restarted with its emptyDir kept.
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"))) {
        assertThat(Sql.one(c, "SELECT sum(v) FROM t")).isEqualTo("500499");
        assertThat(c.generation()).isGreaterThan(killed.generation());
      }
    }
  }

  /** A compute's PGDATA is rebuilt from storage at every start, so it skips fsync unless the spec sets it. */
  @Test
  void runsWithoutFsyncUnlessTheSpecSetsIt() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-start-")) {
      TenantInfo tenant = storage.createTenant(15);
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
        assertThat(Sql.one(c, "SHOW fsync")).isEqualTo("off");
        Sql.exec(c, "CREATE TABLE t AS SELECT 1 AS v");
      }
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"),
          Map.of("fsync", "on"))) {
        assertThat(Sql.one(c, "SHOW fsync")).isEqualTo("on");
        assertThat(Sql.one(c, "SELECT sum(v) FROM t")).isEqualTo("1");
      }
    }
  }

  /**
   * Statement logging (here log_statement = all, which a spec cannot set but a start's settings can) shows only
   * SCRAM verifiers, never a password; the superuser has none and pg_hba refuses it on TCP.
   */
  @Test
  void noPasswordReachesTheLogAndTheSuperuserLogsInOnlyOverTheSocket() throws Exception {
    try (var storage = new StorageProcesses(1).start(); var work = TempDirectory.create("arbor-start-")) {
      TenantInfo tenant = storage.createTenant(15);
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"),
          Map.of("log_statement", "all"))) {
        String log = Files.readString(c.server().logFile());
        assertThat(log).contains("ALTER ROLE postgres PASSWORD NULL", "ALTER ROLE arbor_replication PASSWORD 'SCRAM-SHA-256$4096:");
        assertThat(log).doesNotContainPattern("PASSWORD '(?!SCRAM-SHA-256\\$)");
        assertThat(Sql.one(c, "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'postgres'")).isEqualTo("t");
        assertThat(Sql.one(c, "SELECT rolpassword FROM pg_authid WHERE rolname = 'arbor_replication'")).startsWith("SCRAM-SHA-256$");
        assertThatThrownBy(() -> c.server().connect("postgres", ComputeStart.SUPERUSER, "any").close())
            .isInstanceOf(SQLException.class).hasMessageContaining("pg_hba.conf rejects connection")
            .hasMessageContaining("user \"postgres\"");
        // A commit returns once the safekeeper has it: the replication role still logs in over TCP.
        Sql.exec(c, "CREATE TABLE acknowledged AS SELECT 1 AS v");
      }
    }
  }

  /** A start never removes a PGDATA it did not make or one in use, and refuses before it fences anybody. */
  @Test
  void refusesAForeignOrLivePgdataWithoutFencingTheRunningCompute() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-start-")) {
      TenantInfo tenant = storage.createTenant(15);
      Path foreign = work.resolve("foreign").resolve("pgdata");
      Files.createDirectories(foreign);
      Files.writeString(foreign.resolve("PG_VERSION"), "15\n");
      assertThatThrownBy(() -> Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("foreign")))
          .isInstanceOf(ComputeStartException.class).hasMessageContaining("was not made by an Arbor compute");
      assertThat(foreign.resolve("PG_VERSION")).exists();

      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
        assertThatThrownBy(() -> Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1")))
            .isInstanceOf(ComputeStartException.class).hasMessageContaining("in use by a running PostgreSQL");
        Sql.exec(c, "CREATE TABLE still_committing AS SELECT 1 AS v"); // not fenced: a majority still acknowledges
        assertThat(Sql.one(c, "SELECT count(*) FROM still_committing")).isEqualTo("1");
      }
    }
  }
}
