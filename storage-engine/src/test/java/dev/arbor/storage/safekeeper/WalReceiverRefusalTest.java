package dev.arbor.storage.safekeeper;

import static dev.arbor.storage.safekeeper.ComputeWal.awaitFlushed;
import static dev.arbor.storage.safekeeper.ComputeWal.awaitStreaming;
import static dev.arbor.storage.safekeeper.ComputeWal.execute;
import static dev.arbor.storage.safekeeper.ComputeWal.flushPosition;
import static dev.arbor.storage.safekeeper.ComputeWal.queryLsn;
import static dev.arbor.storage.safekeeper.ComputeWal.queryString;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.storage.safekeeper.WalReceiver.FailureReason;
import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.sql.Connection;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * How a receiver tells the ways a real PostgreSQL 15 compute refuses to stream apart: the owner copies WAL
 * from elsewhere only when the compute said the WAL is gone, and never follows a compute that is not the one
 * the follow request named.
 */
class WalReceiverRefusalTest {

  /** No WAL kept beyond what checkpoints need, so WAL the receiver has not streamed really goes. */
  @RegisterExtension
  static final PostgresFixture pg = ComputeWal.computeWithQuorumOfOneSafekeeper().withSetting("wal_keep_size", "0");

  private final ComputeWal compute = new ComputeWal(pg);

  @Test
  void aSlotInUseByAnotherWalsenderIsRefusedButNotAsWalRemoved() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-refused-"); Connection setup = compute.unacknowledgedSession()) {
      Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
      try (var holderStore = WalSegmentStore.open(dir.resolve("holder"));
           var holder = compute.receiver(holderStore, start).slot("sk_busy").start()) {
        awaitStreaming(holder); // the walsender an old safekeeper process left behind holds the slot like this

        try (var store = WalSegmentStore.open(dir.resolve("mine"));
             var second = compute.receiver(store, start).slot("sk_busy").start()) {
          assertThat(second.awaitTermination(Duration.ofMinutes(1))).isTrue();
          assertThat(second.failure()).hasValueSatisfying(f -> {
            assertThat(f.reason()).isEqualTo(FailureReason.REPLICATION_REFUSED);
            assertThat(f.detail()).contains("is active");
          });
        }
      } finally {
        await().atMost(Duration.ofMinutes(1)).until(() -> queryString(setup,
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sk_busy' AND active").equals("0"));
        execute(setup, "SELECT pg_drop_replication_slot('sk_busy')");
      }
    }
  }

  @Test
  void walTheComputeRemovedIsReportedAsRemoved() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-removed-"); Connection setup = compute.unacknowledgedSession()) {
      execute(setup, "CREATE TABLE IF NOT EXISTS filler (pad text)");
      Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
      Lsn stoppedAt;
      try (var store = WalSegmentStore.open(dir.path())) {
        try (var receiver = compute.receiver(store, start).start()) { // no slot: nothing keeps its WAL
          execute(setup, "INSERT INTO filler SELECT repeat('x', 200) FROM generate_series(1, 1000)");
          awaitFlushed(receiver, flushPosition(setup));
          stoppedAt = receiver.flushLsn();
        }
        String stoppedIn = WalFileName.segment(1, stoppedAt.segmentNumber(store.segmentSize()), store.segmentSize());
        await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(200)).until(() -> {
          execute(setup, "INSERT INTO filler SELECT repeat('y', 200) FROM generate_series(1, 1000)");
          execute(setup, "SELECT pg_switch_wal()");
          execute(setup, "CHECKPOINT");
          return !Files.exists(compute.pgWal().resolve(stoppedIn));
        });

