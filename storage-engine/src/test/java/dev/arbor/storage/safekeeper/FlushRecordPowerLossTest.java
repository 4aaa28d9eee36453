package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.testing.PostgresFixture;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The flush record is not forced on every flush, so a power loss may leave any version of it back to the
 * last one forced, and the store then scans the WAL from that version's segment to find its end.
 * Retention must therefore never have unlinked that segment: the store forces the record before it
 * unlinks a segment at or after the last forced position. Each test here takes the worst power loss,
 * one that keeps only what the store really forced ({@link LastForcedContent}), on real PostgreSQL WAL of
 * two timelines, and checks that the reopened store reports every flushed byte.
 */
class FlushRecordPowerLossTest {

  private static final long SEGMENT = Lsn.DEFAULT_SEGMENT_SIZE;

  @RegisterExtension
  static final PostgresFixture pg = new PostgresFixture()
      .withSetting("wal_level", "replica")
      .withSetting("wal_keep_size", "2GB")
      .withSetting("autovacuum", "off");

  @TempDir
  static Path tmp;

  /** Copies of pg_wal's segments: timeline 1 as it was before the promotion, then timeline 2. */
  private static Path tli1Wal;
  private static Path tli2Wal;
  private static long firstSegment;
  /** A commit early in the first segment: where a safekeeper streaming this WAL first flushes. */
  private static Lsn firstFlush;
  /** The end of timeline 1's last transaction, six segments after the first one. */
  private static Lsn tli1Written;
  /** Where timeline 2 begins (timeline 1 ends there), from PostgreSQL's 00000002.history. */
  private static Lsn switchPoint;
  /** The end of timeline 2's first records (the promotion's), in its first segment. */
  private static Lsn tli2FirstFlush;
  /** The end of timeline 2's last transaction, three segments on. */
  private static Lsn tli2Written;

  @BeforeAll
  static void writeWalOfTwoTimelines() throws Exception {
    try (Connection c = pg.connect()) {
      firstSegment = RealWal.insertLsn(c, SEGMENT).segmentNumber(SEGMENT);
      ComputeWal.execute(c, "CREATE TABLE t (id int, note text)");
      ComputeWal.execute(c, "INSERT INTO t VALUES (1, 'first')");
      firstFlush = RealWal.insertLsn(c, SEGMENT);
      emitMegabytes(c, 96);
      ComputeWal.execute(c, "INSERT INTO t VALUES (2, 'last on timeline 1')");
      tli1Written = RealWal.insertLsn(c, SEGMENT);
    }
    assertThat(firstFlush.segmentNumber(SEGMENT)).as("the first flush is in the first segment").isEqualTo(firstSegment);
    assertThat(tli1Written.segmentNumber(SEGMENT)).as("timeline 1 spans seven segments").isGreaterThanOrEqualTo(firstSegment + 6);

    // Promote the server as a standby of its own WAL: PostgreSQL then begins timeline 2.
    pg.server().stop(); // its shutdown checkpoint follows tli1Written
    tli1Wal = copyPgWal("tli1", 1, firstSegment, tli1Written.segmentNumber(SEGMENT) + 1);
    Files.createFile(pg.server().dataDir().resolve("standby.signal"));
    pg.server().start();
    try (Connection c = pg.connect()) {
      assertThat(ComputeWal.queryString(c, "SELECT pg_promote()::text")).isEqualTo("true");
      tli2FirstFlush = RealWal.insertLsn(c, SEGMENT);
      emitMegabytes(c, 40);
      ComputeWal.execute(c, "INSERT INTO t VALUES (3, 'last on timeline 2')");
      tli2Written = RealWal.insertLsn(c, SEGMENT);
    }
    String history = Files.readString(pgWal().resolve(WalFileName.history(2)), StandardCharsets.US_ASCII);
    switchPoint = Lsn.parse(history.strip().split("\t")[1]);
    long tli2First = switchPoint.segmentNumber(SEGMENT);
    tli2Wal = copyPgWal("tli2", 2, tli2First, tli2Written.segmentNumber(SEGMENT));
    assertThat(switchPoint).isGreaterThan(tli1Written);
    assertThat(Files.exists(tli1Wal.resolve(WalFileName.segment(1, tli2First, SEGMENT))))
        .as("timeline 1's copy holds the switch point").isTrue();
    assertThat(tli2FirstFlush.segmentNumber(SEGMENT)).as("timeline 2's first flush is in its first segment").isEqualTo(tli2First);
    assertThat(tli2Written.segmentNumber(SEGMENT)).as("timeline 2 spans three segments").isGreaterThanOrEqualTo(tli2First + 2);
  }

