package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.ComputeSpec;
import dev.arbor.compute.start.ComputeStart;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Slots;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A safekeeper that was down so long that the compute trimmed its slot (moved it up to what the majority holds
 * and recycled the WAL it needed) catches up from object storage / its peers and streams again, for real: it then
 * carries the quorum with one other safekeeper, and no acknowledged commit is lost when the compute dies.
 */
class SafekeeperCatchUpTest {
  @Test
  void aSafekeeperWhoseSlotWasLostCatchesUpAndCarriesTheQuorum() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-catchup-")) {
      TenantInfo tenant = storage.createTenant(15);
      Set<Long> acked;
      try (RunningCompute c = new ComputeStart(spec(storage, tenant, work.resolve("c1"), "64MB")).start()) {
        Sql.exec(c, CommitLedger.DDL);
        storage.killSafekeeper("sk-2");
        Lsn stoppedAt = Slots.keptFrom(c, "sk-2");
        Sql.exec(c, "CREATE TABLE filler (pad text)");
        for (int i = 0; i < 8; i++) { // ~400 MB of WAL while sk-2 is gone: far beyond max_slot_wal_keep_size
          Sql.exec(c, "INSERT INTO filler SELECT repeat(md5(g::text), 32) FROM generate_series(1, 45000) g");
          Sql.exec(c, "CHECKPOINT");
        }
        Slots.awaitTrimmedAndRecycled(c, "sk-2", stoppedAt);
        Lsn written = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_flush_lsn()"));

        storage.startSafekeeper("sk-2");
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(500)).until(() -> {
          TimelineWalStatus s = status(storage, tenant, "sk-2");
          return s.following() && s.tli() == c.pgTli() && !s.flushLsn().isBefore(written);
        });
        TimelineWalStatus sk1 = status(storage, tenant, "sk-1");
        TimelineWalStatus sk2 = status(storage, tenant, "sk-2");
        assertThat(TimelineWalStatus.comparePositions(sk2, sk1)).as("sk-2 reached sk-1: %s vs %s", sk2, sk1).isGreaterThanOrEqualTo(0);
        String log = Files.readString(storage.directory().resolve("logs/sk-2.log"));
        assertThat(log).as("sk-2 caught up over WAL the compute no longer had")
            .containsPattern("event=safekeeper_catch_up .*segments=[1-9][0-9]* from=(object_storage|peer)");

        // Only sk-1 and sk-2 are left: every commit from now on needs sk-2's flush acknowledgement.
        storage.killSafekeeper("sk-0");
        try (var ledger = new CommitLedger(2, Sql.connections(c))) {
          await().atMost(Duration.ofMinutes(2)).until(() -> ledger.count() >= 300);
          c.kill();
          acked = ledger.acknowledged();
        }
      }

      // A new compute with sk-0 still down: its election and WAL can only come from sk-1 and sk-2.
      try (RunningCompute second = new ComputeStart(spec(storage, tenant, work.resolve("c2"), "256MB")).start()) {
        assertThat(acked).hasSizeGreaterThanOrEqualTo(300);
        assertThat(new HashSet<>(Sql.longs(second, "SELECT id FROM ledger_rows"))).containsAll(acked);
      }
    }
  }

  private static ComputeSpec spec(StorageProcesses storage, TenantInfo tenant, Path dir, String maxSlotWalKeepSize) {
    return new ComputeSpec(tenant.tenantId(), tenant.rootTimelineId(), storage.pageserverUrl(), storage.safekeeperUrls(),
        PostgresInstallation.find(15), dir, "127.0.0.1", FreePort.pick(), Map.of("max_wal_size", "64MB", "min_wal_size", "32MB"),
        maxSlotWalKeepSize, storage.computeTokens(tenant.tenantId(), tenant.rootTimelineId()));
  }

  private TimelineWalStatus status(StorageProcesses storage, TenantInfo tenant, String id) throws Exception {
    return storage.safekeeper(id).timeline(tenant.tenantId(), tenant.rootTimelineId());
  }

}
