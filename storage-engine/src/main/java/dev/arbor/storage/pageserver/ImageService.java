package dev.arbor.storage.pageserver;

import dev.arbor.api.pageserver.Basebackup;
import dev.arbor.client.auth.AuthHeaderFile;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.postgres.ControlData;
import dev.arbor.api.pageserver.ImageMade;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.postgres.PostgresServer;
import dev.arbor.postgres.ServerUser;
import dev.arbor.postgres.WalRecordScanner;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.storage.image.ImageManifest;
import dev.arbor.storage.image.ImageMaterializer;
import dev.arbor.storage.image.ImageWriter;
import dev.arbor.client.Json;
import dev.arbor.storage.timeline.Catalog;
import dev.arbor.storage.timeline.TenantMeta;
import dev.arbor.storage.timeline.TimelineMeta;
import dev.arbor.api.pageserver.TimelineState;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Images made from WAL (ARCHITECTURE.md, "Images"), so that a compute start replays the WAL since the newest
 * image, not all WAL since initdb. PostgreSQL is the redo engine: a working copy of the timeline's newest image
 * (kept in the work directory, a cache) recovers from the timeline's own WAL service up to a point {@code L}
 * with {@code recovery_target_lsn = L}, {@code recovery_target_inclusive = off} and
 * {@code recovery_target_action = shutdown}; the stopped copy is then chunked into a new image at {@code L}.
 *
 * <p>{@code L} is the end of the last whole record {@code R} below the end of durable WAL. The working copy
 * reads WAL cut at that end, and recovery stops right after {@code R} ({@code recovery_target_lsn} = the
 * start of {@code R}, inclusive): the copy holds exactly the records that end at or below {@code L} — the
 * state a basebackup at {@code L} replays to. Durable WAL is never superseded by a later generation (an
 * election takes the highest position of a majority), so the image lies on the timeline's permanent
 * history. On a timeline whose compute stopped, {@code R} is its shutdown checkpoint and the image's replay
 * point is the end of its WAL.
 *
 * <p>A start from the image replays from its checkpoint's REDO point ({@link ImageManifest#replayFrom()}):
 * a recovery can only stop at a restartpoint, which PostgreSQL makes at the last checkpoint record it
 * replayed. Computes checkpoint at least every {@code checkpoint_timeout} and {@code max_wal_size}.
 */
