package dev.arbor.storage.safekeeper;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import java.util.Comparator;

/** One WAL segment of one PostgreSQL timeline; ordered by timeline, then segment number. */
public record WalSegmentId(int timeline, long segmentNumber) implements Comparable<WalSegmentId> {

  private static final Comparator<WalSegmentId> ORDER =
      Comparator.comparingInt(WalSegmentId::timeline).thenComparingLong(WalSegmentId::segmentNumber);

  public WalSegmentId {
    checkTimeline(timeline);
    if (segmentNumber < 0) {
      throw new IllegalArgumentException("segment number must not be negative, got " + segmentNumber);
    }
  }

  /** The segment's name in pg_wal, e.g. {@code 000000010000000000000003}. */
  public String fileName(long segmentSize) {
    return WalFileName.segment(timeline, segmentNumber, segmentSize);
  }

  public Lsn start(long segmentSize) {
    return new Lsn(segmentNumber * segmentSize);
  }

  public Lsn end(long segmentSize) {
    return new Lsn((segmentNumber + 1) * segmentSize);
  }

  @Override
  public int compareTo(WalSegmentId other) {
    return ORDER.compare(this, other);
  }

  static void checkTimeline(int timeline) {
    if (timeline < 1) {
      throw new IllegalArgumentException("a PostgreSQL timeline id is 1 or more, got " + Integer.toUnsignedString(timeline));
    }
  }
}
