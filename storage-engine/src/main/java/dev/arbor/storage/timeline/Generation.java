package dev.arbor.storage.timeline;

import dev.arbor.api.Lsn;
import java.time.Instant;

/**
 * One read-write compute start on a timeline. {@code tli} is the PostgreSQL TLI reserved for it before
 * PostgreSQL ran; {@code parentTli} and {@code startLsn} say where that TLI branches off (the TLI it
 * replayed and the switch point; null until the compute reported that it promoted). A generation with
 * no start LSN died before it could stream any WAL.
 */
public record Generation(long generation, int tli, Integer parentTli, Lsn startLsn, Instant reservedAt) {
  public boolean started() {
    return startLsn != null;
  }
}
