package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.postgres.WalRecordScanner;
import dev.arbor.testing.PostgresFixture;
import java.io.IOException;
import java.nio.ByteBuffer;
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
 * A safekeeper records its flush position without forcing the record on every flush, so after a crash
 * the store finds the end of its WAL by checking the records after the recorded position. Real
 * PostgreSQL WAL, cut, torn and damaged in one process: every whole record written is recovered,
 * nothing past the first torn or damaged one, and never less than the recorded position. The scanner's
 * checks each end the WAL exactly where PostgreSQL's own reader (pg_waldump) ends it.
 */
class WalEndRecoveryTest {

  private static final long SEGMENT = Lsn.DEFAULT_SEGMENT_SIZE;
  private static final int TLI = 1;

  @RegisterExtension
  static final PostgresFixture pg = new PostgresFixture()
      .withSetting("wal_level", "replica")
      .withSetting("wal_keep_size", "512MB")
      .withSetting("autovacuum", "off");

  @TempDir
  static Path tmp;

  /** The first segment the test copies WAL from. */
  private static long firstSegment;
  /** End of the last record of a large load: more than a segment after the first segment's start. */
  private static Lsn afterLoad;
  /** End of the last record of one more small transaction, after {@link #afterLoad}. */
  private static Lsn afterMore;
  /** End of a transaction after pg_switch_wal(): in the segment after {@link #afterMore}'s. */
  private static Lsn afterSwitch;

  @BeforeAll
  static void writeWal() throws Exception {
    try (Connection c = pg.connect()) {
      firstSegment = insertLsn(c).segmentNumber(SEGMENT);
      ComputeWal.execute(c, "CREATE TABLE t (id int, pad text)");
      ComputeWal.execute(c, "INSERT INTO t SELECT g, repeat('x', 900) FROM generate_series(1, 25000) g");
      afterLoad = insertLsn(c);
      ComputeWal.execute(c, "INSERT INTO t VALUES (0, 'one more')");
      afterMore = insertLsn(c);
      ComputeWal.execute(c, "SELECT pg_switch_wal()");
      ComputeWal.execute(c, "INSERT INTO t VALUES (-1, 'after the switch')");
      afterSwitch = insertLsn(c);
    }
    assertThat(afterLoad.segmentNumber(SEGMENT)).as("the load spans segments").isGreaterThan(firstSegment);
    assertThat(afterSwitch.segmentNumber(SEGMENT)).as("the switch ends the segment")
        .isEqualTo(afterMore.segmentNumber(SEGMENT) + 1);
  }

  private static Lsn insertLsn(Connection c) throws Exception {
    return RealWal.insertLsn(c, SEGMENT);
  }

  @Test
  void recoversEveryWholeRecordWrittenAfterTheRecordedFlush() throws Exception {
    Path dir = storeWith("whole", start().plus(100), afterLoad);
    try (var store = WalSegmentStore.open(dir)) {
      assertThat(store.flushLsn(TLI)).contains(afterLoad);
    }
  }

  @Test
  void aRecordCutShortByTheCrashEndsTheWal() throws Exception {
    Path dir = storeWith("torn", start().plus(100), afterLoad.plus(20));
    try (var store = WalSegmentStore.open(dir)) {
      assertThat(store.flushLsn(TLI)).contains(afterLoad);
    }
  }

  @Test
  void aDamagedRecordEndsTheWalEvenWhenWholeRecordsFollow() throws Exception {
    Path dir = storeWith("damaged", start().plus(100), afterMore);
    // One bit flipped in the data of the first record after afterLoad.
    flipByte(dir, afterLoad.plus(30));
    try (var store = WalSegmentStore.open(dir)) {
      assertThat(store.flushLsn(TLI)).contains(afterLoad);
    }
  }

  @Test
  void neverRecoversLessThanTheRecordedFlush() throws Exception {
    // The recorded flush is inside a record whose end never reached the file: the scan ends before it,
    // the recorded position stands (the bytes below it were forced before it was recorded).
    Lsn recorded = afterLoad.plus(20);
    Path dir = storeWith("recorded", recorded, recorded);
    try (var store = WalSegmentStore.open(dir)) {
      assertThat(store.flushLsn(TLI)).contains(recorded);
    }
  }

  @Test
  void theScannerMatchesPostgresOnTheWholeLoad() throws Exception {
    Optional<WalRecordScanner.Result> result = WalRecordScanner.scan(SEGMENT, firstSegment, n -> pgWalSegment(n, afterMore));
    assertThat(result).isPresent();
    assertThat(result.get().end()).isEqualTo(afterMore);
    assertThat(result.get().records()).as("records in the load").isGreaterThan(25000);
  }

