package dev.arbor.compute.start;

import dev.arbor.api.Lsn;
import dev.arbor.client.PageserverClient;
import dev.arbor.postgres.TimelineHistory;
import dev.arbor.postgres.WalFileName;
import dev.arbor.postgres.WalRecordScanner;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.client.HttpJson;
import dev.arbor.client.SafekeeperClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where a read-write start's recovery must end: the end of the last whole WAL record at or below the end of
 * WAL its election chose. Every acknowledged commit lies below that point (a commit is acknowledged once a
 * majority flushed it to its end, and the election took the highest position of a majority), so a start
 * whose new TLI begins before it lost acknowledged commits, and must not report itself started. The elected
 * end itself may lie inside a record (a WAL writer flushes whole pages, not whole records), so the point is
 * found by reading the WAL record by record ({@link WalRecordScanner}), as PostgreSQL's recovery does.
 *
 * <p>The WAL is read from the safekeeper that holds the elected end (the authority on it) where it can, and
 * from the pageserver's WAL service (cut at the end, named through the TLI history) otherwise, going back
 * segment by segment while no whole record begins after the first one read: records span segments.
 */
final class RecoveryEnd {
  /** How far back a scan looks for a record start: PostgreSQL's largest record is 1 GiB. */
  private static final long MAX_SEGMENTS_BACK = 64;

  /** Reads one WAL file: empty on 404; any other failure throws. */
  @FunctionalInterface
  interface WalFiles {
    /** No such source: every file is missing there. */
    WalFiles NONE = name -> Optional.empty();

    Optional<InputStream> open(String fileName) throws IOException;
  }

  /** A safekeeper's WAL files of one timeline. */
  static WalFiles ofSafekeeper(SafekeeperClient safekeeper, TenantId tenant, TimelineId timeline) {
    return name -> safekeeper.walFile(tenant, timeline, name, null, WAL_READ_TIMEOUT);
  }

  private static final Duration WAL_READ_TIMEOUT = Duration.ofMinutes(2);

  private final long segmentSize;
  private final int tli;
  private final Lsn end;
  private final WalFiles fromSafekeeper;
  private final WalFiles fromPageserver;
  private final Map<Long, ByteBuffer> read = new HashMap<>();
  private TimelineHistory history;

  /**
   * @param tli and {@code end}: the elected end of WAL
   * @param fromSafekeeper the WAL files of the safekeeper that holds the end (its durable prefix, whole segments)
   * @param fromPageserver the WAL service's files, cut at {@code end}
   */
  RecoveryEnd(long segmentSize, int tli, Lsn end, WalFiles fromSafekeeper, WalFiles fromPageserver) {
    this.segmentSize = segmentSize;
    this.tli = tli;
    this.end = end;
    this.fromSafekeeper = fromSafekeeper;
    this.fromPageserver = fromPageserver;
  }

  /**
   * The sources over HTTP: a safekeeper's WAL files ({@link WalFiles#NONE}: read everything from the pageserver)
   * and the pageserver's timeline URL.
   */
  static RecoveryEnd overHttp(long segmentSize, int tli, Lsn end, WalFiles fromSafekeeper, PageserverClient pageserver,
      ComputeSpec spec) {
    return new RecoveryEnd(segmentSize, tli, end, fromSafekeeper,
        name -> pageserver.walFile(spec.tenant(), spec.timeline(), name, WalFileName.isHistory(name) ? null : end));
  }

  /**
   * The end of the last whole record at or below the elected end.
   *
   * @throws ComputeStartException when the WAL below the end cannot be read, or holds no record start
   *     within {@value #MAX_SEGMENTS_BACK} segments of it
   */
  Lsn lastRecordEnd() throws IOException {
    long last = end.plus(-1).segmentNumber(segmentSize);
    for (long first = last; first >= 0 && first > last - MAX_SEGMENTS_BACK; first--) {
      final long from = first;
      Optional<WalRecordScanner.Result> r = WalRecordScanner.scan(segmentSize, first,
          n -> n < from || n > last ? Optional.empty() : Optional.of(segment(n)));
      if (r.isPresent()) {
        return r.get().end();
      }
    }
    throw new ComputeStartException("no WAL record begins in the " + MAX_SEGMENTS_BACK + " segments before the elected end of WAL "
        + end + " (TLI " + tli + "); the WAL there is damaged or missing, so the start cannot show it recovers every commit");
  }

  /** Segment {@code n} as recovery reads it, with zeros from the elected end on. */
  private ByteBuffer segment(long n) throws IOException {
    ByteBuffer cached = read.get(n);
    if (cached != null) {
      return cached.duplicate();
    }
    byte[] bytes = null;
    String own = WalFileName.segment(tli, n, segmentSize);
    Optional<InputStream> in = fromSafekeeper.open(own);
    if (in.isEmpty()) {
      for (String name : namesFor(n)) {
        in = fromPageserver.open(name);
        if (in.isPresent()) {
          break;
        }
      }
    }
    if (in.isEmpty()) {
      throw new ComputeStartException("WAL segment " + n + " below the elected end of WAL " + end + " (TLI " + tli
          + ") is neither on the safekeeper that holds that end nor served by the pageserver");
    }
    try (InputStream s = in.get()) {
      bytes = s.readAllBytes();
    }
    if (bytes.length != segmentSize) {
      throw new ComputeStartException("WAL segment " + n + " below the elected end of WAL " + end + " arrived with " + bytes.length
          + " bytes, not " + segmentSize + "; the transfer was cut short");
    }
    long keep = end.value() - n * segmentSize;
    if (keep < segmentSize) {
      java.util.Arrays.fill(bytes, (int) Math.max(0, keep), bytes.length, (byte) 0);
    }
    ByteBuffer b = ByteBuffer.wrap(bytes);
    read.put(n, b);
    return b.duplicate();
  }

  /**
   * The names PostgreSQL tries for segment {@code n} when it follows TLI {@code tli}: the TLIs of its history
   * whose WAL begins in or before the segment, newest first (xlogrecovery.c, XLogFileReadAnyTLI).
   */
  private List<String> namesFor(long n) throws IOException {
    return history().tlisForSegment(n, segmentSize).stream().map(t -> WalFileName.segment(t, n, segmentSize)).toList();
  }

  private TimelineHistory history() throws IOException {
    if (history != null) {
      return history;
    }
    String text = null;
    if (tli > 1) {
      Optional<InputStream> in = fromPageserver.open(WalFileName.history(tli));
      if (in.isEmpty()) {
        throw new ComputeStartException("the pageserver has no history file of TLI " + tli + ", which the elected end of WAL is on");
      }
      try (InputStream s = in.get()) {
        text = new String(s.readAllBytes(), StandardCharsets.UTF_8);
      }
    }
    history = TimelineHistory.of(tli, text);
    return history;
  }
}
