package dev.arbor.storage.safekeeper;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.postgres.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.storage.http.HttpJson;
import dev.arbor.storage.id.TenantId;
import dev.arbor.storage.id.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.objectstore.ObjectStore;
import dev.arbor.testing.TempDirectory;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The object-storage half of a catch-up (SafekeeperCatchUpFromPeerTest has the peer half): the segments it
 * copies are read back byte for byte, each different, so a segment copied to the wrong place fails.
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

  private String key(String walFile) {
    return ObjectKeys.wal(tenant, timeline, walFile);
  }

  private SafekeeperCatchUp catchUp(ObjectStore objects) {
    return new SafekeeperCatchUp(tenant, timeline, objects, new HttpJson(Duration.ofSeconds(10)));
  }
}
