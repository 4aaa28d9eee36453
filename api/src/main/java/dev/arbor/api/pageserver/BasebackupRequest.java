package dev.arbor.api.pageserver;

import dev.arbor.api.Lsn;

/**
 * The query of {@code GET /v1/tenant/{tenant_id}/timeline/{timeline_id}/basebackup}: where the compute that starts
 * from it begins. Null parts are left out of the query.
 *
 * @param lsn a point in the timeline's history (read-only snapshots)
 * @param pgTli for a read-write start at the end of WAL: the TLI its election chose as the newest history
 * @param endLsn with {@code pgTli}: the end of WAL the election chose on that TLI; recovery replays exactly to it
 * @param recoveryFrom with {@code pgTli} and {@code endLsn}: the compute keeps the PGDATA of its last clean stop, whose
 *     recovery begins at this LSN (its last checkpoint's redo); the answer holds only the recovery configuration
 */
public record BasebackupRequest(Lsn lsn, Integer pgTli, Lsn endLsn, Lsn recoveryFrom) {

  /** The newest history of the timeline, as far as its durable WAL goes (a branch's first start). */
  public static BasebackupRequest head() {
    return new BasebackupRequest(null, null, null, null);
  }

  /** A start at {@code lsn} of the timeline's history. */
  public static BasebackupRequest at(Lsn lsn) {
    return new BasebackupRequest(lsn, null, null, null);
  }

  /** A read-write start at the end of WAL its election chose: {@code endLsn} on TLI {@code pgTli}. */
  public static BasebackupRequest electedEnd(int pgTli, Lsn endLsn) {
    return new BasebackupRequest(null, pgTli, endLsn, null);
  }

  /**
   * The recovery configuration alone for a read-write start at its elected end ({@code endLsn} on TLI {@code pgTli})
   * from a PGDATA the compute kept, whose recovery begins at {@code recoveryFrom}.
   */
  public static BasebackupRequest recoveryOnly(int pgTli, Lsn endLsn, Lsn recoveryFrom) {
    return new BasebackupRequest(null, pgTli, endLsn, recoveryFrom);
  }

  /** Where the start begins, for messages: {@code lsn=0/16B5A50}, {@code pg_tli=2 end_lsn=0/3000060}, or {@code head}. */
  @Override
  public String toString() {
    StringBuilder out = new StringBuilder();
    if (lsn != null) {
      out.append("lsn=").append(lsn);
    }
    if (pgTli != null) {
      out.append(out.isEmpty() ? "" : " ").append("pg_tli=").append(pgTli);
    }
    if (endLsn != null) {
      out.append(out.isEmpty() ? "" : " ").append("end_lsn=").append(endLsn);
    }
    if (recoveryFrom != null) {
      out.append(out.isEmpty() ? "" : " ").append("recovery_from=").append(recoveryFrom);
    }
    return out.isEmpty() ? "head" : out.toString();
  }
}
