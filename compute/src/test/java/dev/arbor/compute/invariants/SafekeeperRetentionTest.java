package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Safekeepers keep bounded WAL: segments leave their disks once offloaded, and the last segment of a TLI
 * that ended mid-segment is offloaded too — so branches on old WAL and restarts still find everything.
 */
class SafekeeperRetentionTest {

  @Test
  void offloadedWalLeavesSafekeeperDisksAndStaysReadable() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-skret-")) {
      TenantInfo tenant = storage.createTenant(15);
      RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
      Sql.exec(first, "CREATE TABLE items (id int, pad text)");
      Sql.exec(first, "INSERT INTO items SELECT g, 'early' FROM generate_series(1, 1000) g");
      String early = Sql.one(first, "SELECT pg_current_wal_lsn()");
      for (int i = 0; i < 6; i++) { // ~150 MB of WAL: about ten segments
        Sql.exec(first, "INSERT INTO items SELECT g, repeat(md5(g::text), 24) FROM generate_series(1, 30000) g");
      }
      Sql.exec(first, "INSERT INTO items VALUES (-1, 'last-on-first-tli')");
      String lastOnFirstTli = Sql.one(first, "SELECT pg_current_wal_lsn()");
      int firstTli = first.pgTli();
      first.stop();

      try (RunningCompute second = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"))) {
        // Offloaded under PostgreSQL's archive name for a tail, never as a complete segment.
        String tailKey = WalFileName.segment(firstTli, Lsn.parse(lastOnFirstTli).segmentNumber(Lsn.DEFAULT_SEGMENT_SIZE),
            Lsn.DEFAULT_SEGMENT_SIZE) + ".partial";
        Path walObjects = storage.objectStore().resolve("tenants/" + tenant.tenantId() + "/timelines/" + tenant.rootTimelineId() + "/wal");
        await().atMost(Duration.ofMinutes(1)).untilAsserted(() -> {
          assertThat(walObjects.resolve(tailKey)).as("the first TLI's last, partial segment is offloaded").exists();
          for (String id : storage.safekeeperIds()) {
            assertThat(segmentFiles(storage.directory().resolve("safekeepers/" + id)))
                .as("segments on %s's disk", id).isLessThanOrEqualTo(6);
          }
        });

        // Old WAL, now only in object storage, still serves a branch and a restart.
        TimelineInfo atEarly = storage.branch(tenant.tenantId(), tenant.rootTimelineId(), early);
        try (RunningCompute onBranch = Computes.start(storage, tenant.tenantId(), atEarly.timelineId(), work.resolve("b-early"))) {
          assertThat(Sql.one(onBranch, "SELECT count(*) FROM items")).isEqualTo("1000");
        }
        TimelineInfo atTail = storage.branch(tenant.tenantId(), tenant.rootTimelineId(), lastOnFirstTli);
        try (RunningCompute onTail = Computes.start(storage, tenant.tenantId(), atTail.timelineId(), work.resolve("b-tail"))) {
          assertThat(Sql.one(onTail, "SELECT count(*) FROM items WHERE id = -1")).isEqualTo("1");
        }
        assertThat(Sql.one(second, "SELECT count(*) FROM items")).isEqualTo("181001");
      }
      // A start after retention replays the middle segments, which only object storage holds now.
      try (RunningCompute third = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c3"))) {
        assertThat(Sql.one(third, "SELECT count(*) FROM items")).isEqualTo("181001");
      }
    }
  }

  private static long segmentFiles(Path dir) throws Exception {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(p -> WalFileName.isSegment(p.getFileName().toString())).count();
    }
  }
}