  @Test
  void aPowerLossAfterRetentionKeepsEveryFlushedByte() throws Exception {
    Path dir = tmp.resolve("retention");
    var store = WalSegmentStore.open(dir);
    var flushFile = new LastForcedContent(dir.resolve("flush"));
    RealWal.copy(store, tli1Wal, 1, segmentStart(firstSegment), firstFlush);
    store.flush();
    RealWal.copy(store, tli1Wal, 1, firstFlush, tli1Written);
    assertThat(store.flush()).isEqualTo(tli1Written);
    flushFile.run(() -> {
      store.removeSegment(new WalSegmentId(1, firstSegment));
      store.removeSegment(new WalSegmentId(1, firstSegment + 1));
    });
    store.close();

    flushFile.powerLoss();
    try (var reopened = WalSegmentStore.open(dir)) {
      assertThat(reopened.flushLsn(1)).as("flush LSN after the power loss").contains(tli1Written);
      // What a peer's catch-up reads from this store: the segment it resumes in, as PostgreSQL wrote it.
      assertServedAsPostgresWroteIt(reopened, tli1Wal, 1, tli1Written);
    }
  }

  @Test
  void aPowerLossAfterATimelineSwitchAndRetentionKeepsEveryFlushedByte() throws Exception {
    Path dir = tmp.resolve("timelines");
    var flushFile = storeOfTimeline1UpToTheSwitch(dir);
    var opened = new WalSegmentStore[1];
    flushFile.run(() -> opened[0] = WalSegmentStore.open(dir));
    WalSegmentStore store = opened[0];
    byte[] recordNamingTimeline1 = Files.readAllBytes(dir.resolve("flush"));
    long tli2First = switchPoint.segmentNumber(SEGMENT);
    RealWal.copy(store, tli2Wal, 2, segmentStart(tli2First), tli2FirstFlush);
    store.flush(); // timeline 2 begins: state.json lists it with this flush LSN
    RealWal.copy(store, tli2Wal, 2, tli2FirstFlush, tli2Written);
    assertThat(store.flush()).isEqualTo(tli2Written);
    flushFile.run(() -> {
      for (long n = firstSegment; n <= tli2First; n++) {
        store.removeSegment(new WalSegmentId(1, n));
      }
      store.removeSegment(new WalSegmentId(2, tli2First));
      store.removeSegment(new WalSegmentId(2, tli2First + 1));
    });
    store.close();

    flushFile.powerLoss();
    try (var reopened = WalSegmentStore.open(dir)) {
      assertThat(reopened.flushLsn(2)).as("timeline 2's flush LSN after the power loss").contains(tli2Written);
      assertThat(reopened.flushLsn(1)).as("timeline 1 ends at the switch point").contains(switchPoint);
      assertServedAsPostgresWroteIt(reopened, tli2Wal, 2, tli2Written);
    }

    // A record of timeline 1 (no power loss leaves it any more) would send the scan to timeline 2's
    // first flush in state.json, in a segment that is gone.
    Files.write(dir.resolve("flush"), recordNamingTimeline1);
    assertThatThrownBy(() -> WalSegmentStore.open(dir)).isInstanceOf(IOException.class)
        .hasMessageContaining(WalFileName.segment(2, tli2First, SEGMENT));
  }