        try (var receiver = compute.receiver(store, start).start()) {
          assertThat(receiver.awaitTermination(Duration.ofMinutes(1))).isTrue();
          assertThat(receiver.failure()).hasValueSatisfying(f -> {
            assertThat(f.reason()).isEqualTo(FailureReason.WAL_REMOVED);
            assertThat(f.reason().retryable()).isTrue();
            assertThat(f.detail()).contains("has already been removed");
          });
        }
        assertThat(store.flushLsn(1)).contains(stoppedAt);
      }
    }
  }

  /**
   * The compute moved this safekeeper's slot past the store's end (it trimmed the slot of a safekeeper that fell
   * far behind with a minority). The WAL from the store's end is still in pg_wal until a checkpoint, but streaming
   * it would pull the slot back to the store's end and pin that WAL again: the receiver reports it as removed, so
   * that the owner catches up from elsewhere first, and leaves the slot where it is. After that catch-up the
   * compute is the last source, and the receiver streams from it.
   */
  @Test
  void aSlotMovedPastTheStoresEndIsReportedAsRemovedUntilACatchUpWasTried() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-trimmed-"); Connection setup = compute.unacknowledgedSession()) {
      execute(setup, "CREATE TABLE IF NOT EXISTS filler (pad text)");
      Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
      try (var store = WalSegmentStore.open(dir.path())) {
        Lsn stoppedAt;
        try (var receiver = compute.receiver(store, start).slot("sk_trimmed").start()) {
          execute(setup, "INSERT INTO filler SELECT repeat('x', 200) FROM generate_series(1, 1000)");
          awaitFlushed(receiver, flushPosition(setup));
          stoppedAt = receiver.flushLsn();
        }
        await().atMost(Duration.ofMinutes(1)).until(() -> queryString(setup,
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sk_trimmed' AND active").equals("0"));
        for (int i = 0; i < 2; i++) {
          execute(setup, "INSERT INTO filler SELECT repeat('y', 200) FROM generate_series(1, 1000)");
          execute(setup, "SELECT pg_switch_wal()");
        }
        Lsn trimmedTo = queryLsn(setup, "SELECT end_lsn FROM pg_replication_slot_advance('sk_trimmed', pg_current_wal_flush_lsn())");
        assertThat(trimmedTo.segmentNumber(store.segmentSize())).isGreaterThan(stoppedAt.segmentNumber(store.segmentSize()));

        try (var receiver = compute.receiver(store, start).slot("sk_trimmed").start()) {
          assertThat(receiver.awaitTermination(Duration.ofMinutes(1))).isTrue();
          assertThat(receiver.failure()).hasValueSatisfying(f -> {
            assertThat(f.reason()).isEqualTo(FailureReason.WAL_REMOVED);
            assertThat(f.detail()).contains("trimmed").contains(trimmedTo.toString()).contains(stoppedAt.toString());
          });
        }
        assertThat(queryLsn(setup, "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'sk_trimmed'"))
            .as("the slot stays where the compute moved it").isEqualTo(trimmedTo);

        try (var receiver = compute.receiver(store, start).slot("sk_trimmed").streamBelowSlot(true).start()) {
          awaitFlushed(receiver, flushPosition(setup));
          assertThat(receiver.streamStart()).contains(stoppedAt);
        }
      } finally {
        await().atMost(Duration.ofMinutes(1)).until(() -> queryString(setup,
            "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sk_trimmed' AND active").equals("0"));
        execute(setup, "SELECT pg_drop_replication_slot('sk_trimmed')");
      }
    }
  }

  @Test
  void aComputeOnAnotherTimelineThanTheFollowRequestNamesIsNeverFollowed() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-tli-"); Connection setup = compute.unacknowledgedSession()) {
      Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
      try (var store = WalSegmentStore.open(dir.path());
           var receiver = compute.receiver(store, start).timeline(2).start()) {
        assertThat(receiver.awaitTermination(Duration.ofMinutes(1))).isTrue();
        assertThat(receiver.failure()).hasValueSatisfying(f -> {
          assertThat(f.reason()).isEqualTo(FailureReason.STALE_TIMELINE);
          assertThat(f.reason().retryable()).isFalse();
          assertThat(f.detail()).contains("timeline 1").contains("timeline 2");
        });
        assertThat(store.flushPosition()).as("nothing of that compute stored").isEmpty();
        assertThat(store.systemIdentifier()).as("the store is not bound to that compute's system").isEmpty();
      }
      // The same compute, named with its own timeline, is followed.
      try (var store = WalSegmentStore.open(dir.path());
           var receiver = compute.receiver(store, start).timeline(1).start()) {
        awaitStreaming(receiver);
      }
    }
  }
}
