package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.postgres.Lsn;
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
 * A safekeeper records its flush position without forcing the record, so after a crash the store finds
 * the end of its WAL by checking the records after the recorded position. Real PostgreSQL WAL, cut and
 * damaged the ways a crash can leave it: every whole record written is recovered, nothing past the
 * first torn or damaged one, and never less than the recorded position.
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

  @BeforeAll
  static void writeWal() throws Exception {
    try (Connection c = pg.connect()) {
      firstSegment = insertLsn(c).segmentNumber(SEGMENT);
      ComputeWal.execute(c, "CREATE TABLE t (id int, pad text)");
      ComputeWal.execute(c, "INSERT INTO t SELECT g, repeat('x', 900) FROM generate_series(1, 25000) g");
      afterLoad = insertLsn(c);
      ComputeWal.execute(c, "INSERT INTO t VALUES (0, 'one more')");
      afterMore = insertLsn(c);
      ComputeWal.execute(c, "SELECT pg_switch_wal()"); // every byte we copy is in pg_wal's files
    }
    assertThat(afterLoad.segmentNumber(SEGMENT)).as("the load spans segments").isGreaterThan(firstSegment);
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
