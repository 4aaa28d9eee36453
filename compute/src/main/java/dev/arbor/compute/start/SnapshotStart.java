package dev.arbor.compute.start;

import dev.arbor.api.pageserver.BasebackupRequest;
import dev.arbor.postgres.ControlData;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresServer;
import dev.arbor.postgres.ServerUser;
import dev.arbor.client.HttpJson;
import dev.arbor.api.pageserver.Basebackup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The start of a read-only compute at a fixed LSN (a static snapshot, for time travel): the basebackup at
 * that LSN, whose restore_command serves the timeline's WAL cut exactly there, started as a hot standby. No
 * generation is elected, no TLI reserved, no safekeeper involved: the snapshot writes nothing, so it cannot
 * disturb the read-write compute of the same timeline, and any number of snapshots may run at once.
 */
public final class SnapshotStart {
  private static final Logger log = LoggerFactory.getLogger(SnapshotStart.class);

  /**
   * Parameters a hot standby must set at least as high as the primary that wrote the WAL (PostgreSQL pauses
   * recovery otherwise), with the pg_controldata field that records the primary's value.
   */
  private static final Map<String, String> HOT_STANDBY_MINIMUMS = Map.of(
      "max_connections", "max_connections setting",
      "max_worker_processes", "max_worker_processes setting",
      "max_wal_senders", "max_wal_senders setting",
      "max_prepared_transactions", "max_prepared_xacts setting",
      "max_locks_per_transaction", "max_locks_per_xact setting");

  /**
   * After each failed read at the end of its WAL a standby waits this long, then fetches the segment again.
   * While replaying, PostgreSQL's default: a failed fetch is retried soon. Once replay reached the LSN no
   * more WAL will ever come (the restore_command serves zeros from there), so the standby settles to a long
   * interval instead of fetching the last segment every few seconds forever.
   */
  private static final String STARTING_RETRY_INTERVAL = "5s";
  private static final String SETTLED_RETRY_INTERVAL = "1d";
  private static final Duration REPLAY_TIMEOUT = Duration.ofMinutes(30);

  private final ComputeSpec spec;
  private final Lsn lsn;

  public SnapshotStart(ComputeSpec spec, Lsn lsn) {
    this.spec = spec;
    this.lsn = lsn;
  }

  public RunningSnapshot start() throws IOException {
    var pgdata = new ComputePgdata(spec);
    pgdata.prepareEmpty();
    pgdata.extractBasebackup(BasebackupRequest.at(lsn));
    stayInRecovery(pgdata.dir());
    Map<String, String> settings = new LinkedHashMap<>(spec.settings());
    Map<String, String> managed = managedSettings(pgdata, settings);
    String purpose = "read-only snapshot at " + lsn;
    pgdata.configure(purpose, managed, settings, false);

    PostgresServer server = PostgresServer.builder(spec.postgres(), pgdata.dir()).port(spec.port())
        .socketDir(spec.socketDir()).logFile(spec.logFile())
        .setting("listen_addresses", spec.listenHost())
        .build();
    try {
      Lsn replayed;
      RecoveryEnd end = RecoveryEnd.overHttp(Lsn.DEFAULT_SEGMENT_SIZE,
          targetTli(pgdata.dir()), lsn, RecoveryEnd.WalFiles.NONE, ComputeStart.pageserver(spec), spec);
      try (var prefetch = WalPrefetch.start(pgdata.dir(), spec.storageTokens(), spec.storageTls())) {
        server.start(); // returns once PostgreSQL accepts read-only connections, which is before replay reached the LSN
        replayed = awaitEndOfWal(server, end.lastRecordEnd());
      }
      managed.put("wal_retrieve_retry_interval", SETTLED_RETRY_INTERVAL);
      pgdata.configure(purpose, managed, settings, false);
      server.psql(ComputeStart.SUPERUSER, "postgres", "SELECT pg_reload_conf()");
      log.info("event=snapshot_replayed lsn={} replayed_to={}", lsn, replayed);
    } catch (IOException | RuntimeException e) {
      server.stop();
      throw e;
    }
    log.info("event=snapshot_started tenant={} timeline={} lsn={} port={}", spec.tenant(), spec.timeline(), lsn, spec.port());
    return new RunningSnapshot(server, lsn, pgdata.watchTls(server));
  }

