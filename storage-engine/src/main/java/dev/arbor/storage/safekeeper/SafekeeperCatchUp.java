package dev.arbor.storage.safekeeper;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.ApiProblem;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.objectstore.ObjectStore;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Brings a safekeeper's store forward over WAL its compute no longer has or keeps (the compute moved its slot
 * up to what a majority holds, and recycles the WAL below): copies the following <em>complete</em> segments of one TLI from object storage, where
 * the other safekeepers offload them, or else from a peer safekeeper that holds them flushed. A complete
 * segment of a TLI has the same bytes everywhere (one compute wrote that TLI), so any copy is the copy;
 * the part of the first segment this store already flushed is compared, never rewritten.
 *
 * <p>Stops at the first segment nobody has complete: that one is still being written, so the compute
 * still has it in pg_wal (the majority's slots hold it) and streaming resumes from there. Stops also before
 * the segment holding the TLI's switch point, when a later TLI's history (in object storage) says the TLI
 * ended: that segment is a tail, whatever name and size a copy of it has, and never complete.
 */
final class SafekeeperCatchUp {

  enum Source {
    OBJECT_STORAGE, PEER;

    String code() {
      return this == OBJECT_STORAGE ? "object_storage" : "peer";
    }
  }

  /** What one catch-up did: WAL of {@code tli} now durable from {@code from} to {@code to}. */
  record Result(int tli, Lsn from, Lsn to, int fromObjectStorage, int fromPeers, String stoppedAt) {
    int segments() {
      return fromObjectStorage + fromPeers;
    }

    /** {@code object_storage}, {@code peer}, both comma-separated, or {@code none}. */
    String sources() {
      if (fromObjectStorage > 0 && fromPeers > 0) {
        return "object_storage,peer";
      }
      return fromObjectStorage > 0 ? "object_storage" : fromPeers > 0 ? "peer" : "none";
    }
  }

  /** The store's flushed WAL differs from the complete segment found elsewhere: never overwrite, stop. */
  static final class DivergedException extends IOException {
    DivergedException(String message) {
      super(message);
    }
  }

  private record Fetched(byte[] bytes, Source source) {}

  private static final Duration PEER_READ_TIMEOUT = Duration.ofMinutes(2);

  private final TenantId tenant;
  private final TimelineId timeline;
  private final ObjectStore objects;
  private final Duration peerTimeout;
  private final TokenSource peerTokens;
  private final ClientTls peerTls;

  /** Sending peers no token. */
  SafekeeperCatchUp(TenantId tenant, TimelineId timeline, ObjectStore objects, Duration peerTimeout) {
    this(tenant, timeline, objects, peerTimeout, TokenSource.NONE, ClientTls.SYSTEM);
  }

  /**
   * @param peerTimeout bounds connecting to a peer safekeeper (each peer is asked once per segment)
   * @param peerTokens the token this safekeeper sends its peers ({@code --token-file})
   * @param peerTls whom their https:// URLs are trusted from ({@code --tls-ca})
   */
  SafekeeperCatchUp(TenantId tenant, TimelineId timeline, ObjectStore objects, Duration peerTimeout, TokenSource peerTokens,
      ClientTls peerTls) {
    this.tenant = tenant;
    this.timeline = timeline;
    this.objects = objects;
    this.peerTimeout = peerTimeout;
    this.peerTokens = peerTokens;
    this.peerTls = peerTls;
  }

  /**
   * Copies complete segments of {@code tli} into {@code store}, from the segment holding its flush LSN on
   * {@code tli} (or {@code startLsn}'s segment when it holds none), flushing after each, and returns what
   * it did. The caller must make sure nothing else writes the store meanwhile.
   */
  Result run(WalSegmentStore store, int tli, Lsn startLsn, List<String> peers) throws IOException {
    long size = store.segmentSize();
    Optional<WalPosition> newest = store.flushPosition();
    Optional<Lsn> flushed = store.flushLsn(tli);
    Lsn from = flushed.orElse(startLsn.segmentStart(size));
    if (newest.isPresent() && newest.get().timeline() > tli) {
      // A newer TLI has begun here: WAL of an older one may never be appended again (the receiver fails STALE_TIMELINE).
      return new Result(tli, from, from, 0, 0, "-");
    }
    Optional<Lsn> switchPoint = switchPoint(tli);
    Lsn position = from;
    long segno = Long.divideUnsigned(position.value(), size);
    int fromObjects = 0;
    int fromPeers = 0;
    while (true) {
      String name = WalFileName.segment(tli, segno, size);
      Lsn segmentStart = new Lsn(segno * size);
      Lsn segmentEnd = new Lsn((segno + 1) * size);
      if (switchPoint.isPresent() && segmentEnd.isAfter(switchPoint.get())) {
        return new Result(tli, from, position, fromObjects, fromPeers, name);
      }
      Optional<Fetched> fetched = fetch(name, segmentEnd, size, peers);
      if (fetched.isEmpty()) {
        return new Result(tli, from, position, fromObjects, fromPeers, name);
      }
      byte[] bytes = fetched.get().bytes();
      int offset = (int) (position.value() - segmentStart.value());
      if (offset > 0) {
        checkSamePrefix(store, tli, segno, bytes, offset, name, fetched.get().source());
      }
      store.write(tli, position, ByteBuffer.wrap(bytes, offset, bytes.length - offset));
      store.flush();
      position = segmentEnd;
      segno++;
      if (fetched.get().source() == Source.OBJECT_STORAGE) {
        fromObjects++;
      } else {
        fromPeers++;
      }
    }
  }

  /**
   * Where TLI {@code tli} ended, if it did, from a later TLI's history file in object storage: the other
   * safekeepers offload history files before any segment. (This store holds no later TLI, or the catch-up would
   * not run.) Failing to list object storage fails the catch-up rather than risk taking a tail for a complete
   * segment; the next follow retries it.
   */
  private Optional<Lsn> switchPoint(int tli) throws IOException {
    for (String key : objects.list(ObjectKeys.walPrefix(tenant, timeline))) {
      String name = key.substring(key.lastIndexOf('/') + 1);
      if (WalFileName.isHistory(name) && WalFileName.timelineOf(name) > tli) {
        Optional<byte[]> history = objects.getBytes(key);
        Optional<Lsn> end = history.flatMap(h -> SafekeeperTimeline.endOf(tli, WalFileName.timelineOf(name), h));
        if (end.isPresent()) {
          return end;
        }
      }
    }
    return Optional.empty();
  }

  private Optional<Fetched> fetch(String name, Lsn segmentEnd, long size, List<String> peers) {
    try {
      Optional<byte[]> bytes = objects.getBytes(ObjectKeys.wal(tenant, timeline, name));
      if (bytes.isPresent() && bytes.get().length == size) {
        return Optional.of(new Fetched(bytes.get(), Source.OBJECT_STORAGE));
      }
    } catch (IOException e) {
      // object storage unreachable for now: a peer may still have the segment
    }
    for (String peer : peers) {
      try {
        Optional<InputStream> in = new SafekeeperClient(peer, peerTimeout, RetryPolicy.NONE, peerTokens, peerTls)
            .walFile(tenant, timeline, name, segmentEnd, PEER_READ_TIMEOUT);
        if (in.isEmpty()) {
          continue; // the peer does not hold it complete
        }
        byte[] bytes;
        try (InputStream s = in.get()) {
          bytes = s.readNBytes((int) size + 1);
        }
        if (bytes.length == size) {
          return Optional.of(new Fetched(bytes, Source.PEER));
        }
      } catch (IOException | ApiProblem e) {
        // down or refusing: try the next peer
      }
    }
    return Optional.empty();
  }

  private static void checkSamePrefix(WalSegmentStore store, int tli, long segno, byte[] fetched, int length, String name,
      Source source) throws IOException {
    Optional<InputStream> mine = store.openSegment(tli, segno);
    if (mine.isEmpty()) {
      throw new DivergedException("segment " + name + " holds flushed WAL but cannot be read");
    }
    byte[] prefix;
    try (InputStream in = mine.get()) {
      prefix = in.readNBytes(length);
    }
    if (!Arrays.equals(prefix, 0, length, fetched, 0, length)) {
      throw new DivergedException("the complete segment " + name + " from " + source.code()
          + " differs from the WAL this safekeeper flushed of it; refusing to continue it");
    }
  }
}
