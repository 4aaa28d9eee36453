package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.TempDirectory;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The peer half of a catch-up (SafekeeperCatchUpFromObjectStorageTest has the object-storage half, and the
 * compute module's SafekeeperCatchUpTest runs one end to end): with nothing
 * offloaded, complete segments come from a real peer safekeeper over HTTP; its incomplete segment is not
 * taken; and a store whose flushed WAL differs from the peer's segment is never continued.
 */
class SafekeeperCatchUpFromPeerTest {
  private static final long SEG = Lsn.DEFAULT_SEGMENT_SIZE;
  private static final int TLI = 2;
  private final TenantId tenant = TenantId.random();
  private final TimelineId timeline = TimelineId.random();

  @Test
  void copiesTheCompleteSegmentsAPeerHoldsAndStopsAtItsIncompleteOne() throws Exception {
    byte[] wal = randomWal(2 * SEG + SEG / 2); // segments 1 and 2 complete, 3 half written
    try (var dir = TempDirectory.create("arbor-catchup-peer-"); Safekeeper peer = peerHolding(dir, wal);
         WalSegmentStore mine = WalSegmentStore.open(dir.resolve("mine"))) {
      mine.write(TLI, new Lsn(SEG), ByteBuffer.wrap(wal, 0, 5000)); // this safekeeper had the start of segment 1
      mine.flush();

      SafekeeperCatchUp.Result r = catchUp(dir).run(mine, TLI, new Lsn(SEG), List.of("http://127.0.0.1:1", peer.url()));

      assertThat(r.fromPeers()).isEqualTo(2);
      assertThat(r.sources()).isEqualTo("peer");
      assertThat(r.from()).isEqualTo(new Lsn(SEG + 5000));
      assertThat(r.to()).isEqualTo(new Lsn(3 * SEG));
      assertThat(r.stoppedAt()).isEqualTo(WalFileName.segment(TLI, 3, SEG));
      assertThat(mine.flushLsn(TLI)).contains(new Lsn(3 * SEG));
      for (long segno = 1; segno <= 2; segno++) {
        try (InputStream in = mine.openSegment(TLI, segno).orElseThrow()) {
          byte[] expected = new byte[(int) SEG];
          System.arraycopy(wal, (int) ((segno - 1) * SEG), expected, 0, (int) SEG);
          assertThat(in.readAllBytes()).isEqualTo(expected);
        }
      }
    }
  }

  @Test
  void neverContinuesFlushedWalThatDiffersFromThePeersSegment() throws Exception {
    byte[] wal = randomWal(2 * SEG);
    try (var dir = TempDirectory.create("arbor-catchup-peer-"); Safekeeper peer = peerHolding(dir, wal);
         WalSegmentStore mine = WalSegmentStore.open(dir.resolve("mine"))) {
      byte[] other = randomWal(5000);
      mine.write(TLI, new Lsn(SEG), ByteBuffer.wrap(other));
      mine.flush();

      assertThatThrownBy(() -> catchUp(dir).run(mine, TLI, new Lsn(SEG), List.of(peer.url())))
          .isInstanceOf(SafekeeperCatchUp.DivergedException.class);
      assertThat(mine.flushLsn(TLI)).contains(new Lsn(SEG + 5000));
    }
  }

  private SafekeeperCatchUp catchUp(TempDirectory dir) throws Exception {
    return new SafekeeperCatchUp(tenant, timeline, new LocalObjectStore(dir.resolve("empty-objects")), Duration.ofSeconds(10));
  }

  /** A real safekeeper (HTTP API) whose store holds {@code wal} of TLI 2 from segment 1 on, flushed. */
  private Safekeeper peerHolding(TempDirectory dir, byte[] wal) throws Exception {
    var data = dir.resolve("peer");
    try (WalSegmentStore store = WalSegmentStore.open(data.resolve(tenant.toString()).resolve(timeline.toString()).resolve("wal-store"))) {
      store.write(TLI, new Lsn(SEG), ByteBuffer.wrap(wal));
      store.flush();
    }
    return new Safekeeper(new SafekeeperConfig("sk-peer", new InetSocketAddress("127.0.0.1", 0), data,
        new LocalObjectStore(dir.resolve("peer-objects")))).start();
  }

  private static byte[] randomWal(long length) {
    byte[] b = new byte[(int) length];
    new Random(length).nextBytes(b);
    return b;
  }
}
