package dev.arbor.storage.safekeeper;

import static dev.arbor.storage.safekeeper.ComputeWal.awaitFlushed;
import static dev.arbor.storage.safekeeper.ComputeWal.execute;
import static dev.arbor.storage.safekeeper.ComputeWal.flushPosition;
import static dev.arbor.storage.safekeeper.ComputeWal.queryLsn;
import static dev.arbor.storage.safekeeper.ComputeWal.queryString;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.ServerUser;
import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.TempDirectory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A compute that promotes to a new PostgreSQL timeline, as every new generation does at the end of its
 * recovery: the safekeeper keeps the old timeline's WAL, stores the new timeline's history file and
 * follows the new timeline from the segment of its switch point. While in recovery it is not followed.
 */
class WalReceiverTimelineSwitchTest {

  @RegisterExtension
  static final PostgresFixture pg = ComputeWal.computeWithQuorumOfOneSafekeeper();

  private final ComputeWal compute = new ComputeWal(pg);

  @Test
  void followsTheComputeOntoItsNewTimelineAndKeepsItsHistoryFile() throws Exception {
    try (TempDirectory dir = TempDirectory.create("arbor-sk-")) {
      Lsn firstTimelineFlushed;
      Lsn start;
      try (Connection setup = compute.unacknowledgedSession()) {
        execute(setup, "CREATE TABLE items (id bigint, payload text)");
        start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
      }
      try (var store = WalSegmentStore.open(dir.path());
           Connection client = compute.acknowledgedSession()) {
        var receiver = compute.receiver(store, start).start();
        try {
          execute(client, "INSERT INTO items SELECT g, repeat('a', 500) FROM generate_series(1, 3000) g");
          execute(client, "SELECT pg_switch_wal()");
          execute(client, "INSERT INTO items SELECT g, repeat('b', 500) FROM generate_series(1, 100) g");
          awaitFlushed(receiver, flushPosition(client));
        } finally {
          receiver.close();
        }
        firstTimelineFlushed = receiver.flushLsn();
      }

      restartAsStandby();
      // Until it has promoted, the compute is not the one any generation's follow request names.
      try (var scratch = WalSegmentStore.open(dir.resolve("scratch"));
           var receiver = compute.receiver(scratch, start).timeline(1).start()) {
        assertThat(receiver.awaitTermination(Duration.ofMinutes(1))).isTrue();
        assertThat(receiver.failure()).hasValueSatisfying(f -> {
          assertThat(f.reason()).isEqualTo(WalReceiver.FailureReason.STALE_TIMELINE);
          assertThat(f.detail()).contains("in recovery");
        });
        assertThat(scratch.flushPosition()).isEmpty();
      }
      promote();
      byte[] history = Files.readAllBytes(compute.pgWal().resolve("00000002.history"));
      Lsn switchPoint = switchPointOf(history);

      try (var store = WalSegmentStore.open(dir.path());
           var receiver = compute.receiver(store, switchPoint).start();
           Connection client = compute.acknowledgedSession()) {
        execute(client, "INSERT INTO items VALUES (-2, 'acknowledged on timeline 2')");
        execute(client, "SELECT pg_switch_wal()");
        execute(client, "INSERT INTO items SELECT g, repeat('c', 500) FROM generate_series(1, 100) g");
        awaitFlushed(receiver, flushPosition(client));

        assertThat(receiver.compute()).hasValueSatisfying(c -> assertThat(c.timeline()).isEqualTo(2));
        assertThat(receiver.streamStart()).contains(switchPoint.segmentStart(store.segmentSize()));
        assertThat(store.historyFile(2)).hasValueSatisfying(b -> assertThat(b).isEqualTo(history));
        assertThat(store.flushLsn(1)).contains(firstTimelineFlushed);
        assertThat(store.flushPosition()).hasValueSatisfying(p -> assertThat(p.timeline()).isEqualTo(2));

        // The new timeline's first segment starts with the old timeline's WAL up to the switch point,
        // as PostgreSQL copied it; the safekeeper's copy matches PostgreSQL's file.
        var switchSegment = new WalSegmentId(2, switchPoint.segmentNumber(store.segmentSize()));
        assertThat(store.completedSegments()).contains(switchSegment);
        assertThat(compute.assertCompletedSegmentsIdentical(store)).isGreaterThanOrEqualTo(2);
        compute.assertPartialSegmentIdentical(store, 2);
      }
    }
  }

  /** Restarts the compute as a (hot) standby without a source; {@link #promote()} then makes it pick timeline 2. */
  private void restartAsStandby() throws Exception {
    pg.server().stop();
    Path signal = pg.server().dataDir().resolve("standby.signal");
    Files.createFile(signal);
    ServerUser.current().handOver(signal);
    pg.server().start();
  }

  private void promote() throws Exception {
    try (Connection c = pg.connect()) {
      assertThat(queryString(c, "SELECT pg_promote()")).isEqualTo("t");
    }
  }

  /** The last line of a history file reads {@code parentTLI <TAB> switchpoint <TAB> reason}. */
  private static Lsn switchPointOf(byte[] history) {
    List<String> lines = new String(history, StandardCharsets.US_ASCII).lines().filter(l -> !l.isBlank()).toList();
    return Lsn.parse(lines.getLast().split("\t")[1]);
  }
}