  /** The TLI the basebackup's recovery configuration follows: the one the snapshot's LSN is on. */
  private int targetTli(Path dataDir) throws IOException {
    for (String line : Files.readAllLines(dataDir.resolve(Basebackup.RECOVERY_CONF))) {
      String[] kv = line.split("=", 2);
      if (kv.length == 2 && kv[0].strip().equals("recovery_target_timeline")) {
        return Integer.parseInt(kv[1].strip().replace("'", ""));
      }
    }
    throw new ComputeStartException("the basebackup at " + lsn + " names no recovery_target_timeline in "
        + Basebackup.RECOVERY_CONF + "; this compute expects the pageserver's recovery configuration");
  }

  /**
   * The basebackup asks for recovery up to the cut and then promotion (recovery.signal), which is right for a
   * branch's first start but here would fork a writable TLI that no safekeeper fences. standby.signal keeps
   * PostgreSQL in recovery at the end of the WAL it is given, which is the snapshot's LSN, for good.
   */
  private void stayInRecovery(Path dataDir) throws IOException {
    try {
      Files.delete(dataDir.resolve("recovery.signal"));
    } catch (NoSuchFileException e) {
      throw new ComputeStartException("the basebackup at " + lsn + " has no recovery.signal; this compute expects the "
          + "pageserver's recovery configuration (is the pageserver a matching version?)");
    }
    ServerUser.current().handOver(Files.createFile(dataDir.resolve("standby.signal")));
  }

  /**
   * The parameters of a hot standby at the snapshot's LSN. Hot-standby minimums are raised to what the
   * primary had (read from the image's pg_control) and taken out of {@code settings}.
   */
  private Map<String, String> managedSettings(ComputePgdata pgdata, Map<String, String> settings) throws IOException {
    Map<String, String> managed = new LinkedHashMap<>();
    managed.put("hot_standby", "on");
    managed.put("password_encryption", "scram-sha-256");
    managed.put("wal_retrieve_retry_interval", STARTING_RETRY_INTERVAL);
    ControlData control = ControlData.read(spec.postgres(), pgdata.dir());
    HOT_STANDBY_MINIMUMS.forEach((parameter, field) -> {
      long primary = Long.parseLong(control.get(field));
      String wanted = settings.remove(parameter);
      long value = primary;
      if (wanted != null) {
        try {
          value = Math.max(primary, Long.parseLong(wanted.strip()));
        } catch (NumberFormatException e) {
          throw new ComputeStartException("setting " + parameter + " = '" + wanted + "' is not a whole number");
        }
      }
      managed.put(parameter, Long.toString(value));
    });
    return managed;
  }

  /**
   * Waits until replay has reached the snapshot's LSN: the end of the last whole record at or below it
   * ({@code mustReach}, read from the WAL the way recovery reads it, {@link RecoveryEnd}). PostgreSQL
   * accepts connections as soon as it is consistent, which may be long before.
   */
  private Lsn awaitEndOfWal(PostgresServer server, Lsn mustReach) throws IOException {
    long deadline = System.nanoTime() + REPLAY_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!server.isRunning()) {
        throw new ComputeStartException("PostgreSQL exited while replaying WAL up to " + lsn + "; its log ends with:\n" + server.logTail());
      }
      String[] row = server.psql(ComputeStart.SUPERUSER, "postgres", "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()")
          .split("\\|", -1);
      if (!"t".equals(row[0])) {
        throw new ComputeStartException("PostgreSQL left recovery although it was started as a standby at " + lsn
            + "; refusing to serve a writable copy of timeline " + spec.timeline());
      }
      if (!row[1].isEmpty() && !Lsn.parse(row[1]).isBefore(mustReach)) {
        return Lsn.parse(row[1]);
      }
      ComputeStartException.pause(Duration.ofMillis(50));
    }
    throw new ComputeStartException("PostgreSQL did not replay WAL up to " + lsn + " within " + REPLAY_TIMEOUT.toMinutes()
        + " minutes; its log ends with:\n" + server.logTail());
  }

}
