package dev.arbor.compute.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.compute.AgentStatus;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.api.compute.ComputeAgentSpec.Role;
import dev.arbor.compute.start.ComputeSpec;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.start.RunningSnapshot;
import dev.arbor.compute.start.SnapshotStart;
import dev.arbor.testing.AgentProcess;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A read-only compute at an LSN is a static snapshot: it serves exactly the rows committed at that LSN —
 * neither later inserts nor later updates — while the read-write compute goes on writing, refuses writes
 * with PostgreSQL's own read-only error, and shows the same rows after the read-write compute restarted into
 * a new TLI.
 */
class ReadOnlyAtLsnTest {
  private static final String READER_PASSWORD = "reader-secret";
  private static final String AT_LSN = "count(*) = 100 AND count(*) FILTER (WHERE v = 'before') = 100 AND max(id) = 100";

  @Test
  void servesExactlyTheRowsAtItsLsnAndRefusesWrites() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-ro-")) {
      TenantInfo tenant = storage.createTenant(15);
      TimelineId main = tenant.rootTimelineId();
      RunningCompute rw = Computes.start(storage, tenant.tenantId(), main, work.resolve("rw-1"));
      Sql.exec(rw, "CREATE ROLE reader LOGIN PASSWORD '" + READER_PASSWORD + "'");
      Sql.exec(rw, "CREATE TABLE items (id int PRIMARY KEY, v text)");
      Sql.exec(rw, "GRANT SELECT, INSERT ON items TO reader");
      // Megabytes of WAL between the image and the LSN: replay takes a moment, and the snapshot must not
      // report Running before it reached the LSN (PostgreSQL accepts connections as soon as it is consistent).
      Sql.exec(rw, "CREATE TABLE bulk AS SELECT g FROM generate_series(1, 200000) g");
      Sql.exec(rw, "GRANT SELECT ON bulk TO reader");
      Sql.exec(rw, "INSERT INTO items SELECT g, 'before' FROM generate_series(1, 100) g");
      Lsn lsn = Lsn.parse(Sql.one(rw, "SELECT pg_current_wal_lsn()"));
      Sql.exec(rw, "INSERT INTO items SELECT g, 'after' FROM generate_series(101, 150) g");
      Sql.exec(rw, "UPDATE items SET v = 'changed' WHERE id <= 10");

      ComputeAgentSpec spec = AgentSpecs.readOnly(storage, tenant.tenantId(), main, lsn, work.resolve("ro-agent"),
          List.of(new Role("reader", null, "READER_PASSWORD", null, null, null)));
      try (AgentProcess snapshot = AgentProcess.start(spec, work.resolve("ro-spec.json"), Map.of("READER_PASSWORD", READER_PASSWORD))) {
        AgentStatus status = snapshot.awaitRunning();
        assertThat(status.mode()).isEqualTo(ComputeAgentSpec.Mode.READ_ONLY);
        assertThat(status.lsn()).isEqualTo(lsn);
        assertThat(status.generation()).as("a snapshot elects no generation").isNull();
        // lsn is where a commit record ends: replay must have reached exactly there, not stopped short.
        assertThat(status.currentLsn()).as("replay position").isEqualTo(lsn);

        try (Connection reader = snapshot.connect("postgres", "reader", READER_PASSWORD)) {
          assertThat(bool(reader, "SELECT " + AT_LSN + " FROM items")).as("exactly the rows at " + lsn).isTrue();
          assertThat(bool(reader, "SELECT count(*) = 200000 FROM bulk")).isTrue();
          assertThatThrownBy(() -> execute(reader, "INSERT INTO items VALUES (1000, 'on the snapshot')"))
              .isInstanceOfSatisfying(SQLException.class, e -> {
                assertThat(e.getSQLState()).isEqualTo("25006");
                assertThat(e.getMessage()).contains("cannot execute INSERT in a read-only transaction");
              });
          // The read-write compute goes on; the snapshot does not move.
          Sql.exec(rw, "INSERT INTO items SELECT g, 'later' FROM generate_series(151, 160) g");
          assertThat(bool(reader, "SELECT " + AT_LSN + " FROM items")).isTrue();
          assertThat(Sql.one(rw, "SELECT count(*) FROM items")).isEqualTo("160");
        }
        assertThat(snapshot.output())
            .anyMatch(l -> l.contains("LOG:  database system is ready to accept read-only connections"))
            .anyMatch(l -> l.contains("event=catalog_checked roles=1 databases=0 differences=0"))
            .anyMatch(l -> l.contains("event=snapshot_replayed lsn=" + lsn))
            .noneMatch(l -> l.contains("selected new timeline ID"));
        assertThat(snapshot.sigterm()).isEqualTo(0);
      }

      // After the read-write compute restarted into a new TLI, the LSN lies on an older TLI of the timeline.
      rw.stop();
      try (RunningCompute rw2 = Computes.start(storage, tenant.tenantId(), main, work.resolve("rw-2"))) {
        assertThat(rw2.pgTli()).isGreaterThan(rw.pgTli());
        Sql.exec(rw2, "DELETE FROM items WHERE id <= 50");
        var computeSpec = new ComputeSpec(tenant.tenantId(), main, storage.pageserverUrl(), Map.of(), PostgresInstallation.find(15),
            work.resolve("ro-2"), "127.0.0.1", FreePort.pick(), Map.of(), null, storage.computeTokens(tenant.tenantId(), main));
        try (RunningSnapshot again = new SnapshotStart(computeSpec, lsn).start();
             Connection reader = again.server().connect("postgres", "reader", READER_PASSWORD)) {
          assertThat(bool(reader, "SELECT " + AT_LSN + " FROM items")).as("exactly the rows at " + lsn + " after a restart").isTrue();
          assertThat(bool(reader, "SELECT pg_is_in_recovery()")).isTrue();
        }
      }
    }
  }

  private static boolean bool(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  private static void execute(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }
}