public final class ImageService implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ImageService.class);
  private static final Pattern STOPPED_AFTER = Pattern.compile("recovery stopping after WAL location \\(LSN\\) \"([0-9A-F]+/[0-9A-F]+)\"");
  /** How many segments below the durable end a scan for the last whole record looks (PostgreSQL's records are up to 1 GiB). */
  private static final int SCAN_SEGMENTS_BACK = 4;
  private static final Duration RECOVERY_TIMEOUT = Duration.ofMinutes(30);
  private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

  /**
   * When to make an image.
   *
   * @param thresholdBytes make one when the WAL after a timeline's newest image (or its ancestor's) reaches
   *     this many bytes; 0 turns automatic images off (the API still makes them on request)
   * @param checkInterval how often the timelines are looked at
   */
  public record Policy(long thresholdBytes, Duration checkInterval) {
    /** See docs/storage-engine.md, "Images from WAL", for how the threshold was chosen. */
    public static final Policy DEFAULT = new Policy(256L * 1024 * 1024, Duration.ofSeconds(10));

    public Policy {
      if (thresholdBytes < 0) {
        throw new IllegalArgumentException("image threshold must be 0 (off) or a positive number of bytes, not " + thresholdBytes);
      }
      if (thresholdBytes > 0 && thresholdBytes < Lsn.DEFAULT_SEGMENT_SIZE) {
        throw new IllegalArgumentException("image threshold must be at least one WAL segment (16 MiB), not " + thresholdBytes
            + " bytes: an image costs a replay and a pass over the whole database");
      }
    }
  }

  /** Which image a working copy holds, written beside it once it holds it. */
  record WorkingCopy(String timelineId, Lsn lsn) {}

  private final Catalog catalog;
  private final TimelineService timelines;
  private final WalService wal;
  private final BasebackupService basebackups;
  private final IntFunction<PostgresInstallation> postgres;
  private final Path workDir;
  private final String walBaseUrl;
  /** The token the working copies' restore_command sends to this pageserver: its own ({@code --token-file}). */
  private final TokenSource tokens;
  /** The CA bundle the working copies' restore_command trusts ({@code --tls-ca}); null: curl's own trust store. */
  private final Path caBundle;
  private final Policy policy;
  private final ReentrantLock oneAtATime = new ReentrantLock();
  private volatile boolean closed;
  private Thread scheduler;

  /**
   * @param walBaseUrl this pageserver's URL as its own working copies reach it (for restore_command)
   * @param caBundle the CA bundle their restore_command trusts on an https:// walBaseUrl; null: none of its own
   */
  ImageService(Catalog catalog, TimelineService timelines, WalService wal, BasebackupService basebackups,
      IntFunction<PostgresInstallation> postgres, Path workDir, String walBaseUrl, TokenSource tokens, Path caBundle, Policy policy) {
    this.tokens = tokens;
    this.caBundle = caBundle;
    this.catalog = catalog;
    this.timelines = timelines;
    this.wal = wal;
    this.basebackups = basebackups;
    this.postgres = postgres;
    this.workDir = workDir.resolve("images");
    this.walBaseUrl = walBaseUrl;
    this.policy = policy;
  }

  /** Starts looking at the timelines every {@code checkInterval}, unless the threshold is 0. */
  ImageService startScheduler() {
    if (policy.thresholdBytes() > 0) {
      scheduler = Thread.ofVirtual().name("image-scheduler").start(this::scheduleLoop);
    }
    return this;
  }

  @Override
  public void close() {
    closed = true;
    if (scheduler != null) {
      scheduler.interrupt();
    }
  }

  /**
   * Makes an image of the timeline as near the end of its durable WAL as it can, whatever the threshold.
   *
   * @throws ApiProblem 409 {@code no-new-wal} when there is not enough WAL after the newest image
   */
  public ImageMade make(String tenantId, String timelineId) throws IOException {
    TenantMeta tenant = timelines.requireTenant(tenantId);
    TimelineMeta meta = timelines.requireTimeline(tenant, timelineId, "timeline_id");
    oneAtATime.lock();
    try {
      return make(meta);
    } finally {
      oneAtATime.unlock();
    }
  }

  private ImageMade make(TimelineMeta meta) throws IOException {
    long started = System.nanoTime();
    Lsn durable = timelines.lastDurableLsn(meta);
    ImageManifest base = basebackups.newestImage(meta, durable).orElseThrow(() -> new IllegalStateException("timeline "
        + meta.timelineId() + " and its ancestors have no image at all"));
    WalRecordScanner.Result point = imagePoint(meta, durable, base);
    Lsn target = point.end();
    Path copy = workDir.resolve(meta.tenantId() + "-" + meta.timelineId());
    Path pgdata = copy.resolve("pgdata");
    try {
      prepareWorkingCopy(copy, pgdata, base);
      Lsn redo = recoverTo(meta, pgdata, copy, point.lastStart(), durable);
      Set<String> stored = base.files().stream().flatMap(f -> f.chunks().stream()).collect(Collectors.toSet());
      ImageWriter.Result written = new ImageWriter(catalog.store()).write(meta.tenantId(), meta.timelineId(), target, redo,
          meta.pgVersion(), pgdata, stored);
      Files.write(copy.resolve("image.json"), Json.write(new WorkingCopy(meta.timelineId().toString(), target)));
      var made = new ImageMade(meta.tenantId().toString(), meta.timelineId().toString(), target, redo,
          target.value() - base.replayFrom().value(), written.totalBytes(), written.chunks(), written.newChunks(),
          written.newBytes(), (System.nanoTime() - started) / 1_000_000);
      log.info("event=image_made tenant={} timeline={} lsn={} redo_lsn={} base_lsn={} wal_replayed_bytes={} bytes={} chunks={} "
              + "new_chunks={} new_bytes={} duration_ms={}", made.tenantId(), made.timelineId(), target, redo, base.lsn(),
          made.walBytes(), made.bytes(), made.chunks(), made.newChunks(), made.newBytes(), made.durationMs());
      return made;
    } catch (IOException | RuntimeException e) {
      deleteRecursively(copy); // the next image starts again from a stored image
      throw e;
    }
  }

  /**
   * The last whole record below the end of durable WAL, read from the timeline's WAL service cut there;
   * its end is {@code L}.
   */
  private WalRecordScanner.Result imagePoint(TimelineMeta meta, Lsn durable, ImageManifest base) throws IOException {
    long segmentSize = Lsn.DEFAULT_SEGMENT_SIZE;
    Lsn floor = Lsn.max(base.lsn(), meta.createdLsn());
    if (!durable.isAfter(floor)) {
      throw noNewWal(meta, durable, base);
    }
    long last = durable.plus(-1).segmentNumber(segmentSize);
    int tli = meta.tliAt(durable);
    List<String> names = wal.recoveryFiles(meta, tli, new Lsn(Math.max(0, last - SCAN_SEGMENTS_BACK) * segmentSize), durable);
    long firstListed = last - names.size() + 1;
    java.util.Map<Long, ByteBuffer> read = new java.util.HashMap<>();
    WalRecordScanner.SegmentSource source = n -> {
      if (n < firstListed || n > last) {
        return Optional.empty();
      }
      ByteBuffer cached = read.get(n);
      if (cached == null) {
        cached = readSegment(meta, names.get((int) (n - firstListed)), durable);
        read.put(n, cached);
      }
      return Optional.of(cached.duplicate());
    };
    // Start as near the end as a record begins: a record may span segments.
    for (long first = last; first >= firstListed; first--) {
      Optional<WalRecordScanner.Result> scanned = WalRecordScanner.scan(segmentSize, first, source);
      if (scanned.isPresent()) {
        if (!scanned.get().end().isAfter(floor)) {
          throw noNewWal(meta, durable, base);
        }
        return scanned.get();
      }
    }
    throw noNewWal(meta, durable, base);
  }

  private ByteBuffer readSegment(TimelineMeta meta, String name, Lsn durable) throws IOException {
    Optional<WalService.WalFile> file = wal.open(meta.tenantId().toString(), meta.timelineId().toString(), name, Optional.of(durable));
    if (file.isEmpty()) {
      throw new IOException("WAL segment " + name + " of timeline " + meta.timelineId() + " is below the end of durable WAL ("
          + durable + ") but neither object storage nor the safekeepers serve it");
    }
    try (InputStream in = file.get().content()) {
      return ByteBuffer.wrap(in.readAllBytes());
    }
  }

  private static ApiProblem noNewWal(TimelineMeta meta, Lsn durable, ImageManifest base) {
    return ApiProblem.conflict(ProblemTypes.NO_NEW_WAL, "timeline_id", "timeline " + meta.timelineId() + " has too little WAL after its "
        + "newest image (at " + base.lsn() + ") for another: its durable WAL ends at " + durable + ", and no whole record ends "
        + "after that image and the timeline's start (" + meta.createdLsn() + ") below it");
  }

  /** Reuses the working copy when it holds {@code base}; otherwise materializes {@code base} afresh. */
  private void prepareWorkingCopy(Path copy, Path pgdata, ImageManifest base) throws IOException {
    Optional<WorkingCopy> held = readWorkingCopy(copy);
    if (held.isPresent() && held.get().timelineId().equals(base.timeline().toString()) && held.get().lsn().equals(base.lsn())
        && Files.isDirectory(pgdata)) {
      return;
    }
    deleteRecursively(copy);
    Files.createDirectories(copy);
    new ImageMaterializer(catalog.store()).materialize(base, pgdata);
    ServerUser.current().handOver(copy);
  }

  private static Optional<WorkingCopy> readWorkingCopy(Path copy) {
    try {
      return Optional.of(Json.read(Files.readAllBytes(copy.resolve("image.json")), WorkingCopy.class));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException | RuntimeException e) {
      log.info("event=image_working_copy_unreadable dir={} reason=\"{}\"", copy, e.getMessage());
      return Optional.empty();
    }
  }

  /**
   * Replays the working copy from WAL cut at {@code durable} up to and including the record that starts at
   * {@code lastRecord}; returns its REDO point.
   */
  private Lsn recoverTo(TimelineMeta meta, Path pgdata, Path copy, Lsn lastRecord, Lsn durable) throws IOException {
    PostgresInstallation installation = postgres.apply(meta.pgVersion());
    Files.deleteIfExists(copy.resolve("image.json")); // from here until the image is written it holds neither
    Path signal = pgdata.resolve("recovery.signal");
    if (!Files.exists(signal)) {
      Files.createFile(signal);
      ServerUser.current().handOver(signal);
    }
    Path log = copy.resolve("postgres.log");
    Files.deleteIfExists(log);
    // Short (a socket path is limited to 107 bytes) and new: the server start makes it reachable for its user.
    Path socketDir = Path.of(System.getProperty("java.io.tmpdir"), "arbor-image-" + Long.toUnsignedString(RANDOM.nextLong(), 36));
    Path authFile = pgdata.resolve(Basebackup.STORAGE_AUTH_FILE);
    Path caFile = pgdata.resolve(Basebackup.STORAGE_CA_FILE);
    try {
      if (caBundle != null) {
        Files.copy(caBundle, caFile, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        ServerUser.current().handOver(caFile);
      }
      if (AuthHeaderFile.write(authFile, tokens)) {
        ServerUser.current().handOver(authFile);
      }
      String walUrl = walBaseUrl + "/v1/tenant/" + meta.tenantId() + "/timeline/" + meta.timelineId() + "/wal/%f?until_lsn="
          + durable;
      PostgresServer.builder(installation, pgdata)
          .port(5432) // no TCP (listen_addresses is empty); the socket lives in a directory of its own
          .socketDir(socketDir)
          .logFile(log)
          .setting("listen_addresses", "")
          .setting("restore_command", BasebackupService.restoreCommand(walUrl))
          .setting("recovery_target_lsn", lastRecord.toString())
          .setting("recovery_target_inclusive", "on")
          .setting("recovery_target_action", "shutdown")
          .setting("recovery_target_timeline", Integer.toString(meta.tliAt(lastRecord)))
          .setting("hot_standby", "off")
          .setting("archive_mode", "off")
          .setting("fsync", "off") // the copy is a cache: the image is made from the files, not from the disk
          .build()
          .runUntilExit(RECOVERY_TIMEOUT);
    } finally {
      Files.deleteIfExists(authFile);
      Files.deleteIfExists(caFile);
      deleteRecursively(socketDir);
    }
    Lsn stoppedAfter = stoppedAfter(log).orElseThrow(() -> new IOException("the recovery of the working copy of timeline "
        + meta.timelineId() + " ended without stopping after the record at " + lastRecord + " (no 'recovery stopping after' in "
        + log + ")"));
    if (!stoppedAfter.equals(lastRecord)) {
      throw new IOException("the recovery of the working copy of timeline " + meta.timelineId() + " stopped after the record at "
          + stoppedAfter + ", not after the one at " + lastRecord + ": the image would not hold exactly the WAL up to its LSN");
    }
    ControlData control = ControlData.read(installation, pgdata);
    if (!control.clusterState().equals("shut down in recovery")) {
      throw new IOException("the working copy of timeline " + meta.timelineId() + " is '" + control.clusterState()
          + "' after its recovery to " + lastRecord + ", not 'shut down in recovery'");
    }
    return control.latestCheckpointRedo();
  }

  private static Optional<Lsn> stoppedAfter(Path log) throws IOException {
    Lsn last = null;
    for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
      Matcher m = STOPPED_AFTER.matcher(line);
      if (m.find()) {
        last = Lsn.parse(m.group(1));
      }
    }
    return Optional.ofNullable(last);
  }

  private void scheduleLoop() {
    while (!closed) {
      try {
        Thread.sleep(policy.checkInterval());
        for (TenantMeta tenant : catalog.tenants()) {
          for (TimelineMeta meta : catalog.timelines(tenant.tenantId())) {
            if (closed) {
              return;
            }
            makeIfDue(meta);
          }
        }
      } catch (InterruptedException e) {
        return;
      } catch (IOException | RuntimeException e) {
        log.warn("event=image_schedule_failed error=\"{}\"", describe(e));
      }
    }
  }

  private void makeIfDue(TimelineMeta meta) {
    if (meta.state() != TimelineState.ACTIVE || meta.latestStarted().isEmpty()) {
      return; // no compute ever wrote to it: it has no WAL after its creation
    }
    try {
      Lsn durable = timelines.lastDurableLsn(meta);
      Optional<ImageManifest> base = basebackups.newestImage(meta, durable);
      if (base.isEmpty() || durable.value() - base.get().lsn().value() < policy.thresholdBytes()) {
        return;
      }
      oneAtATime.lock();
      try {
        make(meta);
      } finally {
        oneAtATime.unlock();
      }
    } catch (ApiProblem p) {
      log.info("event=image_skipped tenant={} timeline={} reason=\"{}\"", meta.tenantId(), meta.timelineId(), p.getMessage());
    } catch (IOException | RuntimeException e) {
      log.warn("event=image_failed tenant={} timeline={} error=\"{}\"", meta.tenantId(), meta.timelineId(), describe(e));
    }
  }

  private static String describe(Exception e) {
    String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    return message.replace('"', '\'').replace('\n', ' ');
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
