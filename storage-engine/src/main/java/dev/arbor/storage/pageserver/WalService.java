package dev.arbor.storage.pageserver;

import dev.arbor.postgres.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.storage.fs.PrefixThenZeros;
import dev.arbor.storage.http.ApiProblem;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.safekeeper.SafekeeperSet;
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

  /**
   * @param until when present, WAL from this LSN on is served as zeros (and segments starting at or after it
   *     not at all): PostgreSQL then finds the end of WAL exactly there, which is how a start at a point in
   *     the past (a branch's first start, a snapshot) ends its replay
   */
  public Optional<InputStream> open(String tenantId, String timelineId, String fileName, Optional<Lsn> until) throws IOException {
    TenantMeta tenant = timelines.requireTenant(tenantId);
    TimelineMeta meta = timelines.requireTimeline(tenant, timelineId, "timeline_id");
    if (WalFileName.isHistory(fileName)) {
      return history(meta, WalFileName.timelineOf(fileName));
    }
    if (WalFileName.isSegment(fileName)) {
      long segno = WalFileName.segmentNumberOf(fileName, segmentSize);
      Lsn start = new Lsn(segno * segmentSize);
      Lsn end = new Lsn((segno + 1) * segmentSize);
      if (until.isPresent() && !until.get().isAfter(start)) {
        return Optional.empty();
      }
      Lsn needed = until.map(u -> Lsn.min(u, end)).orElse(end);
      Optional<InputStream> in = segment(meta, fileName, needed);
      if (until.isPresent() && until.get().isBefore(end)) {
        return in.map(s -> new PrefixThenZeros(s, until.get().value() - start.value(), segmentSize));
      }
      return in;
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
    List<long[]> begins = new ArrayList<>(); // {tli, first byte}, oldest first
    if (tli > 1) {
      Optional<InputStream> history = history(meta, tli);
      if (history.isEmpty()) {
        return List.of();
      }
      String text;
      try (InputStream in = history.get()) {
        text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
      long begin = 0;
      for (String line : text.split("\n")) {
        String[] fields = line.strip().split("\\s+");
        if (fields.length < 2 || fields[0].startsWith("#") || !Lsn.isValid(fields[1])) {
          continue;
        }
        begins.add(new long[] {Long.parseLong(fields[0]), begin});
        begin = Lsn.parse(fields[1]).value();
      }
      begins.add(new long[] {tli, begin});
    } else {
      begins.add(new long[] {tli, 0});
    }
    long first = from.value() / segmentSize;
    long last = (to.value() - 1) / segmentSize;
    List<String> files = new ArrayList<>();
    for (long segno = first; segno <= last; segno++) {
      int newest = (int) begins.get(0)[0];
      for (long[] b : begins) {
        if (b[1] / segmentSize <= segno) {
          newest = (int) b[0];
        }
      }
      files.add(WalFileName.segment(newest, segno, segmentSize));
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
   * @param neededUpTo how far the segment must hold WAL: its end for the timeline's own history; for an
   *     ancestor, no further than the branch point, since the child's recovery stops before it — so the
   *     ancestor's segment that is still being written (or ended with a TLI switch) serves as it is
   */
  private Optional<InputStream> segment(TimelineMeta meta, String fileName, Lsn neededUpTo) throws IOException {
    int tli = WalFileName.timelineOf(fileName);
    if (tli <= meta.baseTli() && !meta.isRoot()) {
      return segment(ancestor(meta), fileName, Lsn.min(neededUpTo, meta.ancestorLsn()));
    }
    Optional<InputStream> archived = catalog.store().get(ObjectKeys.wal(meta.tenantId(), meta.timelineId(), fileName));
    if (archived.isPresent()) {
      return archived;
    }
    return safekeepers.walFile(meta.tenantId(), meta.timelineId(), fileName, neededUpTo);
  }

  private TimelineMeta ancestor(TimelineMeta meta) throws IOException {
    return catalog.timeline(meta.tenantId(), meta.ancestorTimelineId()).orElseThrow(() -> new IllegalStateException(
        "timeline " + meta.timelineId() + " names ancestor " + meta.ancestorTimelineId() + ", which is missing"));
  }
}
