package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.TempDirectory;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Invariant 4: two computes of one timeline never both commit. Generation g+1 starts while g is alive
 * and under load (a partition, a slow pod deletion): from the moment g+1 is elected, g gets no commit
 * acknowledged, and everything g had acknowledged is in g+1.
 */
class FencingTest {

  @Test
  void aNewGenerationFencesOffTheOldComputeWhichCanNoLongerCommit() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-fence-")) {
      TenantInfo tenant = storage.createTenant(15);
      RunningCompute old = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("g1"));
      try {
        Sql.exec(old, CommitLedger.DDL);
        try (var oldLoad = new CommitLedger(4, Sql.connections(old))) {
          await().atMost(Duration.ofMinutes(1)).until(() -> oldLoad.count() >= 200);

          try (RunningCompute next = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("g2"))) {
            assertThat(next.generation()).isGreaterThan(old.generation());
            Set<Long> ackedByOld = oldLoad.acknowledged();
            Thread.sleep(3000); // far longer than a quorum round trip on loopback
            assertThat(oldLoad.count()).as("commits acknowledged to the fenced compute after the new one started")
                .isEqualTo(ackedByOld.size());
            assertThat(new HashSet<>(Sql.longs(next, "SELECT id FROM ledger_rows")))
                .as("every commit the old compute acknowledged is in the new generation").containsAll(ackedByOld);

            CompletableFuture<Void> oldCommit = CompletableFuture.runAsync(() -> {
              try (Connection c = old.connect("postgres"); Statement st = c.createStatement()) {
                st.execute("INSERT INTO ledger_rows VALUES (-1, -1, 'old-after-fence')");
              } catch (SQLException e) {
                throw new IllegalStateException(e);
              }
            });
            Sql.exec(next, "INSERT INTO ledger_rows VALUES (-2, -2, 'new')"); // the new generation commits
            Thread.sleep(3000);
            assertThat(oldCommit).as("the fenced compute's commit must never be acknowledged").isNotDone();
            old.kill();
            Throwable failure = oldCommit.handle((ok, error) -> error).get(60, TimeUnit.SECONDS);
            assertThat(failure).as("the fenced commit ends only when its compute dies, with an error").isNotNull();
          }
        }
        // What the old compute wrote after the fence never becomes part of the timeline.
        try (RunningCompute third = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("g3"))) {
          assertThat(Sql.longs(third, "SELECT id FROM ledger_rows WHERE id < 0 ORDER BY id")).containsExactly(-2L);
        }
      } finally {
        old.kill();
      }
    }
  }

}
