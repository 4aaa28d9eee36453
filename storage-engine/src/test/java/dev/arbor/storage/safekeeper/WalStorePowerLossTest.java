package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.testing.CrashableDirectory;
import dev.arbor.testing.PostgresFixture;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A safekeeper's WAL store on a disk that loses its page cache at a power cut (crashfs): real PostgreSQL
 * WAL is written in random pieces, flushed at random record boundaries, and the power is cut at random
 * points, with the store closed or simply abandoned (the process died). After each cut the reopened
 * store must report a flush LSN at or above every LSN {@code flush()} ever returned, and serve exactly
 * PostgreSQL's bytes below it. Then it resumes writing from there, as a safekeeper does after a restart.
 *
 * <p>The retention variant also removes old complete segments between flushes, as
 * {@code SafekeeperTimeline.removeOffloadedSegments} does once they are offloaded.
 *
 * <p>Each run prints its seed; a failure message names it, and {@code -Darbor.powerloss.seed=N} replays it.
 */
class WalStorePowerLossTest {

  private static final long SEGMENT = Lsn.DEFAULT_SEGMENT_SIZE;
  private static final int TLI = 1;
  private static final int SEGMENTS_OF_WAL = 6;
  private static final int CUTS = 4;
  private static final int MAX_PIECE = 256 << 10;
  /** Retention keeps this many newest segments, removing complete ones before them. */
  private static final int KEEP_SEGMENTS = 2;
  private static final Pattern RECORD_LSN = Pattern.compile("\\blsn: ([0-9A-F]+/[0-9A-F]+),");

  @RegisterExtension
  static final PostgresFixture pg = new PostgresFixture()
      .withSetting("wal_level", "replica")
      .withSetting("wal_keep_size", "512MB")
      .withSetting("autovacuum", "off");

  private static long firstSegment;
  /** The end of the last record of the load: the WAL the tests write is [start, end). */
  private static Lsn end;
  /** PostgreSQL's segment files from firstSegment on, as they are in pg_wal. */
  private static final List<byte[]> segments = new ArrayList<>();
  /** LSNs at which a record ends (PostgreSQL's flush and insert positions), ascending. */
  private static final List<Lsn> recordEnds = new ArrayList<>();

  @BeforeAll
  static void writeWal() throws Exception {
    try (Connection c = pg.connect()) {
      firstSegment = insertLsn(c).segmentNumber(SEGMENT);
      ComputeWal.execute(c, "CREATE TABLE t (id int, pad text)");
      for (int batch = 0; insertLsn(c).value() < (firstSegment + SEGMENTS_OF_WAL) * SEGMENT + SEGMENT / 4; batch++) {
        ComputeWal.execute(c, "INSERT INTO t SELECT g, repeat(md5(g::text), 28) FROM generate_series("
            + (batch * 25000 + 1) + ", " + (batch + 1) * 25000 + ") g");
      }
      end = insertLsn(c);
      ComputeWal.execute(c, "SELECT pg_switch_wal()"); // every byte below end is in pg_wal's files
    }
    for (long n = firstSegment; n <= end.segmentNumber(SEGMENT); n++) {
      segments.add(Files.readAllBytes(pgWal().resolve(WalFileName.segment(TLI, n, SEGMENT))));
    }
    readRecordEnds();
    assertThat(recordEnds).as("record boundaries from pg_waldump").hasSizeGreaterThan(10_000);
  }

  @Test
  void everyFlushedLsnSurvivesPowerLoss() throws Exception {
    run(false);
  }

  @Test
  void everyFlushedLsnSurvivesPowerLossWhileRetentionRemovesOldSegments() throws Exception {
    run(true);
  }

  private static void run(boolean retention) throws Exception {
    long seed = Long.getLong("arbor.powerloss.seed", System.nanoTime());
    System.out.printf("WalStorePowerLossTest retention=%s seed=%d (WAL %s..%s)%n", retention, seed, start(), end);
    var random = new Random(seed);
    try (var disk = CrashableDirectory.start()) {
      // The caller creates the store's directory durably (the store does not fsync its parent).
      Path dir = disk.path().resolve("timeline");
      Files.createDirectory(dir);
      fsyncDirectory(disk.path());

      Lsn maxFlushed = Lsn.ZERO;
      Lsn resumeAt = start();
      var removed = new TreeSet<Long>();
      var log = new StringBuilder();
      WalSegmentStore store = WalSegmentStore.open(dir);
      for (int cut = 1; cut <= CUTS; cut++) {
        // Where this round's writer stops: spread over the WAL, the last round reaches its end.
        long span = end.value() - resumeAt.value();
        Lsn stopAt = cut == CUTS ? end : resumeAt.plus(span / (CUTS - cut + 1) / 2 + random.nextLong(span / (CUTS - cut + 1)));
        Lsn written = resumeAt;
        int flushes = 0;
        while (written.isBefore(stopAt)) {
          Lsn to = Lsn.min(stopAt, written.plus(1 + random.nextInt(MAX_PIECE)));
          boolean flush = random.nextInt(3) == 0;
          if (flush) {
            Lsn boundary = recordEndAtOrAfter(to);
            if (boundary.isAfter(stopAt)) {
              flush = false;
            } else {
              to = boundary;
            }
          }
          copy(store, written, to);
          written = to;
          if (flush) {
            Lsn flushed = store.flush();
            assertThat(flushed).as("flush() after writing up to a record end (seed %d)", seed).isEqualTo(written);
            maxFlushed = Lsn.max(maxFlushed, flushed);
            flushes++;
            if (retention && random.nextBoolean()) {
              removeOldSegments(store, flushed, removed);
            }
          }
        }
        boolean closed = random.nextBoolean();
        if (closed) {
          store.close();
        } // else: the process died; its store is never closed
        String report = disk.cut();
        log.append(String.format("cut %d: wrote to %s, %d flushes, highest flushed %s, %s, removed segments %s; crashfs: %s%n",
            cut, written, flushes, maxFlushed, closed ? "closed" : "abandoned", removed, report));

        store = WalSegmentStore.open(dir);
        Lsn recovered = store.flushLsn(TLI).orElse(Lsn.ZERO);
        log.append(String.format("  reopened: flush LSN %s%n", recovered));
        System.out.print(log);
        assertThat(recovered)
            .as("flush LSN after power cut %d, seed %d: never below what flush() returned%n%s", cut, seed, log)
            .isGreaterThanOrEqualTo(maxFlushed)
            .isLessThanOrEqualTo(written);
        assertDurableBytesArePostgres(store, recovered, removed, "cut " + cut + ", seed " + seed);
        log.setLength(0);
        resumeAt = recovered;
      }
      store.close();
    }
  }

