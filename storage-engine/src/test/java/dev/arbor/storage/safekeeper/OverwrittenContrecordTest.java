package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.postgres.WalRecordScanner;
import dev.arbor.testing.PostgresFixture;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A compute that crashes inside a record crossing a page may already have streamed the record's first
 * pages to the safekeepers. Its crash recovery cannot read the record whole, ends the WAL before it,
 * and marks the page where the missing continuation was expected as overwriting it
 * ({@code XLP_FIRST_IS_OVERWRITE_CONTRECORD}, with an {@code XLOG_OVERWRITE_CONTRECORD} record), and
 * the WAL goes on from there on the same timeline. PostgreSQL's reader restarts at that page; a
 * safekeeper finding its end of WAL must too. Made the way PostgreSQL's own
 * {@code src/test/recovery/t/026_overwrite_contrecord.pl} makes it: a large record crossing a segment
 * boundary, an immediate stop, the later segment removed, and a restart; then once more with only the
 * later segment's pages after the first eight lost.
 */
class OverwrittenContrecordTest {

  private static final long SEGMENT = Lsn.DEFAULT_SEGMENT_SIZE;
  private static final int TLI = 1;
  private static final int PAGE = 8192;
  private static final int XLP_FIRST_IS_CONTRECORD = 0x0001;
  private static final int XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;

  @RegisterExtension
  static final PostgresFixture pg = new PostgresFixture()
      .withSetting("wal_level", "replica")
      .withSetting("wal_keep_size", "1GB")
      .withSetting("autovacuum", "off");

  @TempDir
  static Path tmp;

  /** pg_wal's segments from the one the first abandoned record begins in, zeros after {@link #end}. */
  private static Path walCopy;
  /** The segment the first abandoned record begins in; its continuation was the whole next segment. */
  private static long firstSegment;
  /** The end of the last commit before the first abandoned record. */
  private static Lsn beforeCutRecord;
  /**
   * A segment that begins with the tail of the second abandoned record: its first pages continue the
   * record, and a later page overwrites the rest.
   */
  private static long segmentWithOverwrittenTail;
  /** The end of the last record, written after the second crash recovery. */
  private static Lsn end;

  @BeforeAll
  static void writeWalWithOverwrittenContrecords() throws Exception {
    Path pgWal = pg.server().dataDir().resolve("pg_wal");
    try (Connection c = pg.connect()) {
      ComputeWal.execute(c, "CREATE TABLE filler (a int, b text)");
      beforeCutRecord = leaveLessThanTwoPagesInTheSegment(c);
      firstSegment = beforeCutRecord.segmentNumber(SEGMENT);
      emitRecordIntoTheNextSegment(c, firstSegment);
    }
    // The whole continuation is lost: the next segment never reached the disk.
    pg.server().kill();
    Files.delete(pgWal.resolve(WalFileName.segment(TLI, firstSegment + 1, SEGMENT)));
    pg.server().start();

    long secondSegment;
    try (Connection c = pg.connect()) {
      secondSegment = leaveLessThanTwoPagesInTheSegment(c).segmentNumber(SEGMENT);
      emitRecordIntoTheNextSegment(c, secondSegment);
    }
    // Only the continuation's first pages reached the disk: the others read as zeros.
    pg.server().kill();
    segmentWithOverwrittenTail = secondSegment + 1;
    try (FileChannel ch = FileChannel.open(pgWal.resolve(WalFileName.segment(TLI, segmentWithOverwrittenTail, SEGMENT)),
        StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate((int) SEGMENT - 8 * PAGE), 8 * PAGE);
      ch.force(false);
    }
    pg.server().start();
    try (Connection c = pg.connect()) {
      ComputeWal.execute(c, "CREATE TABLE after_the_crashes (a text)");
      ComputeWal.execute(c, "INSERT INTO after_the_crashes VALUES ('hello')");
      end = RealWal.insertLsn(c, SEGMENT);
    }
    walCopy = pg.directory().resolve("wal-copy"); // readable to PostgreSQL's OS user, for pg_waldump
    RealWal.copyUpTo(pgWal, walCopy, TLI, firstSegment, end, SEGMENT);

    assertThat(pageInfo(firstSegment + 1, 0) & XLP_FIRST_IS_OVERWRITE_CONTRECORD)
        .as("PostgreSQL marked the first page after the first cut as overwriting the lost continuation").isNotZero();
    assertThat(pageInfo(segmentWithOverwrittenTail, 0) & XLP_FIRST_IS_CONTRECORD)
        .as("the second abandoned record continues on the next segment's first page").isNotZero();
    assertThat(pageInfo(segmentWithOverwrittenTail, 8) & XLP_FIRST_IS_OVERWRITE_CONTRECORD)
        .as("PostgreSQL marked the first zeroed page as overwriting the lost continuation").isNotZero();
  }

