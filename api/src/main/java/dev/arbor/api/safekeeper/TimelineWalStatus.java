package dev.arbor.api.safekeeper;

import dev.arbor.api.Lsn;

/**
 * What one safekeeper holds of one timeline: the highest generation it accepted, and the TLI and durable
 * flush LSN of the newest WAL it stores ({@code tli} 0 and {@code flushLsn} 0/0 when it stores none).
 */
public record TimelineWalStatus(String safekeeperId, long generation, int tli, Lsn flushLsn, boolean following) {

  /** Orders WAL positions by (TLI, LSN): a later TLI's WAL continues its predecessor's history. */
  public static int comparePositions(TimelineWalStatus a, TimelineWalStatus b) {
    int c = Integer.compare(a.tli, b.tli);
    return c != 0 ? c : a.flushLsn.compareTo(b.flushLsn);
  }
}
