package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.RedoRange;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Starts do not grow with history: after many thresholds of update churn on the same rows, the pageserver has
 * made images by itself, and a start replays about one threshold of WAL (measured from PostgreSQL's own
 * "redo starts at / redo done at" log lines), not everything since initdb.
 */
class StartReplayIsBoundedTest {
  private static final long MIB = 1024 * 1024;
  private static final long THRESHOLD = 32 * MIB;
  private static final long CHURN = 8 * THRESHOLD;
  /** The compute's max_wal_size here: a checkpoint at least every ~half of it. */
  private static final long MAX_WAL_SIZE = 32 * MIB;

  @Test
  void afterChurnAStartReplaysAboutOneThresholdOfWal() throws Exception {
    try (var storage = new StorageProcesses(3).withImageThreshold(THRESHOLD / MIB + "MiB").start();
         var work = TempDirectory.create("arbor-bounded-")) {
      TenantInfo tenant = storage.createTenant(15);
      TimelineId main = tenant.rootTimelineId();
      Map<String, String> settings = Map.of("max_wal_size", MAX_WAL_SIZE / MIB + "MB");
      long churned;
      String expected;
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), main, work.resolve("c1"), settings)) {
        Sql.exec(c, "CREATE TABLE churn (id int PRIMARY KEY, n bigint, pad text) WITH (fillfactor = 50)");
        Sql.exec(c, "INSERT INTO churn SELECT g, 0, repeat('x', 100) FROM generate_series(1, 20000) g");
        Lsn start = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_lsn()"));
        Lsn now = start;
        while (now.value() - start.value() < CHURN) {
          Sql.exec(c, "UPDATE churn SET n = n + 1");
          now = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_lsn()"));
        }
        churned = now.value() - start.value();
        expected = Sql.one(c, "SELECT count(*) || ' rows, n ' || min(n) || '..' || max(n) FROM churn");
      }

      TimelineInfo caughtUp = awaitImagesCaughtUp(storage, tenant, main, Duration.ofMinutes(5));
      System.out.println("event=images_caught_up churned_bytes=" + churned + " durable=" + caughtUp.lastDurableLsn()
          + " latest_image=" + caughtUp.latestImageLsn());

      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), main, work.resolve("c2"), settings)) {
        // No "redo starts at" when the newest image ends with the compute's shutdown checkpoint: nothing to replay.
        long replayed = c.redo().map(RedoRange::bytes).orElse(0L);
        System.out.println("event=start_replayed churned_bytes=" + churned + " replayed_bytes=" + replayed + " redo="
            + c.redo().map(Object::toString).orElse("none"));
        // The image lags the end by less than the threshold; its replay point lies up to one checkpoint distance
        // before it (two segments of slack).
        assertThat(replayed).as("WAL replayed by the start after %d bytes of churn", churned)
            .isLessThanOrEqualTo(THRESHOLD + 2 * Lsn.DEFAULT_SEGMENT_SIZE + MAX_WAL_SIZE);
        assertThat(Sql.one(c, "SELECT count(*) || ' rows, n ' || min(n) || '..' || max(n) FROM churn")).isEqualTo(expected);
      }
    }
  }

  /** Waits until the WAL after the newest image is below the threshold: the pageserver has no image left to make. */
  private static TimelineInfo awaitImagesCaughtUp(StorageProcesses storage, TenantInfo tenant, TimelineId timeline,
      Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    TimelineInfo info;
    do {
      info = storage.timeline(tenant.tenantId(), timeline);
      if (info.latestImageLsn() != null && info.lastDurableLsn().value() - info.latestImageLsn().value() < THRESHOLD) {
        return info;
      }
      Thread.sleep(1000);
    } while (System.nanoTime() < deadline);
    throw new AssertionError("the pageserver made no image within " + THRESHOLD + " bytes of the end of WAL in " + timeout
        + ": durable " + info.lastDurableLsn() + ", latest image " + info.latestImageLsn()
        + " (its log in the test's storage directory says why)");
  }
}
