package dev.arbor.storage.safekeeper;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.objectstore.ObjectStore;
import dev.arbor.testing.TempDirectory;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The object-storage half of a catch-up (SafekeeperCatchUpFromPeerTest has the peer half): the segments it
 * copies are read back byte for byte, each different, so a segment copied to the wrong place fails; and the
 * tail of a TLI that ended mid-segment is never taken as a complete segment, wherever it comes from.
 */
class SafekeeperCatchUpFromObjectStorageTest {
  private static final int TLI = 2;
  private final TenantId tenant = TenantId.random();
  private final TimelineId timeline = TimelineId.random();

  @Test
  void copiesCompleteSegmentsFromObjectStorageByteForByte() throws Exception {
    try (var dir = TempDirectory.create("arbor-catchup-objects-");
         WalSegmentStore mine = WalSegmentStore.open(dir.resolve("mine"))) {
      var objects = new LocalObjectStore(dir.resolve("objects"));
      byte[][] segments = new byte[4][];
      for (int segno = 1; segno <= 3; segno++) { // segments 1 to 3 offloaded by the peers; 4 nobody has complete
        segments[segno] = SafekeeperData.randomWal(SEG, 100 + segno);
        objects.put(key(WalFileName.segment(TLI, segno, SEG)), segments[segno]);
      }
      mine.write(TLI, new Lsn(SEG), ByteBuffer.wrap(segments[1], 0, 7000)); // this safekeeper had the start of segment 1
      mine.flush();

      SafekeeperCatchUp.Result r = catchUp(objects).run(mine, TLI, new Lsn(SEG), List.of());

      assertThat(r.sources()).isEqualTo("object_storage");
      assertThat(r.fromObjectStorage()).isEqualTo(3);
      assertThat(r.from()).isEqualTo(new Lsn(SEG + 7000));
      assertThat(r.to()).isEqualTo(new Lsn(4 * SEG));
      assertThat(r.stoppedAt()).isEqualTo(WalFileName.segment(TLI, 4, SEG));
      assertThat(mine.flushLsn(TLI)).contains(new Lsn(4 * SEG));
      for (int segno = 1; segno <= 3; segno++) {
        try (InputStream in = mine.openSegment(TLI, segno).orElseThrow()) {
          ComputeWal.assertIdentical("segment " + segno + " read back", in.readAllBytes(), segments[segno]);
        }
      }
    }
  }

  /**
   * A safekeeper still on the generation of TLI 2 catches up after the others moved on to TLI 3, which began
   * inside segment 2. Object storage has segment 2 of TLI 2 in full size with zeros after the switch point (as
   * tails were once offloaded under the complete segment's name), and a peer holds TLI 2 flushed past it. Neither
   * may carry this store's flush position past the switch point: it would hold zeros, or superseded WAL, as
   * durable WAL of TLI 2.
   */
  @Test
  void neverTakesAnEndedTlisTailAsACompleteSegment() throws Exception {
    try (var dir = TempDirectory.create("arbor-catchup-objects-");
         WalSegmentStore mine = WalSegmentStore.open(dir.resolve("mine"))) {
      byte[] tli2 = EndedTimelineTailTest.holdEndedTli(dir.resolve("peer"), tenant, timeline);
      var objects = new LocalObjectStore(dir.resolve("objects"));
      objects.put(key(WalFileName.segment(TLI, 1, SEG)), Arrays.copyOf(tli2, (int) SEG));
      byte[] archivedTail = new byte[(int) SEG];
      System.arraycopy(tli2, (int) SEG, archivedTail, 0, (int) EndedTimelineTailTest.SWITCH.segmentOffset(SEG));
      objects.put(key(WalFileName.segment(TLI, 2, SEG)), archivedTail);
      objects.put(key(WalFileName.history(3)), EndedTimelineTailTest.history3().getBytes(StandardCharsets.UTF_8));
      mine.write(TLI, new Lsn(SEG), ByteBuffer.wrap(tli2, 0, 5000));
      mine.flush();

      try (Safekeeper peer = SafekeeperData.start("sk-peer", dir.resolve("peer"), new LocalObjectStore(dir.resolve("peer-objects")))) {
        SafekeeperCatchUp.Result r = catchUp(objects).run(mine, TLI, new Lsn(SEG), List.of(peer.url()));
        assertThat(r.stoppedAt()).isEqualTo(WalFileName.segment(TLI, 2, SEG));
      }

      assertThat(mine.flushLsn(TLI)).as("flush LSN of TLI 2 after the catch-up").hasValueSatisfying(
          flush -> assertThat(flush).isLessThanOrEqualTo(EndedTimelineTailTest.SWITCH));
      try (InputStream in = mine.openSegment(TLI, 1).orElseThrow()) {
        ComputeWal.assertIdentical("segment 1 read back", in.readAllBytes(), Arrays.copyOf(tli2, (int) SEG));
      }
    }
  }

  /** Nothing in object storage says where TLI 2 ended; the peer, which knows, must not serve its tail as complete. */
  @Test
  void aPeerNeverHandsOutAnEndedTlisTailAsComplete() throws Exception {
    try (var dir = TempDirectory.create("arbor-catchup-objects-");
         WalSegmentStore mine = WalSegmentStore.open(dir.resolve("mine"))) {
      byte[] tli2 = EndedTimelineTailTest.holdEndedTli(dir.resolve("peer"), tenant, timeline);
      mine.write(TLI, new Lsn(SEG), ByteBuffer.wrap(tli2, 0, 5000));
      mine.flush();

      try (Safekeeper peer = SafekeeperData.start("sk-peer", dir.resolve("peer"), new LocalObjectStore(dir.resolve("peer-objects")))) {
        SafekeeperCatchUp.Result r = catchUp(new LocalObjectStore(dir.resolve("objects"))).run(mine, TLI, new Lsn(SEG),
            List.of(peer.url()));
        assertThat(r.sources()).isEqualTo("peer");
        assertThat(r.stoppedAt()).isEqualTo(WalFileName.segment(TLI, 2, SEG));
      }
      assertThat(mine.flushLsn(TLI)).contains(new Lsn(2 * SEG));
    }
  }

  private String key(String walFile) {
    return ObjectKeys.wal(tenant, timeline, walFile);
  }

  private SafekeeperCatchUp catchUp(ObjectStore objects) {
    return new SafekeeperCatchUp(tenant, timeline, objects, Duration.ofSeconds(10));
  }
}
