package dev.arbor.storage.safekeeper;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.api.safekeeper.FenceResult;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.api.safekeeper.TimelineWalStatus;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.TimelineHistory;
import dev.arbor.postgres.WalFileName;
import dev.arbor.postgres.DurableFiles;
import dev.arbor.storage.fs.PrefixThenZeros;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.client.HttpJson;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.objectstore.ObjectStore;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One timeline on one safekeeper: the WAL it holds, the highest generation it accepted, and the receiver
 * following that generation's compute. All decisions about which compute to follow are made here, under
 * this object's lock: accepting generation g stops the receiver of any older compute before the answer
 * leaves, so an older compute never gets another flush acknowledgement from this safekeeper (fencing).
 */
final class SafekeeperTimeline implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SafekeeperTimeline.class);
  private static final String GENERATION_FILE = "accepted-generation";
  /**
   * Present when this safekeeper first learnt of the timeline from a fence that said the timeline has history:
   * it lacks WAL acknowledged before (its disk was replaced, say), and must not vote until it holds WAL again.
   */
  private static final String JOINED_LATE_FILE = "joined-without-history";

  private final String safekeeperId;
  private final TenantId tenant;
  private final TimelineId timeline;
  private final Path dir;
  /**
   * The identity (device and inode) of {@link #dir} when this timeline was opened. A directory that is gone or
   * another one now (the disk was wiped or replaced under the running process, and a write recreated it) holds
   * none of the WAL this object remembers: see {@link #requireOwnDirectory()}.
   */
  private final Object directoryKey;
  private final WalSegmentStore store;
  private final SafekeeperCatchUp catchUp;
  private final WalReceiver.Listener receiverListener;
  /** This safekeeper's identity toward computes that serve TLS; null: none. */
  private final ReplicationTls replicationTls;
  private long acceptedGeneration;
  private boolean joinedLate;
  private FollowRequest following;
  private WalReceiver receiver;
  private final Set<String> offloaded = new HashSet<>();

  private SafekeeperTimeline(String safekeeperId, TenantId tenant, TimelineId timeline, Path dir, WalSegmentStore store, long accepted,
      boolean joinedLate, SafekeeperCatchUp catchUp, WalReceiver.Listener receiverListener, ReplicationTls replicationTls)
      throws IOException {
    this.directoryKey = directoryKey(dir);
    this.replicationTls = replicationTls;
    this.safekeeperId = safekeeperId;
    this.receiverListener = receiverListener;
    this.catchUp = catchUp;
    this.tenant = tenant;
    this.timeline = timeline;
    this.dir = dir;
    this.store = store;
    this.acceptedGeneration = accepted;
    this.joinedLate = joinedLate;
  }

  /**
   * @param objects where the safekeepers offload complete segments, and where this one catches up from
   * @param peerTimeout bounds connecting to peer safekeepers when fetching complete segments from them
   * @param peerTokens the token sent to them
   * @param peerTls whom their https:// URLs are trusted from ({@code --tls-ca})
   * @param receiverListener told of every receiver's flushes and failures (metrics)
   * @param replicationTls the identity its receivers present to computes that serve TLS; null: none
   */
  static SafekeeperTimeline open(String safekeeperId, TenantId tenant, TimelineId timeline, Path dir, ObjectStore objects,
      Duration peerTimeout, TokenSource peerTokens, dev.arbor.client.tls.ClientTls peerTls, WalReceiver.Listener receiverListener,
      ReplicationTls replicationTls)
      throws IOException {
    DurableFiles.createDirectories(dir);
    long accepted = 0;
    try {
      accepted = Long.parseLong(Files.readString(dir.resolve(GENERATION_FILE)).trim());
    } catch (NoSuchFileException e) {
      // a timeline this safekeeper has not seen a compute of yet
    }
    return new SafekeeperTimeline(safekeeperId, tenant, timeline, dir, WalSegmentStore.open(dir.resolve("wal-store")), accepted,
        Files.exists(dir.resolve(JOINED_LATE_FILE)), new SafekeeperCatchUp(tenant, timeline, objects, peerTimeout, peerTokens, peerTls), receiverListener,
        replicationTls);
  }

  /**
   * Accepts generation {@code g} if it is above every generation accepted so far: records it durably, stops
   * following the older compute (waiting until its receiver has ended), and answers with the WAL held.
   *
   * <p>The answer is a vote in the election of the end of WAL, and "nothing" is a valid vote only from a
   * safekeeper that never had any. One that holds no WAL of a timeline that has had started generations
   * ({@code timelineStarted}: the starting compute saw WAL on a majority, which every majority then intersects), and did not take part in it before (it
   * learns of the timeline now, or joined late before and still holds nothing), may have lost acknowledged WAL
   * with its disk: it accepts {@code g} all the same, so it never follows an older compute again and can follow
   * this generation's from its start, but refuses the vote (503 timeline-missing-here) until it holds WAL.
   */
  synchronized FenceResult fence(long g, boolean timelineStarted) throws IOException {
    requireOwnDirectory();
    if (g <= acceptedGeneration) {
      throw ApiProblem.conflict(ProblemTypes.STALE_GENERATION, "generation", "safekeeper " + safekeeperId + " already accepted generation "
          + acceptedGeneration + " of timeline " + timeline + "; propose a higher generation");
    }
    boolean mayNotVote = timelineStarted && store.flushPosition().isEmpty() && (joinedLate || acceptedGeneration == 0);
    if (mayNotVote && !joinedLate) {
      // Before the generation: a safekeeper that took part in no election yet is the empty one that votes.
      DurableFiles.write(dir.resolve(JOINED_LATE_FILE), ("fenced first at generation " + g + " of a timeline with history, "
          + "holding no WAL of it\n").getBytes(StandardCharsets.UTF_8));
      joinedLate = true;
    }
    DurableFiles.write(dir.resolve(GENERATION_FILE), Long.toString(g).getBytes(StandardCharsets.UTF_8));
    try {
      requireOwnDirectory(); // the disk may have gone between the check above and the write
    } catch (ApiProblem lost) {
      Files.deleteIfExists(dir.resolve(GENERATION_FILE));
      throw lost;
    }
    long previous = acceptedGeneration;
    acceptedGeneration = g;
    stopReceiver();
    following = null;
    WalPosition pos = store.flushPosition().orElse(null);
    log.info("event=generation_accepted safekeeper={} tenant={} timeline={} generation={} previous={} tli={} flush_lsn={} vote={}",
        safekeeperId, tenant, timeline, g, previous, pos == null ? 0 : pos.timeline(), pos == null ? Lsn.ZERO : pos.lsn(),
        mayNotVote ? "refused_no_wal" : "given");
    if (mayNotVote) {
      throw new ApiProblem(503, ProblemTypes.TIMELINE_MISSING_HERE, "Service unavailable", "safekeeper " + safekeeperId + " has no WAL of a "
          + "timeline that has history (timeline " + timeline + "; its data was wiped or replaced, or it never received any): "
          + "it must catch up before it can vote, since its empty answer could elect an end of WAL below acknowledged commits. "
          + "It accepted generation " + g + " and follows that generation's compute when told to; it votes again once it "
          + "holds WAL of the timeline. Elect with the other safekeepers", "started");
    }
    return new FenceResult(safekeeperId, g, pos == null ? 0 : pos.timeline(), pos == null ? Lsn.ZERO : pos.lsn());
  }

  /**
   * Refuses (503 timeline-storage-lost) when this timeline's directory is gone or replaced while the process
   * runs. Its WAL and accepted generation went with it, and what this object remembers of them is no longer on
   * disk. Above all it must not record an acceptance in a recreated directory: after a restart that file alone
   * would make it a safekeeper that took part in an election and holds no WAL, which votes with an empty answer
   * and could elect an end of WAL below acknowledged commits. Restarted, it finds the directory empty and
   * rejoins as a wiped safekeeper does: no vote until it caught up.
   */
  private void requireOwnDirectory() throws IOException {
    Object now;
    try {
      now = directoryKey(dir);
    } catch (NoSuchFileException e) {
      now = null;
    }
    if (directoryKey != null && !directoryKey.equals(now)) {
      log.error("event=timeline_storage_lost safekeeper={} tenant={} timeline={} directory={} accepted_generation={} action=restart",
          safekeeperId, tenant, timeline, dir, acceptedGeneration);
      throw ApiProblem.unavailable(ProblemTypes.TIMELINE_STORAGE_LOST, "safekeeper " + safekeeperId + " lost the data of timeline " + timeline
          + ": its directory " + dir + " was removed or replaced while the safekeeper ran (a lost or replaced disk). It takes "
          + "no part in elections until restarted; restart it, and it rejoins empty and catches up. Elect with the others");
    }
  }

  private static Object directoryKey(Path dir) throws IOException {
    return Files.readAttributes(dir, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
  }

  /** Follows the compute of the accepted generation; a repeated request while streaming changes nothing. */
  synchronized void follow(FollowRequest req) {
    if (req.tls() && replicationTls == null) {
      throw ApiProblem.invalid("tls", "safekeeper " + safekeeperId + " has no TLS identity to follow a compute that serves TLS: start it "
          + "with --tls-cert, --tls-key (a client certificate with common name " + ReplicationTls.CLIENT_NAME + ") and --tls-ca (the "
          + "CA of the computes' certificates)");
    }
    if (req.generation() < acceptedGeneration) {
      throw ApiProblem.conflict(ProblemTypes.STALE_GENERATION, "generation", "safekeeper " + safekeeperId + " accepted generation "
          + acceptedGeneration + " of timeline " + timeline + ", not " + req.generation() + "; this compute was fenced off and must stop");
    }
    if (req.generation() > acceptedGeneration) {
      // It missed the election (down, slow or partitioned then): the compute fences it with its own
      // generation and asks again, so a safekeeper never stays behind on an older generation.
      throw ApiProblem.conflict(ProblemTypes.FENCE_REQUIRED, "generation", "safekeeper " + safekeeperId + " accepted generation "
          + acceptedGeneration + " of timeline " + timeline + ", below " + req.generation() + "; fence it with generation "
          + req.generation() + " first");
    }
    if (receiver != null && following != null && following.generation() == req.generation()
        && receiver.state() != WalReceiver.State.FAILED && receiver.state() != WalReceiver.State.CLOSED) {
      return;
    }
    // Only the compute saying the WAL is gone (or no longer kept for us: it moved our slot past our end) calls for
    // a catch-up; the receiver after it may take from the compute what the catch-up found nowhere else. Other
    // refusals, above all "slot is active" (the walsender of this safekeeper's previous process holds the slot
    // until wal_sender_timeout), pass by themselves, and a catch-up would hold this timeline's lock, and so fence
    // and status, while it copies.
    boolean walGone = receiver != null && following != null && following.generation() == req.generation()
        && receiver.failure().map(f -> f.reason() == WalReceiver.FailureReason.WAL_REMOVED).orElse(false);
    WalReceiver.FailureReason previousFailure = receiver != null && following != null && following.generation() == req.generation()
        ? receiver.failure().map(WalReceiver.Failure::reason).orElse(null) : null;
    stopReceiver();
    following = req;
    if (walGone) {
      catchUp(req);
    }
    receiver = WalReceiver.builder(store)
        .safekeeperId(safekeeperId)
        .compute(req.host(), req.port())
        .credentials(req.user(), req.password())
        .slot(req.slotName())
        .timeline(req.tli())
        .startLsn(req.startLsn())
        .listener(receiverListener)
        .previousFailure(previousFailure)
        .streamBelowSlot(walGone)
        .tls(req.tls() ? replicationTls : null)
        .start();
    log.info("event=following_compute safekeeper={} tenant={} timeline={} generation={} tli={} compute={}:{} start_lsn={} tls={}",
        safekeeperId, tenant, timeline, req.generation(), req.tli(), req.host(), req.port(), req.startLsn(), req.tls());
  }

  /**
   * The compute refused to stream from where this store ends (it recycled that WAL after giving up this
   * safekeeper's slot): copy the complete segments since then from object storage or a peer. Runs under
   * this object's lock for the accepted generation's TLI only, with no receiver running, so no other
   * writer touches the store and no fence can interleave. A failed attempt is logged and the next follow
   * retry tries again; what was flushed before the failure stays.
   */
  private void catchUp(FollowRequest req) {
    try {
      SafekeeperCatchUp.Result r = catchUp.run(store, req.tli(), req.startLsn(), req.peers());
      log.info("event=safekeeper_catch_up safekeeper={} tenant={} timeline={} generation={} tli={} from_lsn={} to_lsn={} "
              + "segments={} from={} stopped_at={}", safekeeperId, tenant, timeline, req.generation(), r.tli(), r.from(), r.to(),
          r.segments(), r.sources(), r.stoppedAt());
    } catch (IOException | RuntimeException e) {
      log.warn("event=safekeeper_catch_up_failed safekeeper={} tenant={} timeline={} generation={} tli={} flush_lsn={} error=\"{}\"",
          safekeeperId, tenant, timeline, req.generation(), req.tli(), store.flushLsn(req.tli()).orElse(Lsn.ZERO),
          String.valueOf(e.getMessage()).replace('"', '\''));
    }
  }

  synchronized TimelineWalStatus status() {
    WalPosition pos = store.flushPosition().orElse(null);
    boolean streaming = receiver != null && receiver.state() != WalReceiver.State.FAILED && receiver.state() != WalReceiver.State.CLOSED;
    return new TimelineWalStatus(safekeeperId, acceptedGeneration, pos == null ? 0 : pos.timeline(),
        pos == null ? Lsn.ZERO : pos.lsn(), streaming && following != null && following.generation() == acceptedGeneration);
  }

  /**
   * A WAL file as this safekeeper holds it. With {@code minFlush}, a segment is served only when it holds WAL
   * of its TLI up to that LSN (what the archive may hand to restore_command); without, the durable prefix with
   * zeros after it (the tail a starting compute puts into pg_wal). Either way a TLI's WAL ends at its switch
   * point when a later TLI's history here says where it ended: what this store may hold of it beyond (WAL an
   * older compute wrote after the fence) is superseded and never served, and a segment that the switch point
   * cuts is never complete.
   */
  Optional<WalFileBody> walFile(String name, Optional<Lsn> minFlush) throws IOException {
    if (WalFileName.isHistory(name)) {
      return store.historyFile(WalFileName.timelineOf(name)).map(b -> new WalFileBody(new ByteArrayInputStream(b), b.length));
    }
    if (!WalFileName.isSegment(name)) {
      throw ApiProblem.invalid("file", "'" + name + "' is neither a WAL segment name nor a TLI history file");
    }
    int tli = WalFileName.timelineOf(name);
    long size = store.segmentSize();
    long segno = WalFileName.segmentNumberOf(name, size);
    Optional<Lsn> flush = store.flushLsn(tli);
    if (flush.isEmpty()) {
      return Optional.empty();
    }
    Optional<Lsn> switchPoint = switchPoint(tli);
    Lsn end = switchPoint.map(s -> Lsn.min(s, flush.get())).orElse(flush.get());
    Lsn segmentStart = new Lsn(segno * size);
    if (!segmentStart.isBefore(end) || (minFlush.isPresent() && end.isBefore(minFlush.get()))) {
      return Optional.empty();
    }
    // Opened now: the open file stays readable should retention unlink it while the answer is sent.
    Optional<InputStream> in = store.openSegment(tli, segno);
    if (in.isPresent() && switchPoint.isPresent() && switchPoint.get().isBefore(new Lsn((segno + 1) * size))) {
      in = Optional.of(new PrefixThenZeros(in.get(), switchPoint.get().value() - segmentStart.value(), size));
    }
    return in.map(s -> new WalFileBody(s, size));
  }

  /** A WAL file's bytes and their number: a segment is always served whole, with zeros after what is served. */
  record WalFileBody(InputStream in, long length) {}

  /**
   * Uploads history files, every complete segment not yet in object storage, and the tails of TLIs that ended
   * mid-segment; returns how many it uploaded.
   */
  int offload(ObjectStore objects) throws IOException {
    Map<Integer, Lsn> switchPoints = switchPoints();
    int uploaded = 0;
    for (int tli : store.timelines()) {
      if (tli >= 2) {
        Optional<byte[]> history = store.historyFile(tli);
        String key = ObjectKeys.wal(tenant, timeline, WalFileName.history(tli));
        if (history.isPresent() && !offloaded.contains(key)) {
          if (objects.putIfAbsent(key, history.get())) {
            uploaded++;
          }
          offloaded.add(key);
        }
      }
    }
    for (WalSegmentId segment : store.completedSegments()) {
      String key = ObjectKeys.wal(tenant, timeline, segment.fileName(store.segmentSize()));
      if (offloaded.contains(key)) {
        continue;
      }
      // Complete here is not complete in the TLI's history: a segment the switch point cuts is a tail, and one
      // past it holds superseded WAL. Neither may ever be taken for the TLI's complete segment.
      Lsn switchPoint = switchPoints.get(segment.timeline());
      if (switchPoint != null && segment.end(store.segmentSize()).isAfter(switchPoint)) {
        continue;
      }
      // Every safekeeper offloads; one that finds the segment there already skips it, and two racing both
      // write it. A complete segment of a TLI has the same bytes everywhere (one compute wrote that TLI).
      if (!objects.exists(key)) {
        Optional<Path> file = store.segmentFile(segment.timeline(), segment.segmentNumber());
        if (file.isEmpty()) {
          continue;
        }
        objects.putFile(key, file.get());
        uploaded++;
        log.info("event=segment_offloaded safekeeper={} tenant={} timeline={} segment={}", safekeeperId, tenant, timeline,
            segment.fileName(store.segmentSize()));
      }
      offloaded.add(key);
    }
    uploaded += offloadEndedTimelineTails(objects, switchPoints);
    removeOffloadedSegments(objects, switchPoints);
    return uploaded;
  }

  /** Segments of the newest TLI kept locally below the one being written, for peers and quick restarts. */
  static final int LOCAL_SEGMENTS_KEPT = 4;

  /** Object-key suffix of the tail of a TLI that ended mid-segment, as PostgreSQL names it in its archive. */
  static final String PARTIAL_SUFFIX = ".partial";

  /**
   * The last segment of a TLI that ended mid-segment never becomes complete, yet a branch made on that TLI
   * may need it. Upload it as {@code <segment>.partial}, full size, cut exactly at the switch point (read from
   * the next TLI's history file) with zeros after, once this safekeeper holds it up to there: every copy agrees
   * up to the switch point, and what lies past it is superseded. Under that name PostgreSQL (which falls back
   * to an older TLI's segment when the newer one is missing) and catch-ups never take it for a complete segment.
   */
  private int offloadEndedTimelineTails(ObjectStore objects, Map<Integer, Lsn> switchPoints) throws IOException {
    long size = store.segmentSize();
    int uploaded = 0;
    for (Map.Entry<Integer, Lsn> ended : switchPoints.entrySet()) {
      int tli = ended.getKey();
      Lsn switchPoint = ended.getValue();
      Optional<Lsn> flush = store.flushLsn(tli);
      if (flush.isEmpty() || switchPoint.segmentOffset(size) == 0) {
        continue;
      }
      long segno = switchPoint.segmentNumber(size);
      String name = WalFileName.segment(tli, segno, size);
      String key = ObjectKeys.wal(tenant, timeline, name + PARTIAL_SUFFIX);
      if (offloaded.contains(key)) {
        continue;
      }
      if (objects.exists(key)) {
        offloaded.add(key);
        continue;
      }
      if (flush.get().isBefore(switchPoint)) {
        continue; // this copy ends before the switch point; a safekeeper that holds it up to there uploads it
      }
      Path tmp = Files.createTempFile(dir, name, ".offload");
      try {
        Optional<InputStream> in = store.openSegment(tli, segno);
        if (in.isEmpty()) {
          continue;
        }
        try (InputStream cut = new PrefixThenZeros(in.get(), switchPoint.value() - segno * size, size)) {
          Files.copy(cut, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        objects.putFile(key, tmp);
      } finally {
        Files.deleteIfExists(tmp);
      }
      uploaded++;
      offloaded.add(key);
      log.info("event=timeline_tail_offloaded safekeeper={} tenant={} timeline={} segment={} key_suffix={} switch_lsn={}", safekeeperId,
          tenant, timeline, name, PARTIAL_SUFFIX, switchPoint);
    }
    return uploaded;
  }

  /** Per TLI this store holds WAL of: where it ended, for those a later TLI's history here says. */
  private Map<Integer, Lsn> switchPoints() throws IOException {
    Map<Integer, Lsn> ends = new TreeMap<>();
    for (int tli : store.timelines()) {
      switchPoint(tli).ifPresent(end -> ends.put(tli, end));
    }
    return ends;
  }

  /** Where PostgreSQL TLI {@code tli} ended, from the history file of a later TLI this store holds WAL of. */
  private Optional<Lsn> switchPoint(int tli) throws IOException {
    for (int later : store.timelines()) {
      if (later <= tli) {
        continue;
      }
      Optional<byte[]> history = store.historyFile(later);
      if (history.isPresent()) {
        Optional<Lsn> end = endOf(tli, later, history.get());
        if (end.isPresent()) {
          return end;
        }
      }
    }
    return Optional.empty();
  }

  /** Where a history file says TLI {@code tli} ended, if it is one of its ancestors. */
  static Optional<Lsn> endOf(int tli, int historyOf, byte[] history) {
    return TimelineHistory.of(historyOf, history).switchPoint(tli);
  }

  /**
   * Bounded local WAL: a segment that is in object storage leaves the safekeeper's disk once it is older
   * than the newest {@link #LOCAL_SEGMENTS_KEPT} segments of the newest TLI (or belongs to an older TLI). Of an
   * older TLI, the segment its switch point cuts goes once its {@code .partial} is there, and segments past the
   * switch point (superseded WAL, never served) go at once.
   */
  private void removeOffloadedSegments(ObjectStore objects, Map<Integer, Lsn> switchPoints) throws IOException {
    Optional<WalPosition> newest = store.flushPosition();
    if (newest.isEmpty()) {
      return;
    }
    long size = store.segmentSize();
    long keepFrom = newest.get().lsn().segmentNumber(size) - LOCAL_SEGMENTS_KEPT;
    for (int tli : store.timelines()) {
      boolean olderTli = tli < newest.get().timeline();
      Optional<Lsn> switchPoint = Optional.ofNullable(switchPoints.get(tli));
      for (WalSegmentId segment : store.segments(tli)) {
        String name = segment.fileName(size);
        boolean removable;
        if (switchPoint.isPresent() && !segment.start(size).isBefore(switchPoint.get())) {
          removable = true;
        } else if (switchPoint.isPresent() && segment.end(size).isAfter(switchPoint.get())) {
          String key = ObjectKeys.wal(tenant, timeline, name + PARTIAL_SUFFIX);
          removable = offloaded.contains(key) && objects.exists(key);
        } else {
          String key = ObjectKeys.wal(tenant, timeline, name);
          removable = (olderTli || segment.segmentNumber() < keepFrom) && offloaded.contains(key) && objects.exists(key);
        }
        if (removable) {
          try {
            store.removeSegment(segment);
          } catch (IllegalArgumentException stillWritten) {
            // not safe to drop yet; a later pass will
          }
        }
      }
    }
  }

  synchronized void deleteData() throws IOException {
    close();
    try (var paths = Files.walk(dir)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private void stopReceiver() {
    if (receiver != null) {
      receiver.close(); // returns once the receiver wrote and acknowledged its last byte
      receiver = null;
    }
  }

  /** The newest TLI's durable position, without waiting for this timeline's lock (a catch-up may hold it). */
  Optional<WalPosition> flushPosition() {
    return store.flushPosition();
  }

  @Override
  public synchronized void close() {
    stopReceiver();
    try {
      store.close();
    } catch (Exception e) {
      log.warn("event=wal_store_close_failed safekeeper={} timeline={} error=\"{}\"", safekeeperId, timeline, e.getMessage());
    }
  }
}
