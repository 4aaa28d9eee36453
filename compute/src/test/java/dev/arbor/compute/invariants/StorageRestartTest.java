package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Every storage process killed and started again: tenants, timelines and WAL are all there and computes
 * start on every branch with every acknowledged commit (invariant 1, "everything restarted").
 */
class StorageRestartTest {

  @Test
  void everythingKilledAndRestartedKeepsTenantsTimelinesAndAcknowledgedCommits() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-restart-")) {
      TenantInfo tenant = storage.createTenant(15);
      RunningCompute main = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("main-1"));
      Sql.exec(main, CommitLedger.DDL);
      Sql.exec(main, "INSERT INTO ledger_rows SELECT g, 0, 'before-branch' FROM generate_series(1000001, 1000100) g");
      TimelineInfo branch = storage.branch(tenant.tenantId(), tenant.rootTimelineId(), Sql.one(main, "SELECT pg_current_wal_lsn()"));
      try (RunningCompute onBranch = Computes.start(storage, tenant.tenantId(), branch.timelineId(), work.resolve("branch-1"))) {
        Sql.exec(onBranch, "INSERT INTO ledger_rows VALUES (-7, -7, 'on-branch')");
      }

      Set<Long> acked;
      try (var ledger = new CommitLedger(4, Sql.connections(main))) {
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 300);
        // The whole installation dies at once: compute, pageserver and every safekeeper.
        main.kill();
        storage.killPageserver();
        for (String id : storage.safekeeperIds()) {
          storage.killSafekeeper(id);
        }
        acked = ledger.acknowledged();
      }

      for (String id : storage.safekeeperIds()) {
        storage.startSafekeeper(id);
      }
      storage.startPageserver();

      TimelineInfo branchAfter = storage.timeline(tenant.tenantId(), branch.timelineId());
      assertThat(branchAfter.ancestorTimelineId()).isEqualTo(tenant.rootTimelineId());
      assertThat(branchAfter.ancestorLsn()).isEqualTo(branch.ancestorLsn());
      try (RunningCompute mainAgain = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("main-2"))) {
        Set<Long> present = new HashSet<>(Sql.longs(mainAgain, "SELECT id FROM ledger_rows"));
        assertThat(present).containsAll(acked).doesNotContain(-7L);
        assertThat(Sql.one(mainAgain, "SELECT count(*) FROM ledger_rows WHERE pad = 'before-branch'")).isEqualTo("100");
      }
      try (RunningCompute branchAgain = Computes.start(storage, tenant.tenantId(), branch.timelineId(), work.resolve("branch-2"))) {
        assertThat(Sql.one(branchAgain, "SELECT string_agg(DISTINCT pad, ',' ORDER BY pad) FROM ledger_rows"))
            .isEqualTo("before-branch,on-branch");
      }
    }
  }

}
