package dev.arbor.compute.start;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * A clean stop keeps the PGDATA, and the next start in the same work_dir uses it only when the timeline's WAL ends
 * exactly where that PGDATA stands: otherwise it would come up without the commits made since (or with WAL nobody
 * acknowledged), so it starts from a basebackup.
 */
class KeptPgdataTest {
  /** A file of our own in PGDATA: PostgreSQL ignores it, and only a start that reused the directory still has it. */
  private static final String PROBE = "kept-pgdata-probe";

  @Test
  void theNextStartAfterACleanStopUsesThePgdataAndHasEveryCommit() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-kept-")) {
      TenantInfo tenant = storage.createTenant(15);
      Path pgdata;
      int tli;
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
        Sql.exec(c, "CREATE TABLE t (v int)");
        Sql.exec(c, "INSERT INTO t SELECT generate_series(1, 1000)");
        pgdata = c.server().dataDir();
        tli = c.pgTli();
      }
      assertThat(pgdata.resolve(KeptPgdata.CLEAN_STOP)).as("a clean stop vouches for its PGDATA").exists();
      Files.writeString(pgdata.resolve(PROBE), "left by the test");

      for (int round = 1; round <= 2; round++) {
        try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
          assertThat(pgdata.resolve(PROBE)).as("round %d reused the PGDATA", round).exists();
          assertThat(pgdata.resolve(KeptPgdata.CLEAN_STOP)).as("nothing vouches for a PGDATA in use").doesNotExist();
          assertThat(c.pgTli()).as("every start is a new generation with its own TLI").isEqualTo(tli + 1);
          assertThat(Sql.one(c, "SELECT count(*) FROM t")).isEqualTo(Integer.toString(1000 * round));
          Sql.exec(c, "INSERT INTO t SELECT generate_series(1, 1000)");
          tli = c.pgTli();
        }
      }
      // And the WAL of those starts is on the safekeepers: a compute elsewhere has every row.
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"))) {
        assertThat(Sql.one(c, "SELECT count(*) FROM t")).isEqualTo("3000");
      }
    }
  }

  @Test
  void aPgdataTheTimelineMovedPastIsReplacedByABasebackup() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-kept-")) {
      TenantInfo tenant = storage.createTenant(15);
      Path pgdata;
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
        Sql.exec(c, "CREATE TABLE t AS SELECT 1 AS v");
        pgdata = c.server().dataDir();
      }
      Files.writeString(pgdata.resolve(PROBE), "left by the test");
      // Another compute of the timeline (another pod, or this one's successor elsewhere) commits more.
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"))) {
        Sql.exec(c, "INSERT INTO t VALUES (2)");
      }
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
        assertThat(pgdata.resolve(PROBE)).as("the old PGDATA was removed").doesNotExist();
        assertThat(Sql.one(c, "SELECT sum(v) FROM t")).isEqualTo("3");
      }
    }
  }

  @Test
  void aComputeThatDidNotStopCleanlyLeavesNothingToReuse() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-kept-")) {
      TenantInfo tenant = storage.createTenant(15);
      RunningCompute killed = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
      Path pgdata = killed.server().dataDir();
      Sql.exec(killed, "CREATE TABLE t AS SELECT 1 AS v");
      killed.kill();
      assertThat(pgdata.resolve(KeptPgdata.CLEAN_STOP)).doesNotExist();
      Files.writeString(pgdata.resolve(PROBE), "left by the test");
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
        assertThat(pgdata.resolve(PROBE)).as("a killed compute's PGDATA was removed").doesNotExist();
        assertThat(Sql.one(c, "SELECT sum(v) FROM t")).isEqualTo("1");
      }
    }
  }
}
