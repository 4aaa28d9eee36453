package dev.arbor.storage.safekeeper;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.postgres.WalRecordScanner;
import dev.arbor.postgres.DurableFiles;
import dev.arbor.storage.fs.PrefixThenZeros;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Durable WAL of one Arbor timeline on a safekeeper's local disk. The directory holds:
 *
 * <pre>
 * state.json                         system id, segment size, flush LSN per PostgreSQL TLI ({@link WalStoreState})
 * flush                              the newest TLI's flush LSN, rewritten in place on every flush, forced only
 *                                    after recovery and before retention removes WAL it points at ({@link FlushRecord})
 * wal/TTTTTTTTXXXXXXXXYYYYYYYY       segments, named and sized exactly as in pg_wal, zero-filled when created
 * wal/TTTTTTTT.history               timeline history files, byte for byte as the compute has them
 * lock                               held while a store is open, so two processes never write one directory
 * </pre>
 *
 * <p>Rules that readers and the quorum rely on:
 * <ul>
 *   <li>The flush LSN of a TLI covers every byte of that TLI below it: those bytes were forced to disk
 *       before the flush LSN was reported. A store that opens finds the newest TLI's flush LSN from the
 *       flush record (a lower bound) and the WAL records after it, so it never decreases, except after a
 *       power loss that cut a record the last flush ended inside of: it then ends before that record,
 *       which still covers every commit ever acknowledged (a commit record is acknowledged only once
 *       flushed to its end). The segment that any version of the record a crash can leave sends that
 *       scan to is never removed; a store where it is missing anyway refuses to open rather than
 *       report a flush LSN below WAL it acknowledged.
 *   <li>Bytes below a TLI's flush LSN are never rewritten, so a segment entirely below it is immutable.
 *   <li>The first WAL stored for a TLI begins at a segment boundary, so every stored segment holds its
 *       WAL from the segment's first byte (PostgreSQL's long page header included).
 *   <li>WAL is only appended to the newest TLI the store has seen: once a compute has promoted to a new
 *       TLI, WAL that a stale compute produces on the old one can never enter the store.
 * </ul>
 *
 * <p>One thread writes ({@link #write}, {@link #flush}); any number of threads read concurrently.
 * Reads see durable WAL only.
 */
public final class WalSegmentStore implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(WalSegmentStore.class);

  private static final String STATE_FILE = "state.json";
  private static final String FLUSH_FILE = "flush";
  private static final String WAL_DIR = "wal";
  private static final String LOCK_FILE = "lock";
  private static final long MIN_SEGMENT_SIZE = 1L << 20;
  private static final long MAX_SEGMENT_SIZE = 1L << 30;
  private static final int ZERO_FILL_CHUNK = 1 << 20;

  private final Path directory;
  private final Path walDir;
  private final Path stateFile;
  private final long segmentSize;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final FlushRecord flushRecord;

  private final ReentrantLock writeLock = new ReentrantLock();
  /** The durable state (state file merged with the flush record): what readers may see. */
  private volatile WalStoreState durable;
  /** The timelines state.json lists; a flush that adds one rewrites it, other flushes only the flush record. */
  private final Set<Integer> timelinesInStateFile = new TreeSet<>();
  /** Per TLI: the lowest LSN a write may start at (its flush LSN, or its first write before any flush). */
  private final Map<Integer, Lsn> writeFloor = new HashMap<>();
  /** Per TLI: the end of the last write, flushed or not. */
  private final Map<Integer, Lsn> writtenEnd = new HashMap<>();
  private final Map<WalSegmentId, FileChannel> channels = new HashMap<>();
  private final TreeSet<WalSegmentId> unflushed = new TreeSet<>();
  /**
   * Set when writing or forcing WAL failed: the kernel may have dropped dirty pages, so nothing written
   * since the last flush can be trusted, and retrying the force could report success for lost data.
   * Failures that cannot have lost written WAL (creating a segment, the state file, the flush record)
   * do not set it. Removing offloaded segments still works, since it may be what frees the disk.
   */
  private IOException broken;
  private boolean closed;

  private WalSegmentStore(Path directory, long segmentSize, FileChannel lockChannel, FileLock lock,
      WalStoreState stateFileContent, FlushRecord flushRecord) {
    this.directory = directory;
    this.walDir = directory.resolve(WAL_DIR);
    this.stateFile = directory.resolve(STATE_FILE);
    this.segmentSize = segmentSize;
    this.lockChannel = lockChannel;
    this.lock = lock;
    this.flushRecord = flushRecord;
    timelinesInStateFile.addAll(stateFileContent.flushLsns().keySet());
    // state.json holds each timeline's flush LSN as of when it was last rewritten; the flush record
    // holds the newest timeline's latest one.
    WalStoreState state = flushRecord.position()
        .map(p -> stateFileContent.withFlushLsns(Map.of(p.timeline(),
            Lsn.max(p.lsn(), stateFileContent.flushLsns().getOrDefault(p.timeline(), Lsn.ZERO)))))
        .orElse(stateFileContent);
    this.durable = state;
    writeFloor.putAll(state.flushLsns());
    writtenEnd.putAll(state.flushLsns());
  }

  /** Opens (or creates) a store with PostgreSQL's default 16 MiB segments. */
  public static WalSegmentStore open(Path directory) throws IOException {
    return open(directory, Lsn.DEFAULT_SEGMENT_SIZE);
  }

  /**
   * Opens the store in {@code directory}, creating it when empty, and recovers the flush positions from
   * its state file and flush record. {@code segmentSize} must be the compute's {@code wal_segment_size}
   * and match what the store was created with.
   */
  public static WalSegmentStore open(Path directory, long segmentSize) throws IOException {
    if (Long.bitCount(segmentSize) != 1 || segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) {
      throw new IllegalArgumentException("WAL segment size must be a power of two between 1 MiB and 1 GiB, as "
          + "PostgreSQL's wal_segment_size is; got " + segmentSize);
    }
    Path dir = directory.toAbsolutePath().normalize();
    DurableFiles.createDirectories(dir.resolve(WAL_DIR));
    FileChannel lockChannel = FileChannel.open(dir.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    FileLock lock;
    try {
      lock = lockChannel.tryLock();
    } catch (OverlappingFileLockException e) {
      lock = null;
    }
    if (lock == null) {
      lockChannel.close();
      throw new IOException("the WAL store " + dir + " is open in another store instance or process; "
          + "one safekeeper writes one directory");
    }
    FlushRecord flushRecord = null;
    try {
      removeTemporaryFiles(dir);
      removeTemporaryFiles(dir.resolve(WAL_DIR));
      WalStoreState state = readState(dir.resolve(STATE_FILE), segmentSize);
      Path flushFile = dir.resolve(FLUSH_FILE);
      if (Files.exists(flushFile)) {
        flushRecord = FlushRecord.open(flushFile);
      } else if (state.flushLsns().isEmpty()) {
        flushRecord = FlushRecord.create(flushFile);
      } else {
        throw new IOException("the WAL store " + dir + " lists flushed WAL in " + STATE_FILE + " but has no "
            + FLUSH_FILE + " record: its newest flush position is lost. Do not serve this store; rebuild it from its peers");
      }
      var store = new WalSegmentStore(dir, segmentSize, lockChannel, lock, state, flushRecord);
      store.recoverEndOfWal();
      return store;
    } catch (IOException | RuntimeException e) {
      IOException closing = flushRecord == null ? null : closeCollecting(flushRecord::close, null);
      closing = closeCollecting(lockChannel::close, closing);
      if (closing != null) {
        e.addSuppressed(closing);
      }
      throw e;
    }
  }

  /**
   * The recorded flush LSN of the newest timeline is a lower bound: {@link #flush()} records it without
   * forcing the record, so a crash may leave an older one, back to the last one forced. The WAL itself
   * says where it ends: every record after the recorded position whose CRC and back-link check out was
   * written, and reading it back now proves it reached the file. Those segments are forced before the
   * position is taken, so the recovered flush LSN is as durable as any other. A record cut short by the
   * crash ends the scan. The position is then forced, so the next crash never sends the scan back to
   * segments that retention may remove from now on.
   */
  private void recoverEndOfWal() throws IOException {
    Optional<WalPosition> recorded = durable.newest();
    if (recorded.isPresent()) {
      recoverEndOfWal(recorded.get().timeline(), recorded.get().lsn());
    }
    forceFlushRecord();
  }

  private void recoverEndOfWal(int tli, Lsn lowerBound) throws IOException {
    checkScanStartIsStored(tli, lowerBound);
    long firstSegment = lowerBound.segmentNumber(segmentSize);
    Optional<WalRecordScanner.Result> scanned = WalRecordScanner.scan(segmentSize, firstSegment,
        number -> mapSegment(new WalSegmentId(tli, number)));
    if (scanned.isEmpty() || !scanned.get().end().isAfter(lowerBound)) {
      return;
    }
    Lsn end = scanned.get().end();
    for (long n = firstSegment; n <= end.plus(-1).segmentNumber(segmentSize); n++) {
      try (FileChannel ch = FileChannel.open(walDir.resolve(new WalSegmentId(tli, n).fileName(segmentSize)),
          StandardOpenOption.WRITE)) {
        ch.force(false);
      }
    }
    durable = durable.withFlushLsns(Map.of(tli, end));
    writeFloor.put(tli, end);
    writtenEnd.put(tli, end);
    log.info("event=wal_end_recovered directory={} timeline={} recorded_flush_lsn={} recovered_flush_lsn={}",
        directory, tli, lowerBound, end);
  }

  /**
   * The scan for the end of WAL starts at the segment holding the lower bound, which holds flushed WAL
   * unless the bound is its first byte and nothing follows. Retention never removes it (it forces a
   * newer record first). When it is gone anyway (files deleted by hand, an old record restored), the
   * end cannot be found, and keeping the lower bound would report a flush LSN below WAL this store may
   * have acknowledged: the quorum would lose those commits.
   */
  private void checkScanStartIsStored(int tli, Lsn lowerBound) throws IOException {
    long number = lowerBound.segmentNumber(segmentSize);
    Path file = walDir.resolve(new WalSegmentId(tli, number).fileName(segmentSize));
    if (Files.isRegularFile(file) && Files.size(file) == segmentSize) {
      return;
    }
    boolean nothingWrittenFromIt = lowerBound.segmentOffset(segmentSize) == 0 && !Files.exists(file)
        && storedSegments().stream().noneMatch(s -> s.timeline() == tli && s.segmentNumber() > number);
    if (nothingWrittenFromIt) {
      return;
    }
    throw new IOException("the WAL store " + directory + " records WAL of timeline " + tli + " flushed up to "
        + lowerBound + ", but the segment " + file + " is missing or not " + segmentSize + " bytes, so where its "
        + "WAL ends cannot be found (segments removed by hand, or a flush record older than the segments restored). "
        + "Do not serve this store: put the segment back (object storage holds an offloaded copy under the same "
        + "name) and reopen it, or rebuild the store from its peers");
  }

  /**
   * Forces the flush record holding the newest durable position. Once it returns, no crash leaves an
   * older record, so the segments only an older one would have sent the end-of-WAL scan to may go.
   */
  private void forceFlushRecord() throws IOException {
    Optional<WalPosition> newest = durable.newest();
    if (newest.isPresent() && !newest.equals(flushRecord.position())) {
      flushRecord.write(newest.get());
    }
    flushRecord.force();
  }

  /**
   * Whether the end-of-WAL scan after a crash may read {@code segment}: the crash leaves the record of
   * the last force or a later one, and the scan reads that record's timeline from its segment on, or a
   * newer timeline (listed in state.json) from that timeline's start.
   */
  private boolean scannedAfterACrash(WalSegmentId segment) {
    Optional<WalPosition> forced = flushRecord.durablePosition();
    if (forced.isEmpty()) {
      return true;
    }
    int tli = forced.get().timeline();
    return segment.timeline() > tli
        || (segment.timeline() == tli && segment.segmentNumber() >= forced.get().lsn().segmentNumber(segmentSize));
  }

  private Optional<ByteBuffer> mapSegment(WalSegmentId segment) throws IOException {
    Path file = walDir.resolve(segment.fileName(segmentSize));
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      if (ch.size() != segmentSize) {
        return Optional.empty();
      }
      return Optional.of(ch.map(FileChannel.MapMode.READ_ONLY, 0, segmentSize));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  private static WalStoreState readState(Path file, long segmentSize) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      return WalStoreState.empty(segmentSize);
    }
    WalStoreState state = WalStoreState.fromJson(bytes, file);
    if (state.segmentSize() != segmentSize) {
      throw new IOException("the WAL store " + file.getParent() + " holds segments of " + state.segmentSize()
          + " bytes, not " + segmentSize + ": a store keeps the segment size of the cluster it was created for");
    }
    return state;
  }

  public Path directory() {
    return directory;
  }

  public long segmentSize() {
    return segmentSize;
  }

  /** The PostgreSQL system identifier (from {@code initdb}) whose WAL this store holds, once bound. */
  public OptionalLong systemIdentifier() {
    return durable.systemIdentifier();
  }

  /**
   * Binds the store to one PostgreSQL system: the first call records {@code id} durably, later calls
   * accept only the same id. WAL of another system would be garbage to every reader of this timeline.
   *
   * @throws IllegalStateException when the store is bound to a different system
   */
  public void bindSystemIdentifier(long id) throws IOException {
    writeLock.lock();
    try {
      checkWritable();
      OptionalLong bound = durable.systemIdentifier();
      if (bound.isPresent()) {
        if (bound.getAsLong() != id) {
          throw new IllegalStateException("the WAL store " + directory + " holds WAL of PostgreSQL system "
              + Long.toUnsignedString(bound.getAsLong()) + ", not of system " + Long.toUnsignedString(id));
        }
        return;
      }
      WalStoreState next = durable.withSystemIdentifier(id);
      writeStateFile(next);
      durable = next;
    } finally {
      writeLock.unlock();
    }
  }

  /**
   * Writes WAL of {@code timeline} starting at {@code start}, across segment boundaries, without forcing
   * it to disk; {@link #flush()} makes it durable. Consumes {@code data}.
   *
   * @throws IllegalArgumentException when the write would leave a hole, rewrite flushed WAL, or start a
   *     timeline's WAL elsewhere than at a segment boundary
   * @throws IllegalStateException when {@code timeline} is older than the newest timeline stored
   */
  public void write(int timeline, Lsn start, ByteBuffer data) throws IOException {
    WalSegmentId.checkTimeline(timeline);
    if (!data.hasRemaining()) {
      return;
    }
    writeLock.lock();
    try {
      checkWritable();
      checkAppendable(timeline, start);
      long position = start.value();
      while (data.hasRemaining()) {
        var segment = new WalSegmentId(timeline, Long.divideUnsigned(position, segmentSize));
        long offset = Long.remainderUnsigned(position, segmentSize);
        int length = (int) Math.min(data.remaining(), segmentSize - offset);
        FileChannel channel = channelFor(segment);
        unflushed.add(segment);
        writeWal(channel, data.slice(data.position(), length), offset);
        data.position(data.position() + length);
        position += length;
      }
      writeFloor.putIfAbsent(timeline, start);
      writtenEnd.put(timeline, new Lsn(position));
    } finally {
      writeLock.unlock();
    }
  }

  private void checkAppendable(int timeline, Lsn start) {
    int newest = writtenEnd.keySet().stream().mapToInt(Integer::intValue).max().orElse(0);
    if (timeline < newest) {
      throw new IllegalStateException("cannot append WAL of timeline " + timeline + " to " + directory
          + ": timeline " + newest + " has begun, and its history supersedes the older timeline from its switch point");
    }
    Lsn end = writtenEnd.get(timeline);
    if (end == null) {
      if (start.segmentOffset(segmentSize) != 0) {
        throw new IllegalArgumentException("the first WAL of timeline " + timeline + " must start at a segment "
            + "boundary, got " + start + " (segment start " + start.segmentStart(segmentSize) + ")");
      }
      return;
    }
    Lsn floor = writeFloor.get(timeline);
    if (start.isBefore(floor) || start.isAfter(end)) {
      throw new IllegalArgumentException("WAL of timeline " + timeline + " written at " + start + " must start between "
          + floor + " (flushed WAL is never rewritten) and " + end + " (the end of what was written: no holes)");
    }
  }

  /** A write that fails may have reached some pages and not others, none of them forced: see {@link #broken}. */
  private void writeWal(FileChannel channel, ByteBuffer part, long offset) throws IOException {
    try {
      while (part.hasRemaining()) {
        channel.write(part, offset + part.position());
      }
    } catch (IOException e) {
      broken = e;
      throw e;
    }
  }

  /**
   * The segment's channel, creating the file if needed. A failure here (no space for the new file, no
   * free descriptor, something in the way) has written no WAL, so it fails the write without
   * poisoning the store: the write can be retried once the cause is gone.
   */
  private FileChannel channelFor(WalSegmentId segment) throws IOException {
    FileChannel channel = channels.get(segment);
    if (channel != null) {
      return channel;
    }
    Path file = walDir.resolve(segment.fileName(segmentSize));
    if (!Files.exists(file)) {
      createZeroFilled(file);
    } else if (!Files.isRegularFile(file) || Files.size(file) != segmentSize) {
      throw new IOException("cannot write WAL to " + file + ": it is not a regular file of " + segmentSize
          + " bytes, and this store only creates full-size segments, so something else put it there. Move it "
          + "away; the write failed without harming the store and can be retried");
    }
    channel = FileChannel.open(file, StandardOpenOption.WRITE);
    channels.put(segment, channel);
    return channel;
  }

  /**
   * Creates a segment at full size, as PostgreSQL does: readers can tell the end of WAL by the zeros
   * after it, and the file never changes size again, so forcing its data ({@code fdatasync}) suffices.
   * The zeros are durable before the file gets its name, so a segment name always means a full file.
   */
  private void createZeroFilled(Path file) throws IOException {
    Path tmp = DurableFiles.temporarySibling(file);
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(ZERO_FILL_CHUNK, segmentSize));
        for (long written = 0; written < segmentSize; ) {
          zeros.clear();
          written += ch.write(zeros, written);
        }
        ch.force(true);
      }
      DurableFiles.moveIntoPlace(tmp, file);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /**
   * Makes everything written so far durable: forces every segment written since the last flush, then
   * records the new flush LSN (in the flush record; when a timeline begins, also in the state file,
   * which is replaced atomically), and only then returns. A flush LSN returned here, or seen by a
   * reader afterwards, survives a crash (see the class's rules for a power loss inside a record).
   *
   * @return the flush LSN of the newest timeline, or {@link Lsn#ZERO} when the store holds no WAL
   */
  public Lsn flush() throws IOException {
    writeLock.lock();
    try {
      checkWritable();
      if (!unflushed.isEmpty()) {
        WalStoreState next = durable.withFlushLsns(writtenEnd);
        try {
          for (WalSegmentId segment : unflushed) {
            channels.get(segment).force(false);
          }
        } catch (IOException e) {
          broken = e;
          throw e;
        }
        // Failures from here on lost no WAL: it is forced, and a retried flush forces it again honestly.
        if (!timelinesInStateFile.containsAll(next.flushLsns().keySet())) {
          // The older timeline's final flush LSN leaves the flush record now; keep it in the state file.
          writeStateFile(next);
        }
        flushRecord.write(next.newest().orElseThrow());
        durable = next;
        writeFloor.putAll(next.flushLsns());
        unflushed.clear();
        closeAllChannelsBut(newestWrittenSegment());
      }
      return durable.newest().map(WalPosition::lsn).orElse(Lsn.ZERO);
    } finally {
      writeLock.unlock();
    }
  }

  private void writeStateFile(WalStoreState next) throws IOException {
    DurableFiles.write(stateFile, next.toJson());
    timelinesInStateFile.addAll(next.flushLsns().keySet());
  }

  /** The segment the next write most likely goes to; its channel stays open across flushes. */
  private WalSegmentId newestWrittenSegment() {
    int tli = writtenEnd.keySet().stream().mapToInt(Integer::intValue).max().orElseThrow();
    Lsn end = writtenEnd.get(tli);
    return new WalSegmentId(tli, end.segmentNumber(segmentSize));
  }

  private void closeAllChannelsBut(WalSegmentId keep) throws IOException {
    for (Iterator<Map.Entry<WalSegmentId, FileChannel>> it = channels.entrySet().iterator(); it.hasNext(); ) {
      Map.Entry<WalSegmentId, FileChannel> e = it.next();
      if (!e.getKey().equals(keep)) {
        e.getValue().close();
        it.remove();
      }
    }
  }

  private void checkWritable() throws IOException {
    checkOpen();
    if (broken != null) {
      throw new IOException("the WAL store " + directory + " failed to write or force WAL (" + broken
          + "); the kernel may have dropped written pages, so this instance accepts no more writes: reopen the "
          + "store, which resumes from the last recorded flush LSN", broken);
    }
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the WAL store " + directory + " is closed");
    }
  }

  /**
   * Removes a segment file that is safe elsewhere (offloaded) and will not be written again: complete on
   * its timeline, or of a timeline older than the newest one. Refuses the segment holding the newest
   * flush position. Readers then find it in object storage. When a crash could leave a flush record that
   * points at the segment, the record is forced first (once per batch of removals in practice).
   */
  public void removeSegment(WalSegmentId segment) throws IOException {
    writeLock.lock();
    try {
      checkOpen(); // not checkWritable: deleting an offloaded, complete segment loses nothing
      WalPosition newest = durable.newest().orElseThrow(() -> new IllegalStateException("the store holds no WAL"));
      Lsn flush = durable.flushLsns().get(segment.timeline());
      boolean olderTimeline = segment.timeline() < newest.timeline();
      boolean complete = flush != null && segment.end(segmentSize).compareTo(flush) <= 0;
      boolean holdsNewest = segment.timeline() == newest.timeline()
          && segment.segmentNumber() == newest.lsn().segmentNumber(segmentSize);
      if (holdsNewest || !(olderTimeline || complete)) {
        throw new IllegalArgumentException("segment " + segment.fileName(segmentSize) + " may still be written; not removed");
      }
      if (scannedAfterACrash(segment)) {
        forceFlushRecord();
      }
      FileChannel open = channels.remove(segment);
      if (open != null) {
        open.close();
      }
      if (Files.deleteIfExists(walDir.resolve(segment.fileName(segmentSize)))) {
        // A segment back after a crash would be harmless (complete and offloaded); the fsync makes the
        // removal, and the disk space it freed, survive one.
        DurableFiles.fsyncDirectory(walDir);
      }
    } finally {
      writeLock.unlock();
    }
  }

  /** The newest timeline's flush position, or empty when the store holds no durable WAL. */
  public Optional<WalPosition> flushPosition() {
    return durable.newest();
  }

  /** The flush LSN of {@code timeline}, or empty when the store holds no durable WAL of it. */
  public Optional<Lsn> flushLsn(int timeline) {
    return Optional.ofNullable(durable.flushLsns().get(timeline));
  }

  /** The timelines the store holds durable WAL of, oldest first. */
  public List<Integer> timelines() {
    return List.copyOf(durable.flushLsns().keySet());
  }

  /** The segments of {@code timeline} that hold durable WAL (including the one the flush LSN is in), in order. */
  public List<WalSegmentId> segments(int timeline) throws IOException {
    Lsn flush = durable.flushLsns().get(timeline);
    if (flush == null) {
      return List.of();
    }
    return storedSegments().stream()
        .filter(s -> s.timeline() == timeline && s.start(segmentSize).isBefore(flush))
        .toList();
  }

  /**
   * Segments whose every byte is below their timeline's flush LSN, of every timeline, in order. They
   * never change again: an offloader can upload {@link #segmentFile} as it is.
   */
  public List<WalSegmentId> completedSegments() throws IOException {
    Map<Integer, Lsn> flush = durable.flushLsns();
    return storedSegments().stream()
        .filter(s -> flush.containsKey(s.timeline()) && s.end(segmentSize).compareTo(flush.get(s.timeline())) <= 0)
        .toList();
  }

  private List<WalSegmentId> storedSegments() throws IOException {
    var found = new TreeSet<WalSegmentId>();
    try (Stream<Path> files = Files.list(walDir)) {
      files.map(p -> p.getFileName().toString())
          .filter(WalFileName::isSegment)
          .forEach(name -> found.add(new WalSegmentId(WalFileName.timelineOf(name),
              WalFileName.segmentNumberOf(name, segmentSize))));
    }
    return new ArrayList<>(found);
  }

  /**
   * The segment's file, when it holds durable WAL. Its bytes at and beyond the timeline's flush LSN may
   * be written but not yet durable: serve the file as it is only for {@link #completedSegments()}, and
   * read others through {@link #openSegment}.
   */
  public Optional<Path> segmentFile(int timeline, long segmentNumber) {
    var segment = new WalSegmentId(timeline, segmentNumber);
    Lsn flush = durable.flushLsns().get(timeline);
    Path file = walDir.resolve(segment.fileName(segmentSize));
    if (flush == null || !segment.start(segmentSize).isBefore(flush) || !Files.isRegularFile(file)) {
      return Optional.empty();
    }
    return Optional.of(file);
  }

  /**
   * Reads a segment as a reader may see it: always {@link #segmentSize()} bytes, with the durable WAL
   * as stored and <b>zeros</b> from the timeline's flush LSN on (what was written but not flushed is
   * never served). Zeros rather than a shorter stream keep the result a valid pg_wal segment: PostgreSQL
   * and {@code pg_waldump} read the zeros as the end of WAL, as in a {@code .partial} segment.
   * Empty when the segment holds no durable WAL.
   */
  public Optional<InputStream> openSegment(int timeline, long segmentNumber) throws IOException {
    Lsn flush = durable.flushLsns().get(timeline);
    Optional<Path> file = segmentFile(timeline, segmentNumber);
    if (file.isEmpty()) {
      return Optional.empty();
    }
    long durableBytes = Math.min(segmentSize, flush.value() - segmentNumber * segmentSize);
    return Optional.of(new PrefixThenZeros(java.nio.channels.Channels.newInputStream(
        FileChannel.open(file.get(), StandardOpenOption.READ)), durableBytes, segmentSize));
  }

  /**
   * Stores PostgreSQL's history file of {@code timeline} (from {@code TIMELINE_HISTORY}) durably.
   * Storing the same content again does nothing.
   *
   * @throws IllegalStateException when a different history of that timeline is stored: the compute
   *     is not of this store's lineage
   */
  public void putHistoryFile(int timeline, byte[] content) throws IOException {
    if (timeline < 2) {
      throw new IllegalArgumentException("timeline 1 has no history file; got a history file for timeline " + timeline);
    }
    writeLock.lock();
    try {
      checkWritable();
      Optional<byte[]> existing = historyFile(timeline);
      if (existing.isPresent()) {
        if (!Arrays.equals(existing.get(), content)) {
          throw new IllegalStateException("the WAL store " + directory + " already holds a different history of "
              + "timeline " + timeline + "; a compute with this history is not of this timeline's lineage");
        }
        return;
      }
      DurableFiles.write(walDir.resolve(WalFileName.history(timeline)), content);
    } finally {
      writeLock.unlock();
    }
  }

  public Optional<byte[]> historyFile(int timeline) throws IOException {
    try {
      return Optional.of(Files.readAllBytes(walDir.resolve(WalFileName.history(timeline))));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  /** Closes open segments and releases the directory; WAL written but not flushed is not durable. */
  @Override
  public void close() throws IOException {
    writeLock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      IOException failure = null;
      for (FileChannel channel : channels.values()) {
        failure = closeCollecting(channel::close, failure);
      }
      channels.clear();
      // Each is released whatever failed before it: a lock left held would keep this directory from
      // ever being opened again in this process.
      failure = closeCollecting(flushRecord::close, failure);
      failure = closeCollecting(lock::release, failure);
      failure = closeCollecting(lockChannel::close, failure);
      if (failure != null) {
        throw failure;
      }
    } finally {
      writeLock.unlock();
    }
  }

  @FunctionalInterface
  private interface Closer {
    void close() throws IOException;
  }

  /** Runs {@code closer}; returns {@code failure}, or its failure when there was none before (else suppressed in it). */
  private static IOException closeCollecting(Closer closer, IOException failure) {
    try {
      closer.close();
    } catch (IOException e) {
      if (failure == null) {
        return e;
      }
      failure.addSuppressed(e);
    }
    return failure;
  }

  private static void removeTemporaryFiles(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      for (Path p : (Iterable<Path>) files::iterator) {
        if (p.getFileName().toString().endsWith(DurableFiles.TEMP_SUFFIX)) {
          Files.delete(p);
        }
      }
    }
  }
}
