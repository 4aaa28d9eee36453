package dev.arbor.api.safekeeper;

import dev.arbor.api.Lsn;

/**
 * A safekeeper's answer to "accept generation g": it accepted, stopped following any older compute, and
 * holds WAL up to {@code flushLsn} on {@code tli} (0 and 0/0 when it holds none).
 */
public record FenceResult(String safekeeperId, long generation, int tli, Lsn flushLsn) {
  public TimelineWalStatus asStatus() {
    return new TimelineWalStatus(safekeeperId, generation, tli, flushLsn, false);
  }
}
