package dev.arbor.storage.safekeeper;

import dev.arbor.api.safekeeper.FenceResult;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.api.safekeeper.TimelineWalStatus;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.api.safekeeper.SafekeeperStatus;
import dev.arbor.client.SafekeeperClient;
import java.time.Duration;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.TempDirectory;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

/**
 * One timeline whose store cannot be opened must not take the whole safekeeper down: the others load and
 * serve, and the bad one answers 503 with what is wrong and what to do, until an operator acts.
 */
class SafekeeperQuarantineTest {
  private final TenantId tenant = TenantId.random();
  private final TimelineId good = TimelineId.random();
  private final TimelineId bad = TimelineId.random();

  @Test
  void aTimelineWithBothFlushSlotsDamagedIsQuarantinedWhileTheOthersServe() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-quarantine-")) {
      Path data = dir.resolve("data");
      Lsn end = new Lsn(SEG + SEG / 2);
      SafekeeperData.writeWal(SafekeeperData.storeDir(data, tenant, good), 2, new Lsn(SEG), SafekeeperData.randomWal(SEG / 2, 1));
      Path badStore = SafekeeperData.storeDir(data, tenant, bad);
      SafekeeperData.writeWal(badStore, 2, new Lsn(SEG), SafekeeperData.randomWal(SEG / 2, 2));
      damageBothSlots(badStore.resolve("flush"));

      try (Safekeeper sk = SafekeeperData.start("sk-q", data, new LocalObjectStore(dir.resolve("objects")))) {
        SafekeeperClient client = SafekeeperData.client(sk);
        assertThat(client.timeline(tenant, good)).isEqualTo(new TimelineWalStatus("sk-q", 0, 2, end, false));
        assertThat(client.fence(tenant, good, new FenceRequest(1, null))).isEqualTo(new FenceResult("sk-q", 1, 2, end));

        String segment = WalFileName.segment(2, 1, SEG);
        var follow = new FollowRequest(1, 2, new Lsn(SEG), "127.0.0.1", 1, "arbor_replication", "x", "arbor_sk_q", List.of());
        Duration read = Duration.ofSeconds(30);
        assertUnavailable(() -> client.timeline(tenant, bad), badStore);
        assertUnavailable(() -> client.fence(tenant, bad, new FenceRequest(1, null)), badStore);
        assertUnavailable(() -> client.follow(tenant, bad, follow), badStore);
        assertUnavailable(() -> client.walFile(tenant, bad, segment, null, read), badStore);
        assertUnavailable(() -> client.walFile(tenant, bad, segment, new Lsn(2 * SEG), read), badStore);

        assertThat(client.status()).isEqualTo(new SafekeeperStatus("safekeeper", "sk-q", 1, 1));
        String metrics = client.metrics();
        assertThat(SafekeeperData.metric(metrics, "arbor_safekeeper_timelines")).isEqualTo(1);
        assertThat(SafekeeperData.metric(metrics, "arbor_safekeeper_quarantined_timelines")).isEqualTo(1);

        // Deleting the timeline still works, and removes what was left of it.
        client.deleteTimeline(tenant, bad);
        assertThat(badStore.getParent()).doesNotExist();
        assertThat(client.timeline(tenant, bad)).isEqualTo(new TimelineWalStatus("sk-q", 0, 0, Lsn.ZERO, false));
        assertThat(client.status().quarantined()).isZero();
        assertThat(SafekeeperData.metric(client.metrics(), "arbor_safekeeper_quarantined_timelines")).isZero();
      }
    }
  }

  private static void assertUnavailable(ThrowingCallable call, Path store) {
    ApiProblem p = catchThrowableOfType(ApiProblem.class, call);
    assertThat(p).as("answer for a quarantined timeline").isNotNull();
    assertThat(p.status()).isEqualTo(503);
    assertThat(p.type()).isEqualTo(ApiProblem.TYPE_BASE + "timeline-unavailable");
    assertThat(p.field()).isEqualTo("timeline_id");
    assertThat(p.getMessage())
        .contains(store.toAbsolutePath().normalize().getParent().toString()) // the directory to act on
        .contains("holds no valid slot") // the cause
        .contains("restart the safekeeper"); // what to do
  }

  /** Overwrites the start of both 4 KiB slots of a flush record, as a torn or bit-rotted file would look. */
  static void damageBothSlots(Path flushFile) throws Exception {
    try (FileChannel ch = FileChannel.open(flushFile, StandardOpenOption.WRITE)) {
      for (long offset : new long[] {0, 4096}) {
        ch.write(ByteBuffer.wrap(new byte[] {0x13, 0x37, 0x13, 0x37, 0x13, 0x37, 0x13, 0x37}), offset);
      }
      ch.force(true);
    }
  }
}