  @Test
  void theScanRestartsAtEachOverwritingPageAndReachesTheEndOfWal() throws Exception {
    Optional<WalRecordScanner.Result> scanned = WalRecordScanner.scan(SEGMENT, firstSegment,
        RealWal.segmentsIn(walCopy, TLI, SEGMENT));
    assertThat(scanned).isPresent();
    assertThat(scanned.get().end()).isEqualTo(end)
        .isEqualTo(RealWal.postgresEnd(pg.server().installation(), walCopy, TLI, segmentStart(firstSegment), SEGMENT));
  }

  @Test
  void aScanFromASegmentWhoseContinuedRecordIsAbandonedRestartsAtTheOverwritingPage() throws Exception {
    Optional<WalRecordScanner.Result> scanned = WalRecordScanner.scan(SEGMENT, segmentWithOverwrittenTail,
        RealWal.segmentsIn(walCopy, TLI, SEGMENT));
    assertThat(scanned).isPresent();
    assertThat(scanned.get().end()).isEqualTo(end);
  }

  @Test
  void aStoreWhoseRecordedFlushIsBeforeTheAbandonedRecordRecoversTheWholeWal() throws Exception {
    Path dir = tmp.resolve("store");
    try (var store = WalSegmentStore.open(dir)) {
      RealWal.copy(store, walCopy, TLI, segmentStart(firstSegment), beforeCutRecord);
      store.flush();
      RealWal.copy(store, walCopy, TLI, beforeCutRecord, end);
    }
    try (var store = WalSegmentStore.open(dir)) {
      assertThat(store.flushLsn(TLI)).contains(end);
    }
  }

  /**
   * Writes WAL until less than two pages are left in the current segment, as PostgreSQL's own test does,
   * and returns where the last record ends.
   */
  private static Lsn leaveLessThanTwoPagesInTheSegment(Connection c) throws Exception {
    ComputeWal.execute(c, """
        DO $$
        DECLARE
          segment_size bigint := setting::bigint FROM pg_settings WHERE name = 'wal_segment_size';
          remain bigint;
        BEGIN
          LOOP
            remain := segment_size - (pg_current_wal_insert_lsn() - '0/0') % segment_size;
            EXIT WHEN remain < 2 * 8192;
            IF remain > 1048576 THEN
              INSERT INTO filler SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 500) g;
            ELSE
              INSERT INTO filler VALUES (0, repeat(md5(random()::text), (random() * 60 + 1)::int));
            END IF;
          END LOOP;
        END
        $$""");
    return RealWal.insertLsn(c, SEGMENT);
  }

  /** A 600 kB record (some 75 pages) that begins in {@code segment} and ends in the next one. */
  private static void emitRecordIntoTheNextSegment(Connection c, long segment) throws Exception {
    ComputeWal.execute(c, "SELECT pg_logical_emit_message(true, 'arbor-test', repeat('xyzxz', 123456))");
    assertThat(RealWal.insertLsn(c, SEGMENT).segmentNumber(SEGMENT)).as("the record crosses into the next segment")
        .isEqualTo(segment + 1);
  }

  private static int pageInfo(long segment, int page) throws Exception {
    ByteBuffer header = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
    try (FileChannel ch = FileChannel.open(walCopy.resolve(WalFileName.segment(TLI, segment, SEGMENT)),
        StandardOpenOption.READ)) {
      ch.read(header, (long) page * PAGE);
    }
    return Short.toUnsignedInt(header.getShort(2));
  }

  private static Lsn segmentStart(long segment) {
    return new Lsn(segment * SEGMENT);
  }
}
