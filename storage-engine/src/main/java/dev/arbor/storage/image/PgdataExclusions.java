package dev.arbor.storage.image;

import dev.arbor.api.pageserver.Basebackup;
import java.util.Set;

/**
 * The parts of a PGDATA that an image must not hold, because the server that starts from the image
 * has to get them elsewhere or must not see them at all:
 *
 * <ul>
 *   <li>{@code pg_wal/} contents: WAL comes from the WAL archive through {@code restore_command}, so
 *       recovery replays the timeline's WAL, never a stale copy of it; a leftover segment of another
 *       branch or generation would even be replayed in its place. The directories {@code pg_wal/},
 *       {@code pg_wal/archive_status/} and {@code pg_wal/summaries/} are kept (empty), as PostgreSQL's
 *       base backup keeps them: the server needs {@code pg_wal} to start.
 *   <li>{@code standby.signal}, {@code recovery.signal}: how the server starts is decided by the
 *       basebackup, which writes the signal and recovery settings for the requested LSN.
 *   <li>{@code postmaster.pid}, {@code postmaster.opts}: state of a server process, not of the data;
 *       a copied pid file makes the next start refuse or guess.
 *   <li>{@code pg_internal.init*}: relation cache init files, which every server start removes and
 *       backends rebuild; a copy may not match the catalogs as of the LSN the server recovers to.
 * </ul>
 *
 * The rest is the list PostgreSQL's own base backup leaves out (basebackup.c), for the same reasons:
 * the contents of {@code pg_replslot}, {@code pg_stat_tmp}, {@code pg_dynshmem}, {@code pg_notify},
 * {@code pg_serial}, {@code pg_snapshots} and {@code pg_subtrans} are reset at server start (the
 * directories themselves are kept), {@code pgsql_tmp*} are temporary files, and {@code backup_label},
 * {@code tablespace_map}, {@code backup_manifest} and the {@code *.tmp} files of the configuration and
 * log collector belong to one backup or one process.
 */
final class PgdataExclusions {

  private static final Set<String> FILES = Set.of(
      "postmaster.pid", "postmaster.opts", "standby.signal", "recovery.signal",
      "backup_label", "tablespace_map", "backup_manifest",
      "postgresql.auto.conf.tmp", "current_logfiles.tmp",
      // the storage token of whoever ran the server: never in an image; nor the CA it trusted
      Basebackup.STORAGE_AUTH_FILE, Basebackup.STORAGE_CA_FILE);

  private static final Set<String> EMPTIED_DIRECTORIES = Set.of(
      "pg_wal", "pg_replslot", "pg_stat_tmp", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_subtrans");

  /** Kept empty, as PostgreSQL's base backup does ({@code summaries} exists from PostgreSQL 17 on). */
  private static final Set<String> KEPT_WAL_DIRECTORIES = Set.of("pg_wal/archive_status", "pg_wal/summaries");

  private PgdataExclusions() {}

  /** Whether the entry at {@code path} (relative to PGDATA) stays out of images, with all it contains. */
  static boolean excludes(String path, boolean directory) {
    String name = path.substring(path.lastIndexOf('/') + 1);
    if (name.startsWith("pgsql_tmp")) {
      return true;
    }
    int slash = path.indexOf('/');
    if (slash > 0 && EMPTIED_DIRECTORIES.contains(path.substring(0, slash))) {
      return !(directory && KEPT_WAL_DIRECTORIES.contains(path));
    }
    return !directory && (FILES.contains(name) || name.startsWith("pg_internal.init"));
  }
}
