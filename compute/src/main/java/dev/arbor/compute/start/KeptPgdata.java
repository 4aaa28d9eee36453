package dev.arbor.compute.start;

import dev.arbor.api.Lsn;
import dev.arbor.api.pageserver.Basebackup;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import dev.arbor.postgres.ControlData;
import dev.arbor.postgres.DurableFiles;
import dev.arbor.postgres.ServerUser;
import dev.arbor.postgres.WalFileName;
import dev.arbor.postgres.WalRecordScanner;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PGDATA a read-write compute left in its work_dir at a clean stop, which the next start of the same timeline
 * uses instead of a basebackup when nothing happened on the timeline since (docs/compute-agent.md, "PGDATA across
 * stops"). It saves the basebackup's download and the replay of every WAL record since the timeline's last image.
 *
 * <p>What makes reuse safe: the PGDATA is exactly the state at the end of its own WAL (a clean stop ends with a
 * shutdown checkpoint, the last record), and the start uses it only if the end of WAL its election chose is that
 * same position on that same TLI. A TLI is written by one generation only, so equal positions mean equal WAL. The
 * files are synced to disk before the marker that vouches for them is written ({@code fsync = off} while running),
 * and the marker is removed before PostgreSQL runs again: a crash, or a stop that was not clean, leaves none.
 *
 * @param checkpoint the shutdown checkpoint, the last record of the local WAL
 * @param redo where recovery from it begins
 * @param walEnd where the local WAL ends (8-byte aligned, as the safekeepers' flush positions are)
 */
record KeptPgdata(int tli, Lsn checkpoint, Lsn redo, Lsn walEnd) {
  private static final Logger log = LoggerFactory.getLogger(KeptPgdata.class);
  /** Written after a clean stop, once the PGDATA's files are on disk; names the timeline they belong to. */
  static final String CLEAN_STOP = "ARBOR_CLEAN_STOP";

  /**
   * After PostgreSQL's clean stop: syncs the PGDATA's file system, then writes the marker durably. Does nothing (and
   * says why) when PostgreSQL did not stop cleanly: the next start then takes a basebackup.
   */
  static void markCleanStop(ComputeSpec spec) {
    Path dir = spec.dataDir();
    try {
      String state = ControlData.read(spec.postgres(), dir).clusterState();
      if (!state.equals("shut down")) {
        log.info("event=pgdata_not_kept timeline={} reason=\"PostgreSQL's state is '{}', not 'shut down'\"", spec.timeline(), state);
        return;
      }
      // fsync = off while running: the shutdown checkpoint's writes may still be in the page cache.
      ServerUser.Output synced = ServerUser.current().run(List.of("sync", "--file-system", dir.toString()), Duration.ofMinutes(2));
      if (synced.exitCode() != 0) {
        log.info("event=pgdata_not_kept timeline={} reason=\"sync failed: {}\"", spec.timeline(), synced.stderrLine());
        return;
      }
      Properties marker = new Properties();
      marker.setProperty("tenant", spec.tenant().toString());
      marker.setProperty("timeline", spec.timeline().toString());
      var text = new StringWriter();
      marker.store(text, "PGDATA of a clean stop: the next start of this timeline may use it (KeptPgdata)");
      DurableFiles.write(dir.resolve(CLEAN_STOP), text.toString().getBytes(StandardCharsets.UTF_8));
      log.info("event=pgdata_kept timeline={} data_dir={}", spec.timeline(), dir);
    } catch (IOException | RuntimeException e) {
      log.info("event=pgdata_not_kept timeline={} reason=\"{}\"", spec.timeline(), ComputeStartException.describe(e).replace('"', '\''));
    }
  }

  /**
   * The PGDATA in the spec's work_dir, when a clean stop of a compute of the same timeline left it and its WAL ends
   * with that stop's checkpoint. Empty (with the reason logged) otherwise; nothing is changed either way.
   */
  static Optional<KeptPgdata> find(ComputeSpec spec) {
    Path dir = spec.dataDir();
    Path markerFile = dir.resolve(CLEAN_STOP);
    if (!Files.exists(markerFile)) {
      return Optional.empty();
    }
    try {
      Properties marker = new Properties();
      marker.load(new StringReader(Files.readString(markerFile)));
      if (!spec.tenant().toString().equals(marker.getProperty("tenant"))
          || !spec.timeline().toString().equals(marker.getProperty("timeline"))) {
        return notUsed(spec, "it belongs to timeline " + marker.getProperty("timeline"));
      }
      String version = Files.readString(dir.resolve("PG_VERSION")).strip();
      if (!version.equals(Integer.toString(spec.postgres().majorVersion()))) {
        return notUsed(spec, "it is of PostgreSQL " + version + ", the compute runs " + spec.postgres().majorVersion());
      }
      ControlData control = ControlData.read(spec.postgres(), dir);
      if (!control.clusterState().equals("shut down")) {
        return notUsed(spec, "PostgreSQL's state is '" + control.clusterState() + "'");
      }
      int tli = control.latestCheckpointTli();
      long segmentSize = control.walSegmentSize();
      Lsn checkpoint = control.latestCheckpoint();
      Path walDir = dir.resolve("pg_wal");
      Optional<WalRecordScanner.Result> scan = WalRecordScanner.scanFrom(segmentSize, checkpoint,
          segno -> segment(walDir.resolve(WalFileName.segment(tli, segno, segmentSize)), segmentSize));
      if (scan.isEmpty() || !scan.get().lastStart().equals(checkpoint)) {
        return notUsed(spec, "its WAL does not end with the shutdown checkpoint at " + checkpoint
            + scan.map(r -> " (last record at " + r.lastStart() + ")").orElse(""));
      }
      return Optional.of(new KeptPgdata(tli, checkpoint, control.latestCheckpointRedo(), scan.get().end()));
    } catch (IOException | RuntimeException e) {
      return notUsed(spec, ComputeStartException.describe(e));
    }
  }

  private static Optional<KeptPgdata> notUsed(ComputeSpec spec, String reason) {
    log.info("event=pgdata_not_reused timeline={} reason=\"{}\"", spec.timeline(), reason.replace('"', '\''));
    return Optional.empty();
  }

  private static Optional<ByteBuffer> segment(Path file, long segmentSize) throws IOException {
    if (!Files.isRegularFile(file) || Files.size(file) != segmentSize) {
      return Optional.empty();
    }
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
      return Optional.of(channel.map(FileChannel.MapMode.READ_ONLY, 0, segmentSize));
    }
  }

  /** Why the elected end of WAL rules this PGDATA out, or empty when it is exactly where this PGDATA stands. */
  Optional<String> unusableFor(TimelineWalStatus end) {
    if (end.tli() == tli && end.flushLsn().equals(walEnd)) {
      return Optional.empty();
    }
    return Optional.of("the timeline's WAL ends at " + end.flushLsn() + " on TLI " + end.tli() + ", the kept PGDATA at " + walEnd
        + " on TLI " + tli);
  }

  /**
   * Readies the PGDATA for its start: the marker goes first (durably: if this start dies, nothing vouches for the
   * directory any more), then what belonged to the last run only: its replication slots (the start makes new ones)
   * and a prefetch directory a crash left.
   */
  void prepare(ComputeSpec spec) throws IOException {
    Path dir = spec.dataDir();
    Files.deleteIfExists(dir.resolve(CLEAN_STOP));
    DurableFiles.fsyncDirectory(dir);
    Path slots = dir.resolve("pg_replslot");
    if (Files.isDirectory(slots)) {
      ComputePgdata.deleteTree(slots, true);
    }
    Path prefetched = dir.resolve(Basebackup.PREFETCHED_WAL_DIR);
    if (Files.isDirectory(prefetched)) {
      ComputePgdata.deleteTree(prefetched, false);
    }
  }
}