  @Test
  void refusesToOpenWhenTheFlushRecordIsOlderThanTheSegmentsItNeeds() throws Exception {
    // No power loss leaves this (the record is forced before those segments go), but restored backups
    // or hand-deleted files can: the store must not report the old position as its flush LSN.
    Path dir = tmp.resolve("stale-record");
    byte[] recordOfTheFirstFlush;
    try (var store = WalSegmentStore.open(dir)) {
      RealWal.copy(store, tli1Wal, 1, segmentStart(firstSegment), firstFlush);
      store.flush();
      recordOfTheFirstFlush = Files.readAllBytes(dir.resolve("flush"));
      RealWal.copy(store, tli1Wal, 1, firstFlush, tli1Written);
      store.flush();
      store.removeSegment(new WalSegmentId(1, firstSegment));
    }
    Files.write(dir.resolve("flush"), recordOfTheFirstFlush);
    String missing = WalFileName.segment(1, firstSegment, SEGMENT);
    assertThatThrownBy(() -> WalSegmentStore.open(dir)).isInstanceOf(IOException.class)
        .hasMessageContaining(dir.toString())
        .hasMessageContaining(missing)
        .hasMessageContaining("flushed up to " + firstFlush)
        .hasMessageContaining("put the segment back");
  }

  @Test
  void refusesToOpenWhenTheSegmentHoldingTheFlushLsnIsGone() throws Exception {
    Path dir = tmp.resolve("deleted-segment");
    try (var store = WalSegmentStore.open(dir)) {
      RealWal.copy(store, tli1Wal, 1, segmentStart(firstSegment), firstFlush);
      store.flush();
    }
    Files.delete(dir.resolve("wal").resolve(WalFileName.segment(1, firstSegment, SEGMENT)));
    assertThatThrownBy(() -> WalSegmentStore.open(dir)).isInstanceOf(IOException.class)
        .hasMessageContaining(WalFileName.segment(1, firstSegment, SEGMENT))
        .hasMessageContaining("rebuild the store from its peers");
  }

  /** A store holding timeline 1 up to the switch point, flushed; its flush file as a power loss would leave it. */
  private static LastForcedContent storeOfTimeline1UpToTheSwitch(Path dir) throws Exception {
    try (var store = WalSegmentStore.open(dir)) {
      var flushFile = new LastForcedContent(dir.resolve("flush"));
      RealWal.copy(store, tli1Wal, 1, segmentStart(firstSegment), firstFlush);
      store.flush();
      RealWal.copy(store, tli1Wal, 1, firstFlush, switchPoint);
      assertThat(store.flush()).isEqualTo(switchPoint);
      return flushFile;
    }
  }

  private static void assertServedAsPostgresWroteIt(WalSegmentStore store, Path walCopy, int tli, Lsn flush)
      throws IOException {
    long segment = flush.segmentNumber(SEGMENT);
    byte[] served;
    try (InputStream in = store.openSegment(tli, segment).orElseThrow()) {
      served = in.readAllBytes();
    }
    int durable = (int) flush.segmentOffset(SEGMENT);
    byte[] postgres = Files.readAllBytes(walCopy.resolve(WalFileName.segment(tli, segment, SEGMENT)));
    ComputeWal.assertIdentical(WalFileName.segment(tli, segment, SEGMENT) + " up to " + flush,
        Arrays.copyOf(served, durable), Arrays.copyOf(postgres, durable));
  }

  /** Writes {@code count} MiB of WAL in 1 MiB records, each crossing many pages, some crossing segments. */
  private static void emitMegabytes(Connection c, int count) throws Exception {
    ComputeWal.execute(c, "SELECT count(pg_logical_emit_message(false, 'arbor-test', repeat('w', 1048576))) "
        + "FROM generate_series(1, " + count + ")");
  }

  private static Path pgWal() {
    return pg.server().dataDir().resolve("pg_wal");
  }

  private static Path copyPgWal(String name, int tli, long from, long to) throws IOException {
    Path copy = Files.createDirectories(tmp.resolve(name));
    for (long n = from; n <= to; n++) {
      Path file = pgWal().resolve(WalFileName.segment(tli, n, SEGMENT));
      if (Files.exists(file)) {
        Files.copy(file, copy.resolve(file.getFileName()));
      }
    }
    return copy;
  }

  private static Lsn segmentStart(long segment) {
    return new Lsn(segment * SEGMENT);
  }
}