  /** A scan from a known record start (a kept PGDATA's checkpoint) reads only from there and finds the same end. */
  @Test
  void aScanFromARecordStartFindsTheSameEndAndNothingFromElsewhere() throws Exception {
    WalRecordScanner.Result whole = WalRecordScanner.scan(SEGMENT, firstSegment, n -> pgWalSegment(n, afterMore)).orElseThrow();
    Optional<WalRecordScanner.Result> fromLast = WalRecordScanner.scanFrom(SEGMENT, whole.lastStart(), n -> pgWalSegment(n, afterMore));
    assertThat(fromLast).contains(new WalRecordScanner.Result(whole.end(), 1, whole.lastStart()));
    assertThat(WalRecordScanner.scanFrom(SEGMENT, whole.lastStart().plus(8), n -> pgWalSegment(n, afterMore)))
        .as("not a record start").isEmpty();
    assertThat(WalRecordScanner.scanFrom(SEGMENT, new Lsn(firstSegment * SEGMENT + 8192), n -> pgWalSegment(n, afterMore)))
        .as("a page header").isEmpty();
  }

  @Test
  void recoveryIsForcedSoThatAPowerLossNeedsNoScanFromTheOldPosition() throws Exception {
    Path dir = storeWith("rewritten", start().plus(100), afterLoad);
    // The record names start + 100; if it never reached the disk, state.json names the same position.
    var flushFile = new LastForcedContent(dir.resolve("flush"));
    flushFile.run(() -> {
      try (var store = WalSegmentStore.open(dir)) {
        assertThat(store.flushLsn(TLI)).contains(afterLoad);
      }
    });
    // The first segment is now below every position a power loss can leave in the record, so retention
    // may remove it; then the power loss.
    Files.delete(dir.resolve("wal").resolve(WalFileName.segment(TLI, firstSegment, SEGMENT)));
    flushFile.powerLoss();
    try (var store = WalSegmentStore.open(dir)) {
      assertThat(store.flushLsn(TLI)).contains(afterLoad);
    }
  }

  @Test
  void aCrcValidRecordThatDoesNotLinkBackToThePreviousOneEndsTheWal() throws Exception {
    // The record at afterLoad, with a back-link to elsewhere and a CRC that matches it: the bytes a
    // record of another history (a recycled segment, an older copy) would have at that position.
    Path dir = walCopy("prev-link", afterMore);
    var wal = new WalBytes(dir);
    wal.rewritePrevLink(afterLoad, afterLoad.value() - 8192);
    wal.save();
    assertScanEndsWherePostgresDoes(dir, afterLoad);
  }

  @Test
  void aPageWithAnotherPagesAddressEndsTheWal() throws Exception {
    // A page as the segment's previous use (PostgreSQL recycles segment files) left it.
    Lsn page = pageInsideTheLoad();
    Path dir = walCopy("page-address", afterMore);
    var wal = new WalBytes(dir);
    wal.putLong(page.value() + 8, page.value() - SEGMENT);
    wal.save();
    Lsn end = assertScanEndsWherePostgresDoes(dir, null);
    assertThat(end).isLessThanOrEqualTo(page).isGreaterThan(start());
  }

  @Test
  void aPageWithAnotherMagicEndsTheWal() throws Exception {
    // A page as another PostgreSQL version writes it.
    Lsn page = pageInsideTheLoad();
    Path dir = walCopy("page-magic", afterMore);
    var wal = new WalBytes(dir);
    wal.putShort(page.value(), (short) (wal.getShort(start().value()) - 1));
    wal.save();
    Lsn end = assertScanEndsWherePostgresDoes(dir, null);
    assertThat(end).isLessThanOrEqualTo(page).isGreaterThan(start());
  }

  @Test
  void walGoesOnAtTheNextSegmentAfterAnXlogSwitch() throws Exception {
    Path dir = walCopy("switch", afterSwitch);
    assertScanEndsWherePostgresDoes(dir, afterSwitch);
  }

  /** A page boundary two pages before the load's end, not a segment's first page. */
  private static Lsn pageInsideTheLoad() {
    long page = afterLoad.value() / 8192 * 8192 - 2 * 8192;
    return new Lsn(page % SEGMENT == 0 ? page - 8192 : page);
  }

  /** pg_wal's segments from the first one, zeros from {@code end} on, where pg_waldump can read them. */
  private static Path walCopy(String name, Lsn end) throws IOException {
    Path dir = pg.directory().resolve("wal-" + name);
    RealWal.copyUpTo(pg.server().dataDir().resolve("pg_wal"), dir, TLI, firstSegment, end, SEGMENT);
    return dir;
  }

  /** Scans {@code dir} from the first segment, checks the end against pg_waldump's (and {@code expected} unless null). */
  private static Lsn assertScanEndsWherePostgresDoes(Path dir, Lsn expected) throws Exception {
    Optional<WalRecordScanner.Result> scanned = WalRecordScanner.scan(SEGMENT, firstSegment, RealWal.segmentsIn(dir, TLI, SEGMENT));
    assertThat(scanned).isPresent();
    Lsn postgres = RealWal.postgresEnd(pg.server().installation(), dir, TLI, start(), SEGMENT);
    assertThat(scanned.get().end()).as("the scanner's end of WAL against PostgreSQL's").isEqualTo(postgres);
    if (expected != null) {
      assertThat(scanned.get().end()).isEqualTo(expected);
    }
    return postgres;
  }

