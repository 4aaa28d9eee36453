package dev.arbor.compute.testing;

import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.ComputeStart;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import java.nio.file.Files;
import java.sql.SQLException;
import java.time.Duration;

/** The compute's replication slots for its safekeepers, as tests watch them. */
public final class Slots {
  private Slots() {}

  /** Where the compute keeps WAL for safekeeper {@code id} from: its slot's restart LSN. */
  public static Lsn keptFrom(RunningCompute c, String id) throws SQLException {
    String lsn = Sql.one(c, "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = '" + ComputeStart.slotName(id) + "'");
    if (lsn == null) {
      throw new AssertionError("the compute has no slot reserving WAL for " + id);
    }
    return Lsn.parse(lsn);
  }

  /**
   * Waits until the compute trimmed the slot of safekeeper {@code id} (down or paused, more than the compute's
   * maxSlotWalKeepSize behind) past the segment holding {@code stoppedAt}, and a checkpoint recycled that segment:
   * the compute no longer has the WAL that safekeeper needs, so only a catch-up brings it back.
   */
  public static void awaitTrimmedAndRecycled(RunningCompute c, String id, Lsn stoppedAt) {
    long size = Lsn.DEFAULT_SEGMENT_SIZE;
    String stoppedIn = WalFileName.segment(c.pgTli(), stoppedAt.segmentNumber(size), size);
    await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofMillis(500))
        .alias(String.format("the compute trimmed %s's slot past %s and recycled %s", id, stoppedAt, stoppedIn))
        .until(() -> {
          Sql.exec(c, "CHECKPOINT");
          return keptFrom(c, id).segmentNumber(size) > stoppedAt.segmentNumber(size)
              && !Files.exists(c.server().dataDir().resolve("pg_wal").resolve(stoppedIn));
        });
  }
}
