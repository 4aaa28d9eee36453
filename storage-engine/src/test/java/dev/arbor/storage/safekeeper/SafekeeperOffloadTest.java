package dev.arbor.storage.safekeeper;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.postgres.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.storage.id.TenantId;
import dev.arbor.storage.id.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The offloader of a real safekeeper against a local object store. */
class SafekeeperOffloadTest {
  private final TenantId tenant = TenantId.random();

  @Test
  void aTimelineWhoseOffloadFailsDoesNotStopTheOthers() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-offload-")) {
      Path data = dir.resolve("data");
      var objects = new LocalObjectStore(dir.resolve("objects"));
      // Several healthy timelines, so that whatever order a pass visits them in, some come after the broken one.
      List<TimelineId> healthy = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        healthy.add(TimelineId.random());
      }
      TimelineId broken = TimelineId.random();
      for (TimelineId t : concat(healthy, broken)) {
        SafekeeperData.writeWal(SafekeeperData.storeDir(data, tenant, t), 2, new Lsn(SEG), SafekeeperData.randomWal(2 * SEG + 100, 7));
      }
      // A file where the broken timeline's WAL prefix must be a directory: every upload there fails, as with a
      // prefix the object store refuses to write.
      Path brokenPrefix = objects.root().resolve(ObjectKeys.walPrefix(tenant, broken));
      Files.createDirectories(brokenPrefix.getParent());
      Files.writeString(brokenPrefix, "not a directory");

      try (Safekeeper sk = SafekeeperData.start("sk-o", data, objects)) {
        sk.offloadNow();

        for (TimelineId t : healthy) {
          for (long segno = 1; segno <= 2; segno++) {
            assertThat(objects.exists(ObjectKeys.wal(tenant, t, WalFileName.segment(2, segno, SEG))))
                .as("complete segment %d of healthy timeline %s offloaded", segno, t).isTrue();
          }
        }
        assertThat(offloadFailures(sk)).as("the broken timeline's failures are counted").isPositive();
      }
    }
  }

  static long offloadFailures(Safekeeper sk) throws Exception {
    String metrics = SafekeeperData.metrics(sk.url());
    Matcher m = Pattern.compile("(?m)^arbor_safekeeper_offload_failures_total (\\d+)").matcher(metrics);
    assertThat(m.find()).as("arbor_safekeeper_offload_failures_total in %s", metrics).isTrue();
    return Long.parseLong(m.group(1));
  }

  private static List<TimelineId> concat(List<TimelineId> list, TimelineId one) {
    List<TimelineId> all = new ArrayList<>(list);
    all.add(one);
    return all;
  }
}