  /** Little-endian access to the WAL in a directory of segment files, by LSN. */
  private static final class WalBytes {
    private final Path dir;
    private final java.util.Map<Long, ByteBuffer> segments = new java.util.HashMap<>();

    WalBytes(Path dir) {
      this.dir = dir;
    }

    private ByteBuffer segment(long lsn) throws IOException {
      long n = lsn / SEGMENT;
      ByteBuffer b = segments.get(n);
      if (b == null) {
        b = ByteBuffer.wrap(Files.readAllBytes(dir.resolve(WalFileName.segment(TLI, n, SEGMENT))))
            .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        segments.put(n, b);
      }
      return b;
    }

    byte get(long lsn) throws IOException {
      return segment(lsn).get((int) (lsn % SEGMENT));
    }

    void put(long lsn, byte value) throws IOException {
      segment(lsn).put((int) (lsn % SEGMENT), value);
    }

    short getShort(long lsn) throws IOException {
      return segment(lsn).getShort((int) (lsn % SEGMENT));
    }

    void putShort(long lsn, short value) throws IOException {
      segment(lsn).putShort((int) (lsn % SEGMENT), value);
    }

    void putLong(long lsn, long value) throws IOException {
      segment(lsn).putLong((int) (lsn % SEGMENT), value);
    }

    /**
     * Sets {@code xl_prev} of the record at {@code at} and its CRC-32C (over the data, then the header up
     * to the CRC, as PostgreSQL computes it), stepping over page headers the record crosses.
     */
    void rewritePrevLink(Lsn at, long prev) throws IOException {
      long[] header = positions(at.value(), 24);
      int totalLength = (int) littleEndian(header, 0, 4);
      long[] record = positions(at.value(), totalLength);
      for (int i = 0; i < 8; i++) {
        put(record[8 + i], (byte) (prev >>> (8 * i)));
      }
      var crc = new java.util.zip.CRC32C();
      for (int i = 24; i < totalLength; i++) {
        crc.update(get(record[i]));
      }
      for (int i = 0; i < 20; i++) {
        crc.update(get(record[i]));
      }
      int value = (int) crc.getValue();
      for (int i = 0; i < 4; i++) {
        put(record[20 + i], (byte) (value >>> (8 * i)));
      }
    }

    /** The LSNs of a record's {@code length} bytes from {@code start}, page headers skipped. */
    long[] positions(long start, int length) {
      long[] at = new long[length];
      long pos = start;
      for (int i = 0; i < length; i++) {
        if (pos % 8192 == 0) {
          pos += pos % SEGMENT == 0 ? 40 : 24;
        }
        at[i] = pos++;
      }
      return at;
    }

    long littleEndian(long[] positions, int from, int length) throws IOException {
      long value = 0;
      for (int i = length - 1; i >= 0; i--) {
        value = (value << 8) | (get(positions[from + i]) & 0xFF);
      }
      return value;
    }

    void save() throws IOException {
      for (var e : segments.entrySet()) {
        Files.write(dir.resolve(WalFileName.segment(TLI, e.getKey(), SEGMENT)), e.getValue().array());
      }
    }
  }

  private static Lsn start() {
    return new Lsn(firstSegment * SEGMENT);
  }

  /** A store holding pg_wal's bytes from the first segment's start to {@code written}, flushed to {@code flushed}. */
  private static Path storeWith(String name, Lsn flushed, Lsn written) throws IOException {
    Path dir = tmp.resolve(name);
    try (var store = WalSegmentStore.open(dir)) {
      copy(store, start(), flushed);
      store.flush();
      copy(store, flushed, written);
    }
    return dir;
  }

  private static void copy(WalSegmentStore store, Lsn from, Lsn to) throws IOException {
    RealWal.copy(store, pg.server().dataDir().resolve("pg_wal"), TLI, from, to);
  }

  private static Optional<ByteBuffer> pgWalSegment(long segment, Lsn end) throws IOException {
    if (segment * SEGMENT >= end.value()) {
      return Optional.empty();
    }
    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(pgWalFile(segment)));
    // pg_wal's files hold more WAL than the test measured (checkpoints, the switch): zero everything after end.
    for (long pos = Math.max(end.value(), segment * SEGMENT); pos < (segment + 1) * SEGMENT; pos++) {
      bytes.put((int) (pos % SEGMENT), (byte) 0);
    }
    return Optional.of(bytes);
  }

  private static Path pgWalFile(long segment) {
    return pg.server().dataDir().resolve("pg_wal").resolve(WalFileName.segment(TLI, segment, SEGMENT));
  }

  private static void flipByte(Path dir, Lsn at) throws IOException {
    Path file = dir.resolve("wal").resolve(WalFileName.segment(TLI, at.segmentNumber(SEGMENT), SEGMENT));
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.allocate(1);
      ch.read(b, at.segmentOffset(SEGMENT));
      b.put(0, (byte) (b.get(0) ^ 0x01));
      ch.write(b.rewind(), at.segmentOffset(SEGMENT));
    }
  }
}
