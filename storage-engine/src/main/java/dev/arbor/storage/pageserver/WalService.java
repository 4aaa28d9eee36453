package dev.arbor.storage.pageserver;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.TimelineHistory;
import dev.arbor.postgres.WalFileName;
import dev.arbor.storage.fs.PrefixThenZeros;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.client.SafekeeperSet;
import dev.arbor.storage.timeline.Catalog;
import dev.arbor.storage.timeline.Generation;
import dev.arbor.storage.timeline.TenantMeta;
import dev.arbor.storage.timeline.TimelineMeta;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Serves WAL files to {@code restore_command}: segments and {@code .history} files of a timeline, resolving
 * ancestry (a TLI at or below the branch's {@code ancestorTli} is the ancestor's) and PostgreSQL's TLI
 * history. Only complete segments are served — from object storage, or from a safekeeper that flushed past
 * the segment's end — because PostgreSQL prefers the archive over pg_wal and must find the partial tail
 * that the starting compute placed in pg_wal.
 */
public final class WalService {
  private final Catalog catalog;
  private final TimelineService timelines;
  private final SafekeeperSet safekeepers;
  private final long segmentSize;

  public WalService(Catalog catalog, TimelineService timelines, SafekeeperSet safekeepers, long segmentSize) {
    this.catalog = catalog;
    this.timelines = timelines;
    this.safekeepers = safekeepers;
    this.segmentSize = segmentSize;
  }

  /** A WAL file as served: its bytes and their number (segments are always whole, cut ones zero-padded). */
  public record WalFile(InputStream content, long length) {}

  /**
   * @param until when present, WAL from this LSN on is served as zeros (and segments starting at or after it
   *     not at all): PostgreSQL then finds the end of WAL exactly there, which is how a start at a point in
   *     the past (a branch's first start, a snapshot) ends its replay, and how a read-write start replays
   *     exactly up to the end of WAL its election chose and never past it. It also says that the WAL up to
   *     there exists: a segment below it that no source can serve now is a 503, never a 404
   * @return empty only when the file is not part of the WAL (beyond its end, or of a TLI that has none there)
   */
  public Optional<WalFile> open(String tenantId, String timelineId, String fileName, Optional<Lsn> until) throws IOException {
    TenantMeta tenant = timelines.requireTenant(tenantId);
    TimelineMeta meta = timelines.requireTimeline(tenant, timelineId, "timeline_id");
    if (WalFileName.isHistory(fileName)) {
      Optional<InputStream> in = history(meta, WalFileName.timelineOf(fileName));
      if (in.isEmpty()) {
        return Optional.empty();
      }
      byte[] bytes;
      try (InputStream s = in.get()) {
        bytes = s.readAllBytes();
      }
      return Optional.of(new WalFile(new java.io.ByteArrayInputStream(bytes), bytes.length));
    }
    if (WalFileName.isSegment(fileName)) {
      long segno = WalFileName.segmentNumberOf(fileName, segmentSize);
      return segment(meta, fileName, segno, until.orElse(null)).map(in -> new WalFile(in, segmentSize));
    }
    throw ApiProblem.invalid("file", "'" + fileName + "' is neither a WAL segment name (24 hex digits) nor a TLI history file (TTTTTTTT.history)");
  }

