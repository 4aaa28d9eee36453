package dev.arbor.storage.safekeeper;

import dev.arbor.api.Lsn;

/** A WAL position on one PostgreSQL timeline (TLI): LSNs of different TLIs are not comparable. */
public record WalPosition(int timeline, Lsn lsn) {

  public WalPosition {
    WalSegmentId.checkTimeline(timeline);
  }

  @Override
  public String toString() {
    return "TLI " + timeline + " " + lsn;
  }
}