  /** What the offloader's retention does: remove complete segments older than the newest few. */
  private static void removeOldSegments(WalSegmentStore store, Lsn flushed, TreeSet<Long> removed) throws IOException {
    long keepFrom = flushed.segmentNumber(SEGMENT) - KEEP_SEGMENTS + 1;
    for (WalSegmentId segment : store.completedSegments()) {
      if (segment.segmentNumber() < keepFrom) {
        store.removeSegment(segment);
        removed.add(segment.segmentNumber());
      }
    }
  }

  private static void assertDurableBytesArePostgres(WalSegmentStore store, Lsn flush, TreeSet<Long> removed, String what)
      throws IOException {
    for (long n = firstSegment; n * SEGMENT < flush.value(); n++) {
      if (removed.contains(n)) {
        continue; // offloaded: served from object storage
      }
      String name = WalFileName.segment(TLI, n, SEGMENT);
      int durable = (int) Math.min(SEGMENT, flush.value() - n * SEGMENT);
      byte[] served;
      try (InputStream in = store.openSegment(TLI, n).orElseThrow(
          () -> new AssertionError("segment " + name + " below the flush LSN " + flush + " is missing (" + what + ")"))) {
        served = in.readAllBytes();
      }
      byte[] postgres = segments.get((int) (n - firstSegment));
      ComputeWal.assertIdentical(name + " up to " + flush + " (" + what + ")",
          Arrays.copyOf(served, durable), Arrays.copyOf(postgres, durable));
    }
  }

  private static void copy(WalSegmentStore store, Lsn from, Lsn to) throws IOException {
    for (long pos = from.value(); pos < to.value(); ) {
      long n = pos / SEGMENT;
      int offset = (int) (pos % SEGMENT);
      int length = (int) (Math.min(to.value(), (n + 1) * SEGMENT) - pos);
      store.write(TLI, new Lsn(pos), ByteBuffer.wrap(segments.get((int) (n - firstSegment)), offset, length).slice());
      pos += length;
    }
  }

  private static Lsn recordEndAtOrAfter(Lsn lsn) {
    int i = Collections.binarySearch(recordEnds, lsn);
    int at = i >= 0 ? i : -i - 1;
    return at < recordEnds.size() ? recordEnds.get(at) : end.plus(1);
  }

  private static Lsn start() {
    return new Lsn(firstSegment * SEGMENT);
  }

  private static Path pgWal() {
    return pg.server().dataDir().resolve("pg_wal");
  }

  /** Every record start in [start, end) from pg_waldump, as the end of the record before it. */
  private static void readRecordEnds() throws IOException, InterruptedException {
    Process p = new ProcessBuilder(pg.server().installation().binary("pg_waldump").toString(),
        "-p", pgWal().toString(), "-t", Integer.toString(TLI), "-s", start().toString(), "-e", end.toString())
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    var ends = new TreeSet<Lsn>();
    try (var in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
      for (String line; (line = in.readLine()) != null; ) {
        Matcher m = RECORD_LSN.matcher(line);
        if (m.find()) {
          ends.add(recordEnd(Lsn.parse(m.group(1))));
        }
      }
    }
    assertThat(p.waitFor(2, TimeUnit.MINUTES)).as("pg_waldump finished").isTrue();
    ends.add(end);
    ends.removeIf(lsn -> !lsn.isAfter(start()) || lsn.isAfter(end));
    recordEnds.addAll(ends);
  }

  /**
   * A record start (or pg_current_wal_insert_lsn()) as the position PostgreSQL reports for the end of the
   * record before it: the same, except right after a page header, where the record before ended at the
   * page boundary.
   */
  private static Lsn recordEnd(Lsn recordStart) {
    long inPage = recordStart.value() % 8192;
    if (inPage == 24 || (inPage == 40 && recordStart.segmentOffset(SEGMENT) == 40)) {
      return new Lsn(recordStart.value() - inPage);
    }
    return recordStart;
  }

  private static Lsn insertLsn(Connection c) throws Exception {
    return recordEnd(ComputeWal.queryLsn(c, "SELECT pg_current_wal_insert_lsn()"));
  }

  private static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }
}
