package dev.arbor.storage.safekeeper;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.testing.TempDirectory;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The last segment of a PostgreSQL TLI that ended mid-segment (TLI 3's history says where) is a tail, never a
 * complete segment: offloaded as {@code <segment>.partial} cut exactly at the switch point, and never served past
 * it. Here TLI 2 ends at {@link #SWITCH} inside segment 2, while this safekeeper holds TLI 2 flushed beyond it
 * (WAL an old compute wrote after the fence, forced when TLI 3's first batch was), into segment 3.
 */
class EndedTimelineTailTest {
  static final Lsn SWITCH = new Lsn(2 * SEG + SEG / 2 + 0x1234);
  static final Lsn TLI2_FLUSH = new Lsn(3 * SEG + SEG / 4);
  static final String TAIL = WalFileName.segment(2, 2, SEG);

  private final TenantId tenant = TenantId.random();
  private final TimelineId timeline = TimelineId.random();

  @Test
  void theTailIsOffloadedAsPartialCutAtTheSwitchPointAndNothingPastItAsComplete() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-tail-")) {
      byte[] tli2 = holdEndedTli(dir.resolve("data"), tenant, timeline);
      var objects = new LocalObjectStore(dir.resolve("objects"));
      try (Safekeeper sk = SafekeeperData.start("sk-t", dir.resolve("data"), objects)) {
        sk.offloadNow();
        sk.offloadNow(); // and once more, as the loop does: nothing changes
      }

      assertThat(objects.getBytes(key(WalFileName.segment(2, 1, SEG)))).as("the complete segment before the switch")
          .hasValueSatisfying(b -> ComputeWal.assertIdentical("segment 1", b, Arrays.copyOf(tli2, (int) SEG)));
      assertThat(objects.exists(key(TAIL))).as("the tail under the complete segment's name").isFalse();
      assertThat(objects.exists(key(WalFileName.segment(2, 3, SEG)))).as("superseded WAL past the switch point").isFalse();
      assertThat(objects.exists(key(WalFileName.segment(2, 3, SEG) + ".partial"))).isFalse();
      assertThat(objects.exists(key(WalFileName.history(3)))).isTrue();
      byte[] tail = objects.getBytes(key(TAIL + ".partial")).orElseThrow();
      assertCutAtSwitchPoint(tail, tli2);

      try (var files = Files.list(SafekeeperData.storeDir(dir.resolve("data"), tenant, timeline).resolve("wal"))) {
        assertThat(files.map(p -> p.getFileName().toString()).filter(WalFileName::isSegment).toList())
            .as("segments left on disk: TLI 2's are offloaded (the tail as .partial) or superseded")
            .containsExactly(WalFileName.segment(3, 2, SEG));
      }
    }
  }

  @Test
  void walFileNeverServesTheEndedTliPastItsSwitchPoint() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-tail-")) {
      byte[] tli2 = holdEndedTli(dir.resolve("data"), tenant, timeline);
      try (Safekeeper sk = SafekeeperData.start("sk-t", dir.resolve("data"), new LocalObjectStore(dir.resolve("objects")))) {
        SafekeeperClient client = SafekeeperData.client(sk);
        assertThat(size(client, TAIL, new Lsn(3 * SEG))).as("the tail asked for as complete").isEmpty();
        assertThat(size(client, TAIL, SWITCH.plus(1))).as("asked for past the switch point").isEmpty();
        assertCutAtSwitchPoint(download(client, TAIL, SWITCH).orElseThrow(), tli2);
        assertCutAtSwitchPoint(download(client, TAIL, null).orElseThrow(), tli2);
        String past = WalFileName.segment(2, 3, SEG);
        assertThat(size(client, past, new Lsn(4 * SEG))).as("a segment after the switch point").isEmpty();
        assertThat(size(client, past, null)).as("a segment after the switch point, as a tail").isEmpty();
        assertThat(download(client, WalFileName.segment(2, 1, SEG), new Lsn(2 * SEG)))
            .as("a complete segment before the switch point")
            .hasValueSatisfying(b -> ComputeWal.assertIdentical("segment 1", b, Arrays.copyOf(tli2, (int) SEG)));
      }
    }
  }

  /** Bytes from the switch point on are zeros; before it, TLI 2's WAL; a full segment, as PostgreSQL's .partial files. */
  static void assertCutAtSwitchPoint(byte[] tail, byte[] tli2) {
    int cut = (int) SWITCH.segmentOffset(SEG);
    assertThat(tail.length).isEqualTo((int) SEG);
    ComputeWal.assertIdentical("the tail before the switch point", Arrays.copyOf(tail, cut),
        Arrays.copyOfRange(tli2, (int) SEG, (int) SEG + cut));
    ComputeWal.assertIdentical("the tail from the switch point on", Arrays.copyOfRange(tail, cut, tail.length), new byte[tail.length - cut]);
  }

  /** The size of what the safekeeper serves (not the bytes: a failure message would print 16 MiB). */
  private Optional<Integer> size(SafekeeperClient client, String file, Lsn minFlush) throws Exception {
    return download(client, file, minFlush).map(b -> b.length);
  }

  private Optional<byte[]> download(SafekeeperClient client, String file, Lsn minFlush) throws Exception {
    Optional<InputStream> in = client.walFile(tenant, timeline, file, minFlush, Duration.ofSeconds(30));
    if (in.isEmpty()) {
      return Optional.empty();
    }
    try (InputStream s = in.get()) {
      return Optional.of(s.readAllBytes());
    }
  }

  private String key(String walFile) {
    return ObjectKeys.wal(tenant, timeline, walFile);
  }

  /**
   * Lays out a store holding TLI 2 from segment 1 to {@link #TLI2_FLUSH}, TLI 3's history (TLI 2 ended at
   * {@link #SWITCH}) and TLI 3's first WAL; returns TLI 2's bytes from segment 1 on.
   */
  static byte[] holdEndedTli(Path data, TenantId tenant, TimelineId timeline) throws Exception {
    byte[] tli2 = SafekeeperData.randomWal(TLI2_FLUSH.value() - SEG, 22);
    try (WalSegmentStore store = WalSegmentStore.open(SafekeeperData.storeDir(data, tenant, timeline))) {
      store.write(2, new Lsn(SEG), ByteBuffer.wrap(tli2));
      store.flush();
      store.putHistoryFile(3, history3().getBytes(StandardCharsets.UTF_8));
      store.write(3, new Lsn(2 * SEG), ByteBuffer.wrap(SafekeeperData.randomWal(SEG / 2 + 0x2000, 33)));
      store.flush();
    }
    return tli2;
  }

  static String history3() {
    return "1\t" + new Lsn(SEG) + "\tno recovery target specified\n\n2\t" + SWITCH + "\tno recovery target specified\n";
  }
}
