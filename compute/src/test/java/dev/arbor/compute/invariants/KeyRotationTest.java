package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.auth.SigningKey;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The installation's signing key rotates while a compute commits, without restarting a daemon and without losing a
 * commit (issue 16, "rotation and refresh"): the public key set gains a new key, every token is minted again with it,
 * the old key is removed. A token of the old key is then refused; a safekeeper restarted afterwards catches up with
 * the pageserver token of the new key; the compute's next start (election, basebackup, restore_command) runs on its new
 * token and finds every acknowledged commit.
 */
class KeyRotationTest {

  @Test
  void theSigningKeyRotatesWhileAComputeCommitsAndNothingIsLost() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-rotation-")) {
      TenantInfo tenant = storage.createTenant(15);
      RunningCompute main = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("main-1"));
      Sql.exec(main, CommitLedger.DDL);
      Set<Long> acked;
      try (var ledger = new CommitLedger(4, Sql.connections(main))) {
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 200);

        SigningKey old = storage.rotateKeys("test-key-2");
        PageserverClient withOldKey = new PageserverClient(storage.pageserverUrl(), Duration.ofSeconds(10), RetryPolicy.NONE,
            TokenSource.fixed(old.mint(StorageProcesses.ISSUER, StorageGrant.of("old-admin", Scope.STORAGE_ADMIN), Duration.ofHours(1))));
        assertThat(withOldKey.timeline(tenant.tenantId(), tenant.rootTimelineId()).timelineId())
            .as("during the rotation both keys are accepted").isEqualTo(tenant.rootTimelineId());
        int during = ledger.count();
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= during + 200);

        storage.retireOldKeys();
        assertThatThrownBy(() -> withOldKey.timeline(tenant.tenantId(), tenant.rootTimelineId()))
            .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).as("a token of the removed key").isEqualTo(401));

        // A safekeeper that was down through the rotation catches up from its peers with the new pageserver token.
        storage.killSafekeeper("sk-2");
        int down = ledger.count();
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= down + 200);
        storage.startSafekeeper("sk-2");
        int back = ledger.count();
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= back + 200);
        main.kill();
        acked = ledger.acknowledged();
      }

      try (RunningCompute again = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("main-2"))) {
        Set<Long> present = new HashSet<>(Sql.longs(again, "SELECT id FROM ledger_rows"));
        assertThat(present).containsAll(acked);
      }
    }
  }
}
