package dev.arbor.api.compute;

import java.util.Set;

/**
 * The PostgreSQL parameters the compute's start sequence sets itself, because Arbor's guarantees rest on them:
 * synchronous replication to a safekeeper majority (no acknowledged commit lost), the recovery configuration
 * of the basebackup (where replay ends), scram for every password, TLS, and where PostgreSQL listens. A spec that
 * names one in {@code parameters} is refused, instead of silently letting one win.
 */
public final class ManagedParameters {
  private ManagedParameters() {}

  public static final Set<String> NAMES = Set.of(
      "listen_addresses", "port", "unix_socket_directories", "data_directory", "config_file", "hba_file", "ident_file",
      "wal_level", "max_wal_senders", "max_replication_slots", "max_slot_wal_keep_size", "wal_keep_size",
      "synchronous_standby_names", "synchronous_commit", "password_encryption", "hot_standby",
      "restore_command", "recovery_target", "recovery_target_lsn", "recovery_target_name", "recovery_target_time",
      "recovery_target_xid", "recovery_target_inclusive", "recovery_target_timeline", "recovery_target_action",
      "primary_conninfo", "primary_slot_name", "wal_retrieve_retry_interval", "archive_mode", "archive_command",
      "archive_library",
      // TLS comes from the spec's tls (the key is copied where PostgreSQL accepts it, renewals are reloaded)
      "ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file", "ssl_crl_file", "ssl_crl_dir", "ssl_passphrase_command",
      "ssl_passphrase_command_supports_reload");
}
