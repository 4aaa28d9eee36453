package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.compute.testing.StorageProcesses;
import dev.arbor.storage.pageserver.TenantService.TenantInfo;
import dev.arbor.testing.TempDirectory;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Invariant 1: no acknowledged commit is ever lost — the compute SIGKILLed mid-load, a minority of
 * safekeepers SIGKILLed, and with a majority down no commit is acknowledged until they return.
 */
class NoAcknowledgedCommitLostTest {
  private StorageProcesses storage;
  private TempDirectory work;
  private TenantInfo tenant;

  @BeforeEach
  void setUp() throws Exception {
    storage = new StorageProcesses(3).start();
    work = TempDirectory.create("arbor-compute-");
    tenant = storage.createTenant(15);
  }

  @AfterEach
  void tearDown() {
    if (work != null) {
      work.close();
    }
    if (storage != null) {
      storage.close();
    }
  }

  @Test
  void computeKilledMidLoadLosesNoAcknowledgedCommit() throws Exception {
    RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
    Sql.exec(first, CommitLedger.DDL);
    Set<Long> acked;
    try (var ledger = new CommitLedger(4, Sql.connections(first))) {
      await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 500);
      first.kill();
      acked = ledger.acknowledged();
    }

    try (RunningCompute second = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"))) {
      Set<Long> present = new HashSet<>(Sql.longs(second, "SELECT id FROM ledger_rows"));
      assertThat(acked).hasSizeGreaterThanOrEqualTo(500);
      assertThat(present).containsAll(acked);
      assertThat(second.generation()).isGreaterThan(first.generation());
    }
  }

  @Test
  void minorityOfSafekeepersKilledMidLoadCommitsContinueAndNothingIsLost() throws Exception {
    RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
    Sql.exec(first, CommitLedger.DDL);
    Set<Long> acked;
    try (var ledger = new CommitLedger(4, Sql.connections(first))) {
      await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 300);
      storage.killSafekeeper("sk-1");
      int atKill = ledger.count();
      await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= atKill + 300); // commits go on with 2 of 3
      first.kill();
      acked = ledger.acknowledged();
    }
    // sk-1 comes back with the WAL it had when it died, far behind the others: the new compute must take
    // the end of WAL from the highest position among the safekeepers that accept it, not from sk-1.
    storage.startSafekeeper("sk-1");
    try (RunningCompute second = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"))) {
      assertThat(new HashSet<>(Sql.longs(second, "SELECT id FROM ledger_rows"))).containsAll(acked);
    }
  }

  @Test
  void withAMajorityOfSafekeepersDownNothingIsAcknowledgedUntilTheyReturn() throws Exception {
    try (RunningCompute compute = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
      Sql.exec(compute, "CREATE TABLE t (v int)");
      Sql.exec(compute, "INSERT INTO t VALUES (1)");
      storage.killSafekeeper("sk-1");
      storage.killSafekeeper("sk-2");

      CompletableFuture<Void> commit = CompletableFuture.runAsync(() -> {
        try (Connection c = compute.connect("postgres"); Statement st = c.createStatement()) {
          st.execute("INSERT INTO t VALUES (2)");
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      });
      // One of three safekeepers cannot make a quorum of two: the commit must wait, not return.
      Thread.sleep(3000);
      assertThat(commit).isNotDone();

      storage.startSafekeeper("sk-1");
      storage.startSafekeeper("sk-2");
      commit.get(2, TimeUnit.MINUTES); // they catch up from the compute's slots and acknowledge
      assertThat(Sql.one(compute, "SELECT count(*) FROM t")).isEqualTo("2");
    }
  }

}
