package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.TempDirectory;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * A statement that writes far more WAL than maxSlotWalKeepSize before it commits (VACUUM of a freshly loaded
 * table, CREATE INDEX, a COPY in one transaction) while every safekeeper lags behind it. PostgreSQL's own per-slot
 * limit gave up every safekeeper's slot at the next checkpoint and recycled WAL that no safekeeper had: the
 * statement's commit, and every commit after it, waited for a quorum forever. The compute must keep the WAL a
 * majority still needs, however much it is: the commit is acknowledged once the safekeepers are back, later commits
 * too, and a fresh compute started from the storage engine finds the data.
 */
class WalBurstBeforeCommitTest {
  private static final long MB = 1024 * 1024;
  private static final String LIMIT = "64MB";
  /** About 330 MB of WAL: five times the limit. */
  private static final int ROWS = 1_200_000;
  private static final Duration DONE_WITHIN = Duration.ofMinutes(2);

  @Test
  void aBurstBeyondTheSlotLimitWhileEverySafekeeperLagsIsAcknowledgedAndKept() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-burst-")) {
      TenantInfo tenant = storage.createTenant(15);
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();
      try (RunningCompute c = Computes.startKeepingWal(storage, t, main, work.resolve("c1"), Map.of(), LIMIT)) {
        Sql.exec(c, "CREATE TABLE after_burst (note text)");
        Lsn before = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_flush_lsn()"));
        storage.safekeeperIds().forEach(storage::pauseSafekeeper);

        CompletableFuture<Void> burst = runOnOwnThread(c, "CREATE TABLE big AS SELECT g AS id, repeat('x', 200) AS pad "
            + "FROM generate_series(1, " + ROWS + ") g");
        await().atMost(Duration.ofMinutes(5)).alias("the burst is written and its commit waits for the safekeepers")
            .until(() -> burst.isDone() || "1".equals(Sql.one(c, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")));
        assertThat(burst).as("the burst's commit with every safekeeper paused").isNotDone();
        long written = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_flush_lsn()")).value() - before.value();
        assertThat(written).as("WAL of the burst, beyond every safekeeper").isGreaterThan(4 * 64 * MB);
        // PostgreSQL's own max_slot_wal_keep_size gave up every slot in this checkpoint and recycled the WAL. (To give
        // up a slot it ends the slot's walsender and waits for it, and a walsender whose safekeeper reads nothing
        // hangs in its last message: that checkpoint ended only once the safekeepers were back.)
        CompletableFuture<Void> checkpoint = runOnOwnThread(c, "CHECKPOINT");
        try {
          checkpoint.get(10, TimeUnit.SECONDS);
        } catch (TimeoutException stillWaiting) {
          // resumed below
        }

        storage.safekeeperIds().forEach(storage::resumeSafekeeper);
        awaitDone(c, checkpoint, "the checkpoint");
        awaitDone(c, burst, "the burst's commit");
        awaitDone(c, runOnOwnThread(c, "INSERT INTO after_burst VALUES ('a commit after the burst')"), "a later commit");
      }

      try (RunningCompute fresh = Computes.start(storage, t, main, work.resolve("c2"))) {
        assertThat(Sql.one(fresh, "SELECT count(*) FROM big")).as("rows of the burst in a fresh compute").isEqualTo(Integer.toString(ROWS));
        assertThat(Sql.one(fresh, "SELECT note FROM after_burst")).isEqualTo("a commit after the burst");
      }
    }
  }

  /** Runs {@code sql} in its own session on a thread of its own (the common pool has one thread here). */
  private static CompletableFuture<Void> runOnOwnThread(RunningCompute c, String sql) {
    var done = new CompletableFuture<Void>();
    Thread.ofPlatform().daemon().name("statement").start(() -> {
      try (Connection conn = c.connect("postgres"); Statement st = conn.createStatement()) {
        st.execute(sql);
        done.complete(null);
      } catch (Throwable e) {
        done.completeExceptionally(e);
      }
    });
    return done;
  }

  private static void awaitDone(RunningCompute c, CompletableFuture<Void> statement, String what) throws Exception {
    try {
      statement.get(DONE_WITHIN.toSeconds(), TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      throw new AssertionError(what + " did not return within " + DONE_WITHIN + " of the safekeepers' return; slots "
          + "(name restart_lsn wal_status): " + Sql.one(c, "SELECT string_agg(slot_name || ' ' || coalesce(restart_lsn::text, '-') "
          + "|| ' ' || coalesce(wal_status, '-'), ', ' ORDER BY slot_name) FROM pg_replication_slots"), e);
    }
  }
}
