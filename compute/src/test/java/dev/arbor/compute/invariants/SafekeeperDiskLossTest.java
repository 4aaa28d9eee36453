package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.ComputeStartException;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Slots;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Issue 11, item 5: a safekeeper that loses its disk rejoins. While writers commit under load, one safekeeper's
 * data directory is wiped: commits go on with the other two, the wiped one comes back empty, refuses to vote
 * until it holds WAL again (its empty answer could elect an end below acknowledged commits), catches up to the
 * compute, and then carries commits that only it and one other safekeeper hold. A new compute elected by the
 * rejoined safekeeper and the one that was down meanwhile must find every acknowledged commit.
 */
class SafekeeperDiskLossTest {
  private static final Duration PATIENCE = Duration.ofMinutes(3);

  @Test
  void aWipedSafekeeperRejoinsAndNoAcknowledgedCommitIsLost() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-sk-loss-")) {
      TenantInfo tenant = storage.createTenant(15);
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();
      String wiped = "sk-1";
      String other = "sk-2"; // down while only the wiped one and sk-0 acknowledge
      String last = "sk-0"; // down at the end: the wiped one is needed for a majority

      // A small maxSlotWalKeepSize: the compute trims the wiped safekeeper's slot while it is down, so it rejoins
      // through catch-up (object storage, peers), not by streaming everything from the compute.
      RunningCompute first = Computes.startKeepingWal(storage, t, main, work.resolve("c1"),
          Map.of("max_wal_size", "64MB", "min_wal_size", "32MB"), "64MB");
      Set<Long> acked;
      try (first) {
        Sql.exec(first, CommitLedger.DDL);
        try (var ledger = new CommitLedger(4, Sql.connections(first))) {
          await().atMost(PATIENCE).until(() -> ledger.count() >= 300);

          // The disk is lost: the process dies and comes back on the same id and port with an empty directory.
          long refusedBefore = storage.refusedVotes(wiped);
          storage.killSafekeeper(wiped);
          Lsn stoppedAt = Slots.keptFrom(first, wiped);
          storage.wipeSafekeeper(wiped);
          try (var left = Files.list(storage.safekeeperDataDir(wiped))) {
            assertThat(left).as("%s's data directory after the wipe", wiped).isEmpty();
          }
          int atWipe = ledger.count();
          await().atMost(PATIENCE).alias(String.format("commits go on with the other two safekeepers while %s is down", wiped))
              .until(() -> ledger.count() >= atWipe + 300);
          // ~96 MB: the wiped safekeeper's slot falls more than maxSlotWalKeepSize behind.
          Sql.exec(first, "SELECT pg_logical_emit_message(true, 'arbor', repeat(md5(g::text), 1024)) FROM generate_series(1, 3000) g");
          Slots.awaitTrimmedAndRecycled(first, wiped, stoppedAt);
          storage.startSafekeeper(wiped);

          Lsn computeFlush = Lsn.parse(Sql.one(first, "SELECT pg_current_wal_flush_lsn()"));
          await().atMost(PATIENCE).alias(String.format("%s follows generation %d and flushed its WAL up to %s", wiped, first.generation(), computeFlush))
              .until(() -> storage.followsUpTo(wiped, t, main, first.generation(), first.pgTli(), computeFlush));
          assertThat(storage.refusedVotes(wiped)).as("%s refused to vote while it held no WAL", wiped).isGreaterThan(refusedBefore);
          assertThat(Files.readString(storage.directory().resolve("logs/" + wiped + ".log"))).as("%s caught up", wiped)
              .containsPattern("event=safekeeper_catch_up .*segments=[1-9][0-9]* from=(object_storage|peer)");

          // From here on every commit is acknowledged by the rejoined safekeeper and sk-0 only.
          storage.killSafekeeper(other);
          int atOtherDown = ledger.count();
          await().atMost(PATIENCE).alias(String.format("commits go on with %s and the rejoined %s", last, wiped))
              .until(() -> ledger.count() >= atOtherDown + 300);
          first.kill();
          acked = ledger.acknowledged();
        }
      }

