package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.Lsn;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WalSegmentStoreTest {

  private static final long SEG = 1L << 20; // PostgreSQL's smallest wal_segment_size keeps files small
  private static final Lsn SEGMENT_3 = new Lsn(3 * SEG);

  @TempDir
  Path dir;

  @Test
  void writeCrossingASegmentBoundaryLandsInBothSegmentsAtTheirOffsets() throws Exception {
    byte[] wal = randomBytes(SEG - 1000 + 3000, 1);
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(wal, 0, (int) SEG - 1000));
      store.write(1, SEGMENT_3.plus(SEG - 1000), ByteBuffer.wrap(wal, (int) SEG - 1000, 3000));
      assertThat(store.flush()).isEqualTo(SEGMENT_3.plus(wal.length));

      byte[] first = Files.readAllBytes(dir.resolve("wal/000000010000000000000003"));
      byte[] second = Files.readAllBytes(dir.resolve("wal/000000010000000000000004"));
      assertThat(first).isEqualTo(Arrays.copyOfRange(wal, 0, (int) SEG));
      assertThat(second).hasSize((int) SEG);
      assertThat(Arrays.copyOfRange(second, 0, 2000)).isEqualTo(Arrays.copyOfRange(wal, (int) SEG, wal.length));
      assertThat(Arrays.copyOfRange(second, 2000, (int) SEG)).isEqualTo(new byte[(int) SEG - 2000]);

      assertThat(store.segments(1)).containsExactly(new WalSegmentId(1, 3), new WalSegmentId(1, 4));
      assertThat(store.completedSegments()).containsExactly(new WalSegmentId(1, 3));
    }
  }

  @Test
  void oneWriteLargerThanASegmentSpansThreeSegments() throws Exception {
    byte[] wal = randomBytes(2 * SEG + SEG / 2, 2);
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(wal));
      store.flush();
      assertThat(store.completedSegments()).containsExactly(new WalSegmentId(1, 3), new WalSegmentId(1, 4));
      assertThat(concat(read(store, 1, 3), read(store, 1, 4), Arrays.copyOf(read(store, 1, 5), (int) SEG / 2)))
          .isEqualTo(wal);
    }
  }

  @Test
  void readersSeeZerosWhereWalIsWrittenButNotFlushed() throws Exception {
    byte[] wal = randomBytes(8192, 3);
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(wal, 0, 4096));
      store.flush();
      store.write(1, SEGMENT_3.plus(4096), ByteBuffer.wrap(wal, 4096, 4096));

      byte[] served = read(store, 1, 3);
      assertThat(served).hasSize((int) SEG);
      assertThat(Arrays.copyOf(served, 4096)).isEqualTo(Arrays.copyOf(wal, 4096));
      assertThat(Arrays.copyOfRange(served, 4096, (int) SEG)).isEqualTo(new byte[(int) SEG - 4096]);
      assertThat(store.completedSegments()).isEmpty();
      assertThat(store.openSegment(1, 4)).as("a segment without durable WAL is not served").isEmpty();
      assertThat(store.segmentFile(1, 4)).isEmpty();
    }
  }

  @Test
  void flushPositionSurvivesReopeningAndWalWrittenAfterTheLastFlushDoesNot() throws Exception {
    byte[] wal = randomBytes(12000, 4);
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(wal, 0, 10000));
      store.flush();
      store.write(1, SEGMENT_3.plus(10000), ByteBuffer.wrap(wal, 10000, 2000));
    }
    try (var store = WalSegmentStore.open(dir, SEG)) {
      assertThat(store.flushPosition()).contains(new WalPosition(1, SEGMENT_3.plus(10000)));
      assertThat(Arrays.copyOf(read(store, 1, 3), 10000)).isEqualTo(Arrays.copyOf(wal, 10000));
      // A receiver resumes exactly at the flush LSN; the unflushed tail is written again.
      store.write(1, SEGMENT_3.plus(10000), ByteBuffer.wrap(wal, 10000, 2000));
      assertThat(store.flush()).isEqualTo(SEGMENT_3.plus(12000));
    }
  }

  @Test
  void stateFileIsRewrittenWhenATimelineBeginsAndTheFlushRecordOnEveryFlush() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.bindSystemIdentifier(-2L); // 2^64 - 2: identifiers are unsigned 64-bit
      store.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes(100, 5)));
      store.flush();
      String json = Files.readString(dir.resolve("state.json"));
      assertThat(json).contains("\"format_version\" : 1", "\"segment_size\" : 1048576",
          "\"system_identifier\" : \"18446744073709551614\"", "\"timeline\" : 1", "\"flush_lsn\" : \"0/300064\"");

      store.write(1, SEGMENT_3.plus(100), ByteBuffer.wrap(randomBytes(50, 6)));
      store.flush();
      assertThat(Files.readString(dir.resolve("state.json"))).as("state.json after a flush on the same timeline")
          .isEqualTo(json);
    }
    try (var store = WalSegmentStore.open(dir, SEG)) {
      assertThat(store.flushPosition()).contains(new WalPosition(1, SEGMENT_3.plus(150)));
    }
    try (var files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrder("state.json", "flush", "wal", "lock");
    }
  }

  @Test
  void readsAStateFileAndFlushRecordOfFormatVersion1() throws Exception {
    Files.createDirectories(dir.resolve("wal"));
    Files.writeString(dir.resolve("state.json"), """
        {
          "format_version" : 1,
          "segment_size" : 16777216,
          "system_identifier" : "7412345678901234567",
          "timelines" : [ { "timeline" : 1, "flush_lsn" : "0/3000000" }, { "timeline" : 2, "flush_lsn" : "0/5000000" } ]
        }
        """);
    ByteBuffer record = ByteBuffer.allocate(8192);
    record.put(0, flushSlot(6, 2, Lsn.parse("0/5000148")));
    record.put(4096, flushSlot(5, 2, Lsn.parse("0/5000100")));
    Files.write(dir.resolve("flush"), record.array());
    // The segment the flush position lies in (zeros: no WAL records after that position).
    try (var segment = new RandomAccessFile(dir.resolve("wal/000000020000000000000005").toFile(), "rw")) {
      segment.setLength(Lsn.DEFAULT_SEGMENT_SIZE);
    }
    try (var store = WalSegmentStore.open(dir)) {
      assertThat(store.systemIdentifier()).hasValue(7412345678901234567L);
      assertThat(store.flushPosition()).contains(new WalPosition(2, Lsn.parse("0/5000148")));
      assertThat(store.flushLsn(1)).contains(Lsn.parse("0/3000000"));
      assertThat(store.timelines()).containsExactly(1, 2);
    }
  }

  @Test
  void aTornFlushRecordSlotFallsBackToThePreviousFlushAndTwoTornSlotsAreRefused() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes(100, 12)));
      store.flush(); // sequence 1, in the slot at 4096
      store.write(1, SEGMENT_3.plus(100), ByteBuffer.wrap(randomBytes(100, 13)));
      store.flush(); // sequence 2, in the slot at 0
    }
    // A crash while the second flush wrote its slot: that flush never returned, so the first one is current.
    corruptByte(dir.resolve("flush"), 30);
    try (var store = WalSegmentStore.open(dir, SEG)) {
      assertThat(store.flushPosition()).contains(new WalPosition(1, SEGMENT_3.plus(100)));
    }
    corruptByte(dir.resolve("flush"), 4096 + 30);
    assertThatThrownBy(() -> WalSegmentStore.open(dir, SEG)).isInstanceOf(IOException.class)
        .hasMessageContaining("holds no valid slot");
  }

  @Test
  void refusesAStoreWhoseFlushRecordIsMissing() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes(100, 14)));
      store.flush();
    }
    Files.delete(dir.resolve("flush"));
    assertThatThrownBy(() -> WalSegmentStore.open(dir, SEG)).isInstanceOf(IOException.class)
        .hasMessageContaining("has no flush record");
  }

  @Test
  void refusesAStateFileOfANewerFormatOrAnotherSegmentSize() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes(100, 6)));
      store.flush();
    }
    assertThatThrownBy(() -> WalSegmentStore.open(dir, 2 * SEG)).isInstanceOf(IOException.class)
        .hasMessageContaining("holds segments of 1048576 bytes, not 2097152");

    Files.writeString(dir.resolve("state.json"),
        Files.readString(dir.resolve("state.json")).replace("\"format_version\" : 1", "\"format_version\" : 2"));
    assertThatThrownBy(() -> WalSegmentStore.open(dir, SEG)).isInstanceOf(IOException.class)
        .hasMessageContaining("format version 2, written by a newer Arbor");
  }

  @Test
  void refusesHolesRewritesOfFlushedWalAndTimelinesThatDoNotStartAtASegment() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      assertThatThrownBy(() -> store.write(1, SEGMENT_3.plus(8), ByteBuffer.wrap(new byte[8])))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("must start at a segment boundary");

      store.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes(200, 7)));
      store.flush();
      store.write(1, SEGMENT_3.plus(200), ByteBuffer.wrap(randomBytes(100, 8)));

      assertThatThrownBy(() -> store.write(1, SEGMENT_3.plus(301), ByteBuffer.wrap(new byte[8])))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no holes");
      assertThatThrownBy(() -> store.write(1, SEGMENT_3.plus(199), ByteBuffer.wrap(new byte[8])))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("flushed WAL is never rewritten");
      // Unflushed WAL may be written again, e.g. when streaming restarts at the flush LSN.
      store.write(1, SEGMENT_3.plus(200), ByteBuffer.wrap(randomBytes(50, 9)));
      assertThat(store.flush()).isEqualTo(SEGMENT_3.plus(250));
    }
  }

  @Test
  void aNewerTimelineFreezesTheOlderOneAndKeepsItsFlushLsn() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes((int) SEG + 500, 10)));
      store.flush();
      Lsn tli2Start = new Lsn(4 * SEG);
      store.write(2, tli2Start, ByteBuffer.wrap(randomBytes(300, 11)));
      assertThat(store.flush()).isEqualTo(tli2Start.plus(300));

      assertThat(store.flushPosition()).contains(new WalPosition(2, tli2Start.plus(300)));
      assertThat(store.flushLsn(1)).contains(SEGMENT_3.plus(SEG + 500));
      assertThat(store.timelines()).containsExactly(1, 2);
      assertThat(store.completedSegments()).containsExactly(new WalSegmentId(1, 3));
      assertThat(store.segments(2)).containsExactly(new WalSegmentId(2, 4));
      assertThat(dir.resolve("wal/000000020000000000000004")).exists();
      assertThatThrownBy(() -> store.write(1, SEGMENT_3.plus(SEG + 500), ByteBuffer.wrap(new byte[8])))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("timeline 2 has begun");
    }
  }

  @Test
  void bindsToOnePostgresSystem() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.bindSystemIdentifier(42);
      store.bindSystemIdentifier(42);
      assertThatThrownBy(() -> store.bindSystemIdentifier(43)).isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("holds WAL of PostgreSQL system 42, not of system 43");
    }
    try (var store = WalSegmentStore.open(dir, SEG)) {
      assertThat(store.systemIdentifier()).hasValue(42);
    }
  }

  @Test
  void keepsHistoryFilesDurablyAndRefusesADifferentHistoryOfTheSameTimeline() throws Exception {
    byte[] history = "1\t0/3000148\tno recovery target specified\n".getBytes(StandardCharsets.US_ASCII);
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.putHistoryFile(2, history);
      store.putHistoryFile(2, history);
      assertThatThrownBy(() -> store.putHistoryFile(2, "1\t0/4000000\tother\n".getBytes(StandardCharsets.US_ASCII)))
          .isInstanceOf(IllegalStateException.class).hasMessageContaining("different history of timeline 2");
    }
    try (var store = WalSegmentStore.open(dir, SEG)) {
      assertThat(store.historyFile(2)).hasValueSatisfying(b -> assertThat(b).isEqualTo(history));
      assertThat(store.historyFile(3)).isEmpty();
      assertThat(dir.resolve("wal/00000002.history")).exists();
    }
  }

  @Test
  void oneDirectoryIsOpenInOneStoreAtATime() throws Exception {
    var store = WalSegmentStore.open(dir, SEG);
    assertThatThrownBy(() -> WalSegmentStore.open(dir, SEG)).isInstanceOf(IOException.class)
        .hasMessageContaining("is open in another store instance or process");
    store.close();
    WalSegmentStore.open(dir, SEG).close();
  }

  @Test
  void aSegmentThatCannotBeCreatedFailsThatWriteOnlyAndTheRetriedWriteSucceeds() throws Exception {
    byte[] wal = randomBytes(3 * SEG, 20);
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(wal, 0, (int) SEG + 100));
      store.flush();
      // Something in the way of the next segment's file, as a full disk or no free descriptor would be.
      Path blocker = Files.createDirectory(dir.resolve("wal/000000010000000000000005"));
      Lsn at = SEGMENT_3.plus(SEG + 100);
      assertThatThrownBy(() -> store.write(1, at, ByteBuffer.wrap(wal, (int) SEG + 100, (int) SEG)))
          .isInstanceOf(IOException.class).hasMessageContaining(blocker.toString());

      Files.delete(blocker);
      store.write(1, at, ByteBuffer.wrap(wal, (int) SEG + 100, (int) SEG));
      assertThat(store.flush()).isEqualTo(at.plus(SEG));
      assertThat(concat(read(store, 1, 3), read(store, 1, 4), Arrays.copyOf(read(store, 1, 5), 100)))
          .isEqualTo(Arrays.copyOf(wal, (int) (2 * SEG + 100)));
    }
  }

  @Test
  void aStateFileThatCannotBeReplacedFailsThatFlushOnlyAndTheRetriedFlushSucceeds() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      // The first flush of a timeline lists it in state.json; something is in that file's way.
      Path blocker = Files.createDirectories(dir.resolve("state.json/in-the-way"));
      store.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes(300, 22)));
      assertThatThrownBy(store::flush).isInstanceOf(IOException.class);

      Files.delete(blocker);
      Files.delete(dir.resolve("state.json"));
      assertThat(store.flush()).isEqualTo(SEGMENT_3.plus(300));
    }
    try (var store = WalSegmentStore.open(dir, SEG)) {
      assertThat(store.flushPosition()).contains(new WalPosition(1, SEGMENT_3.plus(300)));
    }
  }

  @Test
  void aStoreThatFailedToWriteWalRefusesMoreButStillRemovesOffloadedSegments() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes(2 * SEG + 100, 21)));
      store.flush();
      // A write that really fails: an interrupted thread's FileChannel closes and throws.
      Thread.currentThread().interrupt();
      try {
        assertThatThrownBy(() -> store.write(1, SEGMENT_3.plus(2 * SEG + 100), ByteBuffer.wrap(new byte[100])))
            .isInstanceOf(ClosedByInterruptException.class);
      } finally {
        Thread.interrupted();
      }
      assertThatThrownBy(store::flush).isInstanceOf(IOException.class).hasMessageContaining("failed to write or force WAL");

      // Deleting a complete, offloaded segment loses nothing, and frees the disk a failure may be about.
      store.removeSegment(new WalSegmentId(1, 3));
      assertThat(dir.resolve("wal/000000010000000000000003")).doesNotExist();
      assertThat(store.flushLsn(1)).contains(SEGMENT_3.plus(2 * SEG + 100));
    }
  }

  @Test
  void newDirectoriesAndRemovedSegmentsAreDurable() throws Exception {
    // A directory entry survives a power loss once its parent is fsynced (POSIX promises no more).
    Path store = dir.resolve("tenant/timeline/wal-store");
    var opening = FileIo.during(() -> WalSegmentStore.open(store, SEG).close());
    assertThat(FileIo.forced(opening)).as("directories fsynced while the store was created")
        .contains(dir, dir.resolve("tenant"), dir.resolve("tenant/timeline"), store);

    try (var s = WalSegmentStore.open(store, SEG)) {
      s.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes(SEG + 100, 23)));
      s.flush();
      var removal = FileIo.during(() -> s.removeSegment(new WalSegmentId(1, 3)));
      assertThat(FileIo.forced(removal)).as("files and directories fsynced while a segment was removed")
          .containsSubsequence(store.resolve("flush"), store.resolve("wal"));
    }
  }

  @Test
  void aStoreThatRefusesToOpenKeepsNoFileOpen() throws Exception {
    try (var store = WalSegmentStore.open(dir, SEG)) {
      store.write(1, SEGMENT_3, ByteBuffer.wrap(randomBytes(100, 24)));
      store.flush();
    }
    Files.delete(dir.resolve("wal/000000010000000000000003")); // the store now refuses to open
    assertThatThrownBy(() -> WalSegmentStore.open(dir, SEG)).isInstanceOf(IOException.class);
    assertThat(filesThisProcessHasOpenUnder(dir)).isEmpty();
  }

  private static List<Path> filesThisProcessHasOpenUnder(Path dir) throws IOException {
    var open = new ArrayList<Path>();
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        try {
          Path target = Files.readSymbolicLink(fd);
          if (target.startsWith(dir)) {
            open.add(target);
          }
        } catch (IOException closedMeanwhile) {
          // the listing's own descriptor, or one closed since
        }
      }
    }
    return open;
  }

  /** A flush record slot as FlushRecord's javadoc lays it out, built independently of the code. */
  private static byte[] flushSlot(long sequence, int timeline, Lsn lsn) {
    ByteBuffer slot = ByteBuffer.allocate(36);
    slot.putInt(0x41524246).putInt(1).putLong(sequence).putInt(timeline).putInt(0).putLong(lsn.value());
    var crc = new CRC32C();
    crc.update(slot.array(), 0, 32);
    return slot.putInt((int) crc.getValue()).array();
  }

  private static void corruptByte(Path file, int offset) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    bytes[offset] ^= 0x5A;
    Files.write(file, bytes);
  }

  private static byte[] read(WalSegmentStore store, int timeline, long segment) throws IOException {
    try (InputStream in = store.openSegment(timeline, segment).orElseThrow()) {
      return in.readAllBytes();
    }
  }

  private static byte[] randomBytes(long n, long seed) {
    byte[] b = new byte[(int) n];
    new Random(seed).nextBytes(b);
    return b;
  }

  private static byte[] concat(byte[]... parts) {
    int length = Arrays.stream(parts).mapToInt(p -> p.length).sum();
    ByteBuffer all = ByteBuffer.allocate(length);
    for (byte[] p : parts) {
      all.put(p);
    }
    return all.array();
  }
}
