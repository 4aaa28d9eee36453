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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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

  /** Each position in the list: an election that took the first answer, or any but the highest, fails for one of them. */
  @ParameterizedTest(name = "{0} falls behind")
  @ValueSource(strings = {"sk-0", "sk-1", "sk-2"})
  void minorityOfSafekeepersKilledMidLoadCommitsContinueAndNothingIsLost(String behind) throws Exception {
    RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
    Sql.exec(first, CommitLedger.DDL);
    Set<Long> acked;
    try (var ledger = new CommitLedger(4, Sql.connections(first))) {
      await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 300);
      storage.killSafekeeper(behind);
      int atKill = ledger.count();
      await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= atKill + 300); // commits go on with 2 of 3
      first.kill();
      acked = ledger.acknowledged();
    }
    // It comes back with the WAL it had when it died, far behind the others: the new compute must take the
    // end of WAL from the highest position among the safekeepers that accept it, not from this one.
    storage.startSafekeeper(behind);
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

  /**
   * A backend crash makes PostgreSQL restart every process and recover from its own WAL, abandoning a record
   * it was writing when the crash cut it (the next page then overwrites the lost continuation, marked
   * XLP_FIRST_IS_OVERWRITE_CONTRECORD). Safekeepers that streamed part of that record must read past it when
   * they look for their end of WAL after a restart, and nothing acknowledged may be lost.
   */
  @Test
  void aBackendCrashWhileStreamingThenSafekeeperRestartsLoseNothing() throws Exception {
    RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
    Sql.exec(first, CommitLedger.DDL);
    Sql.exec(first, "CREATE TABLE big (id int, pad text)");
    Set<Long> acked;
    try (var ledger = new CommitLedger(2, Sql.connections(first))) {
      await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 100);
      long[] backend = new long[1];
      CompletableFuture<Void> bulk = CompletableFuture.runAsync(() -> {
        try (Connection c = first.connect("postgres"); Statement st = c.createStatement()) {
          try (var rs = st.executeQuery("SELECT pg_backend_pid()")) {
            rs.next();
            backend[0] = rs.getLong(1);
          }
          // One record far larger than a WAL page: a crash is likely to cut one in the middle.
          st.execute("SELECT pg_logical_emit_message(true, 'arbor', repeat('x', 4000000)) FROM generate_series(1, 50)");
        } catch (SQLException e) {
          // ended by the crash
        }
      }, r -> Thread.ofPlatform().daemon().start(r));
      await().atMost(Duration.ofMinutes(1)).until(() -> backend[0] != 0);
      Thread.sleep(300);
      new ProcessBuilder("kill", "-KILL", Long.toString(backend[0])).inheritIO().start().waitFor();
      bulk.get(2, TimeUnit.MINUTES);
      int atCrash = ledger.count();
      await().atMost(Duration.ofMinutes(2)).until(() -> ledger.count() >= atCrash + 200); // PostgreSQL restarted, commits go on

      for (String id : storage.safekeeperIds()) {
        storage.killSafekeeper(id);
        storage.startSafekeeper(id); // each reopens its store and scans for its end of WAL
      }
      int atRestart = ledger.count();
      await().atMost(Duration.ofMinutes(2)).until(() -> ledger.count() >= atRestart + 200);
      first.kill();
      acked = ledger.acknowledged();
    }
    try (RunningCompute second = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"))) {
      assertThat(new HashSet<>(Sql.longs(second, "SELECT id FROM ledger_rows"))).containsAll(acked);
    }
  }
}