      // The new compute's majority is the rejoined safekeeper and the one that missed the last commits.
      storage.killSafekeeper(last);
      storage.startSafekeeper(other);
      try (RunningCompute second = Computes.start(storage, t, main, work.resolve("c2"))) {
        Set<Long> present = new HashSet<>(Sql.longs(second, "SELECT id FROM ledger_rows"));
        Set<Long> lost = new HashSet<>(acked);
        lost.removeAll(present);
        assertThat(acked).hasSizeGreaterThanOrEqualTo(900);
        assertThat(lost).as("acknowledged commits missing from generation %d", second.generation()).isEmpty();
      }
    }
  }

  /**
   * The wiped safekeeper comes back while the only other copy of the last commits is down: its empty answer
   * must not complete a majority with a safekeeper that missed them (that election would end the WAL before
   * them). The start fails until the safekeeper holding them returns; then nothing is lost.
   */
  @Test
  void aWipedSafekeeperDoesNotCompleteAMajorityBeforeItCaughtUp() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-sk-loss-")) {
      TenantInfo tenant = storage.createTenant(15);
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();
      Set<Long> acked;
      try (RunningCompute first = Computes.start(storage, t, main, work.resolve("c1"))) {
        Sql.exec(first, CommitLedger.DDL);
        try (var ledger = new CommitLedger(4, Sql.connections(first))) {
          await().atMost(PATIENCE).until(() -> ledger.count() >= 200);
          storage.killSafekeeper("sk-2");
          int atDown = ledger.count();
          // These commits are on sk-0 and sk-1 only.
          await().atMost(PATIENCE).until(() -> ledger.count() >= atDown + 300);
          first.kill();
          acked = ledger.acknowledged();
        }
      }
      long refusedBefore = storage.refusedVotes("sk-1");
      storage.killSafekeeper("sk-1");
      storage.wipeSafekeeper("sk-1");
      storage.startSafekeeper("sk-1");
      storage.killSafekeeper("sk-0");
      storage.startSafekeeper("sk-2");

      try (RunningCompute wrong = Computes.start(storage, t, main, work.resolve("c2"))) {
        Set<Long> missing = new HashSet<>(acked);
        missing.removeAll(new HashSet<>(Sql.longs(wrong, "SELECT id FROM ledger_rows")));
        fail("generation %d started with the wiped sk-1 and sk-2, which missed the last commits, as its majority: "
            + "%d of %d acknowledged commits are missing from it", wrong.generation(), missing.size(), acked.size());
      } catch (ComputeStartException expected) {
        // no majority without sk-0, the only other holder of the last commits
      }
      assertThat(storage.refusedVotes("sk-1")).as("sk-1 refused to vote while it held no WAL").isGreaterThan(refusedBefore);

      storage.startSafekeeper("sk-0");
      try (RunningCompute second = Computes.start(storage, t, main, work.resolve("c3"))) {
        Set<Long> lost = new HashSet<>(acked);
        lost.removeAll(new HashSet<>(Sql.longs(second, "SELECT id FROM ledger_rows")));
        assertThat(acked).hasSizeGreaterThanOrEqualTo(500);
        assertThat(lost).as("acknowledged commits missing from generation %d", second.generation()).isEmpty();
        Lsn flush = Lsn.parse(Sql.one(second, "SELECT pg_current_wal_flush_lsn()"));
        await().atMost(PATIENCE).alias("the wiped sk-1 rejoins generation " + second.generation())
            .until(() -> storage.followsUpTo("sk-1", t, main, second.generation(), second.pgTli(), flush));
      }
    }
  }

  /**
   * The disk goes while the safekeeper runs: the process keeps its open files and its positions in memory. It
   * must not record a new generation on the replaced directory as if it had taken part with its WAL: after its
   * restart it holds no WAL, and a safekeeper that has accepted a generation before votes with an empty answer.
   * A fence while it runs wiped (here a start that fails once the election is done, the pageserver being down)
   * followed by its restart must still leave it unable to complete a majority until it caught up.
   */
  @Test
  void aSafekeeperWipedWhileRunningDoesNotVoteEmptyAfterItsRestart() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-sk-loss-")) {
      TenantInfo tenant = storage.createTenant(15);
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();
      Set<Long> acked;
      try (RunningCompute first = Computes.start(storage, t, main, work.resolve("c1"))) {
        Sql.exec(first, CommitLedger.DDL);
        try (var ledger = new CommitLedger(4, Sql.connections(first))) {
          await().atMost(PATIENCE).until(() -> ledger.count() >= 200);
          storage.killSafekeeper("sk-2");
          int atDown = ledger.count();
          await().atMost(PATIENCE).until(() -> ledger.count() >= atDown + 300); // on sk-0 and sk-1 only
          first.kill();
          acked = ledger.acknowledged();
        }
      }
      storage.wipeRunningSafekeeper("sk-1");
      storage.killPageserver();
      storage.startSafekeeper("sk-2");
      try (RunningCompute unexpected = Computes.start(storage, t, main, work.resolve("c2"))) {
        fail("generation %d started without a pageserver", unexpected.generation());
      } catch (java.net.ConnectException expected) {
        // the election fenced the safekeepers, the reservation found no pageserver
      }
      storage.killSafekeeper("sk-1");
      storage.startSafekeeper("sk-1");
      storage.killSafekeeper("sk-0");
      storage.startPageserver();

      try (RunningCompute wrong = Computes.start(storage, t, main, work.resolve("c3"))) {
        Set<Long> missing = new HashSet<>(acked);
        missing.removeAll(new HashSet<>(Sql.longs(wrong, "SELECT id FROM ledger_rows")));
        fail("generation %d started with sk-1, wiped while it ran, and sk-2, which missed the last commits, as its majority: "
            + "%d of %d acknowledged commits are missing from it", wrong.generation(), missing.size(), acked.size());
      } catch (ComputeStartException expected) {
        // no majority without sk-0, the only other holder of the last commits
      }
      storage.startSafekeeper("sk-0");
      try (RunningCompute second = Computes.start(storage, t, main, work.resolve("c4"))) {
        Set<Long> lost = new HashSet<>(acked);
        lost.removeAll(new HashSet<>(Sql.longs(second, "SELECT id FROM ledger_rows")));
        assertThat(lost).as("acknowledged commits missing from generation %d", second.generation()).isEmpty();
      }
    }
  }
}