  /**
   * The segment files recovery to TLI {@code tli} reads for the WAL from {@code from} up to (not including)
   * {@code to}, oldest first, each named as PostgreSQL first asks restore_command for it: the newest TLI of
   * {@code tli}'s history that begins in or before the segment (xlogrecovery.c, XLogFileReadAnyTLI). A
   * starting compute fetches them ahead of recovery; a name PostgreSQL ends up not asking for only costs
   * that download. Empty when the TLI's history is unknown.
   */
  public List<String> recoveryFiles(TimelineMeta meta, int tli, Lsn from, Lsn to) throws IOException {
    if (!to.isAfter(from)) {
      return List.of();
    }
    String text = null;
    if (tli > 1) {
      Optional<InputStream> history = history(meta, tli);
      if (history.isEmpty()) {
        return List.of();
      }
      try (InputStream in = history.get()) {
        text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
    }
    TimelineHistory history = TimelineHistory.of(tli, text);
    List<String> files = new ArrayList<>();
    for (long segno = from.segmentNumber(segmentSize); segno <= to.plus(-1).segmentNumber(segmentSize); segno++) {
      files.add(WalFileName.segment(history.tlisForSegment(segno, segmentSize).getFirst(), segno, segmentSize));
    }
    return files;
  }

  private Optional<InputStream> history(TimelineMeta meta, int tli) throws IOException {
    if (tli <= meta.baseTli()) {
      return meta.isRoot() ? Optional.empty() : history(ancestor(meta), tli);
    }
    Optional<InputStream> stored = catalog.store().get(ObjectKeys.wal(meta.tenantId(), meta.timelineId(), WalFileName.history(tli)));
    if (stored.isPresent()) {
      return stored;
    }
    long newest = meta.generations().stream().mapToLong(Generation::generation).max().orElse(0);
    boolean abandoned = meta.generationOfTli(tli).filter(g -> !g.started() && g.generation() < newest).isPresent();
    if (!abandoned) {
      // Unknown, or reserved by the start in progress: it must look free so PostgreSQL promotes into it.
      return Optional.empty();
    }
    // A TLI reserved by a start that died before promoting: PostgreSQL only probes that such a file exists
    // (so it skips the TLI when it picks a new one); with recovery_target_timeline explicit it never
    // follows it. Serve a well-formed history that repeats the current chain.
    return Optional.of(new java.io.ByteArrayInputStream(placeholderHistory(meta, tli).getBytes(StandardCharsets.UTF_8)));
  }

  private String placeholderHistory(TimelineMeta meta, int tli) throws IOException {
    int current = meta.currentTli();
    String base = "";
    if (current > 1) {
      try (InputStream in = history(meta, current).orElse(InputStream.nullInputStream())) {
        base = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
    }
    Lsn at = meta.latestStarted().map(Generation::startLsn).orElse(meta.createdLsn());
    return base + current + "\t" + at + "\tarbor: TLI " + tli + " reserved by a compute start that did not promote\n";
  }

  /**
   * Segment {@code segno} of TLI {@code fileName}'s timeline, holding WAL up to the end of what the reader may
   * replay: the segment's end, {@code limit} (the caller's {@code until_lsn}, or a branch point), or where
   * that TLI ended (the switch point in its successor's history), whichever comes first; the bytes after
   * that point are served as zeros, whatever the source holds there. So no reader ever gets WAL that a
   * later TLI superseded, or that a minority holds past an elected end (a fenced compute's), even from a
   * safekeeper or an archived copy that has it.
   *
   * <p>Sources, in order: the archive, the archived tail of an ended TLI ({@code <segment>.partial}), the
   * safekeepers (one that flushed that TLI far enough), and the archive again (a safekeeper may have
   * offloaded the segment and removed its copy between the first look and its answer). A segment that the
   * timeline's history says holds WAL below a known end, and that no source has, is a 503: it is not the
   * end of WAL, and PostgreSQL must stop recovery rather than promote early.
   *
   * @param limit WAL from here on is not served (null: no limit, the current TLI's end is unknown here)
   */
  private Optional<InputStream> segment(TimelineMeta meta, String fileName, long segno, Lsn limit) throws IOException {
    int tli = WalFileName.timelineOf(fileName);
    if (tli <= meta.baseTli() && !meta.isRoot()) {
      return segment(ancestor(meta), fileName, segno, limit == null ? meta.ancestorLsn() : Lsn.min(limit, meta.ancestorLsn()));
    }
    Lsn start = new Lsn(segno * segmentSize);
    Lsn end = new Lsn((segno + 1) * segmentSize);
    Optional<Lsn> ended = switchPoint(meta, tli);
    Lsn knownEnd = ended.map(e -> limit == null ? e : Lsn.min(e, limit)).orElse(limit);
    if (knownEnd != null && !knownEnd.isAfter(start)) {
      return Optional.empty();
    }
    Optional<Lsn> begin = tliBegin(meta, tli);
    if (knownEnd != null && begin.isPresent() && !begin.get().isBefore(knownEnd)) {
      // The TLI ended where it began (a compute promoted and stopped before the safekeepers acknowledged any of its
      // WAL): it holds no WAL of its own, here or anywhere. The end of WAL; PostgreSQL reads the TLI before it.
      return Optional.empty();
    }
    Lsn needed = knownEnd == null ? end : Lsn.min(knownEnd, end);
    String key = ObjectKeys.wal(meta.tenantId(), meta.timelineId(), fileName);
    boolean endsHere = ended.isPresent() && ended.get().isAfter(start) && ended.get().isBefore(end);
    Optional<InputStream> in = archived(key, endsHere);
    // Safekeepers hold only WAL that computes streamed: the TLIs of started generations (initdb's is archived).
    boolean streamed = meta.generationOfTli(tli).filter(Generation::started).isPresent();
    if (in.isEmpty() && streamed) {
      in = safekeepers.walFile(meta.tenantId(), meta.timelineId(), fileName, needed);
      if (in.isEmpty()) {
        // Between the first look and their answer, the safekeepers may have offloaded the segment (or an
        // ended TLI's tail, as .partial) and removed their copies: look again, under both names.
        in = archived(key, endsHere);
      }
    }
    if (in.isEmpty()) {
      boolean holdsWal = knownEnd != null && begin.isPresent() && begin.get().isBefore(end);
      if (holdsWal) {
        throw ApiProblem.unavailable(ProblemTypes.WAL_UNAVAILABLE, fileName + " holds WAL of timeline " + meta.timelineId() + " (TLI " + tli
            + " from " + begin.get() + ", known up to " + knownEnd + "), but neither object storage nor any safekeeper "
            + "serves it now. This is not the end of WAL: retry once the safekeepers answer or offload catches up");
      }
      return Optional.empty();
    }
    if (needed.isBefore(end)) {
      return Optional.of(new PrefixThenZeros(in.get(), needed.value() - start.value(), segmentSize));
    }
    return in;
  }

  /** The archived segment, or (for the segment where its TLI ended) the archived tail under {@code .partial}. */
  private Optional<InputStream> archived(String key, boolean endsHere) throws IOException {
    Optional<InputStream> in = catalog.store().get(key);
    return in.isEmpty() && endsHere ? catalog.store().get(key + PARTIAL_SUFFIX) : in;
  }

  /** The archive key suffix of an ended TLI's last segment, cut at its switch point (as PostgreSQL names it). */
  public static final String PARTIAL_SUFFIX = ".partial";

  /** Where TLI {@code tli} of this timeline ended: the start LSN of the generation that promoted from it. */
  private static Optional<Lsn> switchPoint(TimelineMeta meta, int tli) {
    for (Generation g : meta.chain()) {
      if (g.parentTli() == tli) {
        return Optional.of(g.startLsn());
      }
    }
    return meta.generations().stream().filter(g -> g.started() && g.parentTli() == tli).map(Generation::startLsn)
        .min(Lsn::compareTo);
  }

  /** Where this timeline's WAL of TLI {@code tli} begins; empty for a TLI that never streamed. */
  private static Optional<Lsn> tliBegin(TimelineMeta meta, int tli) {
    if (tli == meta.baseTli()) {
      return Optional.of(meta.isRoot() ? Lsn.ZERO : meta.ancestorLsn());
    }
    return meta.generationOfTli(tli).filter(Generation::started).map(Generation::startLsn);
  }

  private TimelineMeta ancestor(TimelineMeta meta) throws IOException {
    return catalog.timeline(meta.tenantId(), meta.ancestorTimelineId()).orElseThrow(() -> new IllegalStateException(
        "timeline " + meta.timelineId() + " names ancestor " + meta.ancestorTimelineId() + ", which is missing"));
  }
}
