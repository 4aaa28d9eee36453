package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.Lsn;
import dev.arbor.testing.PostgresFixture;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** What the safekeeper tests ask of the compute (a {@link PostgresFixture}) and compare against its pg_wal. */
final class ComputeWal {

  static final String SAFEKEEPER_ID = "sk-test";
  /** Names with '-' must be double-quoted in synchronous_standby_names (its parser takes unquoted identifiers). */
  static final String SYNCHRONOUS_STANDBY_NAMES = "ANY 1 (\"" + SAFEKEEPER_ID + "\")";

  private final PostgresFixture pg;

  ComputeWal(PostgresFixture pg) {
    this.pg = pg;
  }

  static PostgresFixture computeWithQuorumOfOneSafekeeper() {
    return new PostgresFixture()
        .withSetting("wal_level", "replica")
        .withSetting("max_wal_senders", "10")
        .withSetting("max_replication_slots", "10")
        .withSetting("synchronous_commit", "on")
        .withSetting("synchronous_standby_names", SYNCHRONOUS_STANDBY_NAMES)
        // Keep past segments in pg_wal, so the tests can compare the safekeeper's copies with them.
        .withSetting("wal_keep_size", "512MB");
  }

  WalReceiver.Builder receiver(WalSegmentStore store, Lsn startLsn) {
    return WalReceiver.builder(store)
        .safekeeperId(SAFEKEEPER_ID)
        .compute("127.0.0.1", pg.server().port())
        .credentials(PostgresFixture.SUPERUSER, null)
        .startLsn(startLsn);
  }

  /** A session whose commits do not wait for the safekeeper: for setup and for writes while it is down. */
  Connection unacknowledgedSession() throws SQLException {
    Connection c = pg.connect();
    execute(c, "SET synchronous_commit = local");
    return c;
  }

  /** A session whose commits wait for the safekeeper (the server's setting). */
  Connection acknowledgedSession() throws SQLException {
    return pg.connect();
  }

  static void execute(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  static String queryString(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      assertThat(rs.next()).as("a row from %s", sql).isTrue();
      return rs.getString(1);
    }
  }

  static Lsn queryLsn(Connection c, String sql) throws SQLException {
    return Lsn.parse(queryString(c, sql));
  }

  /** The compute's WAL flush position: everything a walsender may send. */
  static Lsn flushPosition(Connection c) throws SQLException {
    return queryLsn(c, "SELECT pg_current_wal_flush_lsn()");
  }

  static void awaitFlushed(WalReceiver receiver, Lsn lsn) {
    await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(20))
        .untilAsserted(() -> {
          assertThat(receiver.failure()).as("receiver failure").isEmpty();
          assertThat(receiver.flushLsn()).isGreaterThanOrEqualTo(lsn);
        });
  }

  static void awaitStreaming(WalReceiver receiver) {
    await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(20))
        .untilAsserted(() -> {
          assertThat(receiver.failure()).as("receiver failure").isEmpty();
          assertThat(receiver.state()).isEqualTo(WalReceiver.State.STREAMING);
        });
  }

  Path pgWal() {
    return pg.server().dataDir().resolve("pg_wal");
  }

  /** Every completed segment in the store equals PostgreSQL's own file, byte for byte. Returns how many. */
  int assertCompletedSegmentsIdentical(WalSegmentStore store) throws IOException {
    List<WalSegmentId> completed = store.completedSegments();
    for (WalSegmentId segment : completed) {
      Path stored = store.segmentFile(segment.timeline(), segment.segmentNumber()).orElseThrow();
      assertIdentical(segment.fileName(store.segmentSize()), Files.readAllBytes(stored),
          Files.readAllBytes(pgWal().resolve(segment.fileName(store.segmentSize()))));
    }
    return completed.size();
  }

  /** The segment holding the flush LSN matches PostgreSQL's file up to the flush LSN; readers see zeros after. */
  void assertPartialSegmentIdentical(WalSegmentStore store, int timeline) throws IOException {
    Lsn flush = store.flushLsn(timeline).orElseThrow();
    long segment = flush.segmentNumber(store.segmentSize());
    int durable = (int) flush.segmentOffset(store.segmentSize());
    if (durable == 0) {
      return;
    }
    byte[] served;
    try (InputStream in = store.openSegment(timeline, segment).orElseThrow()) {
      served = in.readAllBytes();
    }
    String name = new WalSegmentId(timeline, segment).fileName(store.segmentSize());
    byte[] postgres = Files.readAllBytes(pgWal().resolve(name));
    assertIdentical(name + " up to " + flush, Arrays.copyOf(served, durable), Arrays.copyOf(postgres, durable));
    assertThat(Arrays.copyOfRange(served, durable, served.length)).as("bytes served past the flush LSN")
        .containsOnly((byte) 0);
  }

  /** Byte-for-byte equality that reports the first differing offset rather than printing megabytes. */
  static void assertIdentical(String what, byte[] actual, byte[] expected) {
    int mismatch = Arrays.mismatch(actual, expected);
    assertThat(mismatch).as("%s: first byte where the copy (%d bytes) differs from the original (%d bytes)",
        what, actual.length, expected.length).isEqualTo(-1);
  }

  /** pg_waldump's lines for transaction {@code xid} in {@code walDir} between two LSNs. */
  List<String> waldump(Path walDir, Lsn from, Lsn to, long xid) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(pg.server().installation().binary("pg_waldump").toString(),
        "-p", walDir.toString(), "-s", from.toString(), "-e", to.toString(), "-x", Long.toString(xid))
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(1, TimeUnit.MINUTES)).as("pg_waldump finished").isTrue();
    return out.lines().toList();
  }
}
