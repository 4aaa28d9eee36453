package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import dev.arbor.testing.FaultProxy;
import dev.arbor.testing.FaultProxy.Fault;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Elections that a minority of safekeepers misses: it was down, or cut off from the starting compute while
 * the old compute still streams to it. The new generation still recovers every acknowledged commit, never
 * takes in what the old compute wrote after the fence (invariant 4), and brings the safekeeper that missed
 * the election into the generation once it answers, so the compute does not run on a bare majority.
 */
class PartialElectionTest {
  private static final long SEGMENT = Lsn.DEFAULT_SEGMENT_SIZE;

  private StorageProcesses storage;
  private TempDirectory work;
  private TenantInfo tenant;

  @BeforeEach
  void setUp() throws Exception {
    storage = new StorageProcesses(3).withPageserverProxy().start();
    work = TempDirectory.create("arbor-partial-");
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

  /** Not the common pool: on two cores it has one thread, and the blocked start would hold it. */
  private static void onItsOwnThread(Runnable r) {
    Thread.ofPlatform().daemon().start(r);
  }

  private TimelineWalStatus status(String safekeeperUrl) throws IOException {
    return new SafekeeperClient(safekeeperUrl, Duration.ofSeconds(10), RetryPolicy.NONE, storage.adminTokens())
        .timeline(tenant.tenantId(), tenant.rootTimelineId());
  }

  @Test
  void aSafekeeperDownDuringTheStartJoinsTheGenerationWhenItReturns() throws Exception {
    storage.killSafekeeper("sk-2");
    try (RunningCompute compute = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"))) {
      Sql.exec(compute, CommitLedger.DDL);
      try (var ledger = new CommitLedger(2, Sql.connections(compute))) {
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 100);
        storage.startSafekeeper("sk-2");
        String sk2 = storage.safekeeperUrls().get("sk-2");
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
          TimelineWalStatus s = status(sk2);
          assertThat(s.generation()).as("sk-2's accepted generation").isEqualTo(compute.generation());
          assertThat(s.following()).as("sk-2 follows the compute").isTrue();
        });
        assertThat(compute.fenced()).as("a safekeeper that missed the election does not fence the compute").isFalse();

        // With sk-2 in the generation, losing sk-1 still leaves a quorum.
        storage.killSafekeeper("sk-1");
        int before = ledger.count();
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= before + 100);
        Set<Long> acked = ledger.acknowledged();
        compute.kill();
        ledger.close();
        try (RunningCompute next = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"))) {
          assertThat(new HashSet<>(Sql.longs(next, "SELECT id FROM ledger_rows"))).containsAll(acked);
        }
      }
    }
  }

  @Test
  void whatTheFencedComputeWritesToASafekeeperLeftOutOfTheElectionNeverEntersTheNewGeneration() throws Exception {
    Map<String, String> direct = storage.safekeeperUrls();
    RunningCompute old = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("g1"));
    try (FaultProxy toSk2 = FaultProxy.start(direct.get("sk-2"))) {
      Sql.exec(old, CommitLedger.DDL);
      Sql.exec(old, "CREATE TABLE late (id int, pad text)");
      Set<Long> acked;
      try (var ledger = new CommitLedger(2, Sql.connections(old))) {
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 200);
        acked = ledger.acknowledged();
      }

      // The new generation cannot reach sk-2, which keeps following the old compute; its recovery waits.
      toSk2.inject(".*", Fault.drop());
      FaultProxy.Gate recovery = Fault.gate();
      storage.pageserverProxy().inject(".+/wal/.*", recovery);
      Map<String, String> viaProxy = new LinkedHashMap<>(direct);
      viaProxy.put("sk-2", toSk2.url());
      CompletableFuture<RunningCompute> next = CompletableFuture.supplyAsync(() -> {
        try {
          return Computes.startWithSafekeepers(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("g2"), viaProxy);
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }, PartialElectionTest::onItsOwnThread);
      await().atMost(Duration.ofMinutes(1)).until(() -> status(direct.get("sk-0")).generation() > old.generation()
          && status(direct.get("sk-1")).generation() > old.generation());
      Lsn elected = status(direct.get("sk-0")).flushLsn().compareTo(status(direct.get("sk-1")).flushLsn()) >= 0
          ? status(direct.get("sk-0")).flushLsn() : status(direct.get("sk-1")).flushLsn();

      // The old compute writes more than two segments after the fence; only sk-2 receives and flushes them,
      // so the commit waits for a quorum that never comes, but its commit record is in sk-2's WAL.
      CompletableFuture<Void> lateCommit = CompletableFuture.runAsync(() -> {
        try (Connection c = old.connect("postgres"); Statement st = c.createStatement()) {
          st.execute("INSERT INTO late SELECT g, repeat(md5(g::text), 24) FROM generate_series(1, 60000) g");
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      }, PartialElectionTest::onItsOwnThread);
      await().atMost(Duration.ofMinutes(2)).until(() -> {
        if (lateCommit.isCompletedExceptionally()) {
          lateCommit.join(); // shows why the insert failed
        }
        return "SyncRep".equals(Sql.one(old,
            "SELECT coalesce(max(wait_event), '') FROM pg_stat_activity WHERE query LIKE 'INSERT INTO late%'"));
      });
      Lsn written = Lsn.parse(Sql.one(old, "SELECT pg_current_wal_flush_lsn()"));
      assertThat(written.value() - elected.value()).as("WAL the old compute wrote past the elected end").isGreaterThan(2 * SEGMENT);
      await().atMost(Duration.ofMinutes(1)).until(() -> !status(direct.get("sk-2")).flushLsn().isBefore(written));
      assertThat(lateCommit).as("never acknowledged").isNotDone();

      recovery.open();
      try (RunningCompute g2 = next.get()) {
        assertThat(g2.startLsn()).as("where the new generation's TLI begins: no WAL past the elected end %s was replayed", elected)
            .isLessThanOrEqualTo(elected);
        assertThat(Sql.one(g2, "SELECT count(*) FROM late")).as("rows the fenced compute wrote after the election").isEqualTo("0");
        assertThat(new HashSet<>(Sql.longs(g2, "SELECT id FROM ledger_rows"))).containsAll(acked);
        old.kill();

        // sk-2 answers again: the new generation brings it in, and it stops following the old compute. Until its
        // receiver has streamed from g2 it still reports its old TLI's position (what the old compute flushed),
        // which no election takes over a newer TLI's.
        toSk2.clear();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
          TimelineWalStatus s = status(direct.get("sk-2"));
          assertThat(s.generation()).isEqualTo(g2.generation());
          assertThat(s.following()).isTrue();
          assertThat(s.tli()).as("sk-2 streams g2's TLI").isEqualTo(g2.pgTli());
        });
        Sql.exec(g2, "INSERT INTO ledger_rows VALUES (-2, -2, 'g2')");
        Lsn g2Flush = Lsn.parse(Sql.one(g2, "SELECT pg_current_wal_flush_lsn()"));
        for (String url : direct.values()) {
          TimelineWalStatus s = status(url);
          assertThat(s.flushLsn()).as("%s never holds more of TLI %s than its compute flushed", s.safekeeperId(), s.tli())
              .isLessThanOrEqualTo(g2Flush);
        }
      }
      try (RunningCompute g3 = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("g3"))) {
        assertThat(Sql.one(g3, "SELECT count(*) FROM late")).isEqualTo("0");
        assertThat(new HashSet<>(Sql.longs(g3, "SELECT id FROM ledger_rows"))).containsAll(acked).contains(-2L);
      }
    } finally {
      old.kill();
    }
  }

  @Test
  void twoComputesStartingAtOnceNeverBothCommit() throws Exception {
    try (RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c0"))) {
      Sql.exec(first, CommitLedger.DDL);
      Sql.exec(first, "INSERT INTO ledger_rows VALUES (0, 0, 'before')");
    }
    java.util.List<CompletableFuture<RunningCompute>> starts = new java.util.ArrayList<>();
    for (String name : java.util.List.of("a", "b")) {
      starts.add(CompletableFuture.supplyAsync(() -> {
        try {
          return Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve(name));
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }, PartialElectionTest::onItsOwnThread));
    }
    java.util.List<RunningCompute> started = new java.util.ArrayList<>();
    for (CompletableFuture<RunningCompute> f : starts) {
      try {
        started.add(f.get());
      } catch (java.util.concurrent.ExecutionException lostTheRace) {
        // a start may fail when the other one takes the generation it proposed; it never half-succeeds
      }
    }
    try {
      assertThat(started).as("at least one of two concurrent starts succeeds").isNotEmpty();
      RunningCompute newest = started.stream().max(java.util.Comparator.comparingLong(RunningCompute::generation)).orElseThrow();
      Sql.exec(newest, "INSERT INTO ledger_rows VALUES (1, 1, 'newest')");
      for (RunningCompute older : started) {
        if (older == newest) {
          continue;
        }
        CompletableFuture<Void> commit = CompletableFuture.runAsync(() -> {
          try (Connection c = older.connect("postgres"); Statement st = c.createStatement()) {
            st.execute("INSERT INTO ledger_rows VALUES (2, 2, 'older')");
          } catch (SQLException e) {
            throw new IllegalStateException(e);
          }
        }, PartialElectionTest::onItsOwnThread);
        await().during(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(6)).until(() -> !commit.isDone());
        older.kill();
      }
      newest.kill();
    } finally {
      started.forEach(RunningCompute::kill);
    }
    try (RunningCompute after = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("after"))) {
      assertThat(Sql.longs(after, "SELECT id FROM ledger_rows ORDER BY id")).containsExactly(0L, 1L);
    }
  }

  @Test
  void aSafekeeperRestartedBetweenTheElectionAndThePromotionRejoinsAndNothingIsLost() throws Exception {
    Set<Long> acked;
    RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
    Sql.exec(first, CommitLedger.DDL);
    try (var ledger = new CommitLedger(2, Sql.connections(first))) {
      await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 200);
      first.kill();
      acked = ledger.acknowledged();
    }
    FaultProxy.Gate recovery = Fault.gate();
    storage.pageserverProxy().inject(".+/wal/.*", recovery);
    CompletableFuture<RunningCompute> next = CompletableFuture.supplyAsync(() -> {
      try {
        return Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"));
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }, PartialElectionTest::onItsOwnThread);
    String sk1 = storage.safekeeperUrls().get("sk-1");
    await().atMost(Duration.ofMinutes(1)).until(() -> status(sk1).generation() > first.generation());
    storage.killSafekeeper("sk-1");
    storage.startSafekeeper("sk-1");
    recovery.open();
    try (RunningCompute second = next.get()) {
      assertThat(new HashSet<>(Sql.longs(second, "SELECT id FROM ledger_rows"))).containsAll(acked);
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        TimelineWalStatus s = status(sk1);
        assertThat(s.generation()).isEqualTo(second.generation());
        assertThat(s.following()).isTrue();
      });
      // With sk-2 down, this commit returns only once sk-1 (restarted mid-start) has it.
      storage.killSafekeeper("sk-2");
      Sql.exec(second, "INSERT INTO ledger_rows VALUES (-3, -3, 'with sk-1')");
    }
  }
}
