package dev.arbor.api.compute;

import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The PostgreSQL parameters a spec's {@code parameters} may set: an allowlist, because whoever edits an
 * Endpoint is a tenant, not the compute's owner, and a denylist misses whatever it forgot. Every name here
 * exists in PostgreSQL 15, 16 and 17 and changes only performance, planning, memory, locale and client
 * defaults, timeouts, autovacuum, or logs a line without statement text. Left out on purpose (docs/compute-agent.md,
 * "Parameters"):
 * <ul>
 *   <li>anything that logs statement text: {@code log_statement}, {@code log_min_duration_statement},
 *       {@code log_min_error_statement}, {@code log_min_messages}, {@code log_lock_waits} and
 *       {@code log_temp_files} (PostgreSQL adds the statement to their lines), the samplers and
 *       {@code debug_print_*} — a statement may carry another role's password;</li>
 *   <li>loading code or running commands: {@code *_preload_libraries}, {@code dynamic_library_path},
 *       {@code jit_provider}, {@code archive_*}, {@code restore_command};</li>
 *   <li>files, network and authentication: {@code ssl_*}, {@code listen_addresses}, {@code port},
 *       {@code hba_file}, {@code ident_file}, {@code unix_socket_*}, {@code krb_server_keyfile}, where the
 *       log goes ({@code log_destination}, {@code logging_collector}: the agent follows its own file);</li>
 *   <li>what the agent's own superuser SQL relies on: {@code search_path} (a tenant schema first would run
 *       tenant functions as the superuser), {@code default_transaction_read_only},
 *       {@code session_replication_role}, {@code standard_conforming_strings}, {@code lc_messages} (the
 *       agent reads PostgreSQL's log);</li>
 *   <li>everything the start sequence manages ({@link ManagedParameters#NAMES}).</li>
 * </ul>
 */
public final class TenantParameters {
  private TenantParameters() {}

  /** Where the list is explained, for error messages. */
  public static final String DOCUMENTED_IN = "docs/compute-agent.md, \"Parameters\"";

  static final Set<String> MEMORY_AND_LIMITS = Set.of(
      "shared_buffers", "work_mem", "maintenance_work_mem", "autovacuum_work_mem", "logical_decoding_work_mem",
      "hash_mem_multiplier", "temp_buffers", "effective_cache_size", "temp_file_limit", "max_connections",
      "max_prepared_transactions", "max_locks_per_transaction", "max_pred_locks_per_transaction",
      "max_pred_locks_per_relation", "max_pred_locks_per_page", "max_files_per_process",
      "max_worker_processes", "max_parallel_workers", "max_parallel_workers_per_gather",
      "max_parallel_maintenance_workers", "parallel_leader_participation");

  static final Set<String> PLANNER = Set.of(
      "enable_async_append", "enable_bitmapscan", "enable_gathermerge", "enable_hashagg", "enable_hashjoin",
      "enable_incremental_sort", "enable_indexscan", "enable_indexonlyscan", "enable_material", "enable_memoize",
      "enable_mergejoin", "enable_nestloop", "enable_parallel_append", "enable_parallel_hash", "enable_partition_pruning",
      "enable_partitionwise_join", "enable_partitionwise_aggregate", "enable_seqscan", "enable_sort", "enable_tidscan",
      "seq_page_cost", "random_page_cost", "cpu_tuple_cost", "cpu_index_tuple_cost", "cpu_operator_cost",
      "parallel_setup_cost", "parallel_tuple_cost", "min_parallel_table_scan_size", "min_parallel_index_scan_size",
      "effective_io_concurrency", "maintenance_io_concurrency", "jit", "jit_above_cost", "jit_inline_above_cost",
      "jit_optimize_above_cost", "default_statistics_target", "constraint_exclusion", "cursor_tuple_fraction",
      "from_collapse_limit", "join_collapse_limit", "geqo", "geqo_threshold", "geqo_effort", "geqo_pool_size",
      "geqo_generations", "geqo_selection_bias", "geqo_seed", "plan_cache_mode", "recursive_worktable_factor");

  /** Checkpoint spacing and write batching: how fast, never whether a commit is durable (that is managed). */
  static final Set<String> WAL_AND_CHECKPOINTS = Set.of(
      "checkpoint_timeout", "checkpoint_completion_target", "checkpoint_warning", "checkpoint_flush_after",
      "max_wal_size", "min_wal_size", "wal_buffers", "wal_compression", "wal_writer_delay", "wal_writer_flush_after",
      "commit_delay", "commit_siblings", "bgwriter_delay", "bgwriter_lru_maxpages", "bgwriter_lru_multiplier",
      "bgwriter_flush_after", "backend_flush_after", "fsync");

  static final Set<String> TIMEOUTS = Set.of(
      "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout", "idle_session_timeout",
      "deadlock_timeout", "authentication_timeout", "tcp_keepalives_idle", "tcp_keepalives_interval",
      "tcp_keepalives_count", "tcp_user_timeout", "client_connection_check_interval");

  static final Set<String> AUTOVACUUM = Set.of(
      "autovacuum", "autovacuum_max_workers", "autovacuum_naptime", "autovacuum_vacuum_threshold",
      "autovacuum_vacuum_insert_threshold", "autovacuum_analyze_threshold", "autovacuum_vacuum_scale_factor",
      "autovacuum_vacuum_insert_scale_factor", "autovacuum_analyze_scale_factor", "autovacuum_freeze_max_age",
      "autovacuum_multixact_freeze_max_age", "autovacuum_vacuum_cost_delay", "autovacuum_vacuum_cost_limit",
      "vacuum_cost_delay", "vacuum_cost_limit", "vacuum_cost_page_hit", "vacuum_cost_page_miss", "vacuum_cost_page_dirty",
      "vacuum_freeze_min_age", "vacuum_freeze_table_age", "vacuum_multixact_freeze_min_age",
      "vacuum_multixact_freeze_table_age", "vacuum_failsafe_age", "vacuum_multixact_failsafe_age", "gin_pending_list_limit");

  static final Set<String> LOCALE_AND_CLIENT_DEFAULTS = Set.of(
      "datestyle", "intervalstyle", "timezone", "lc_monetary", "lc_numeric", "lc_time", "default_text_search_config",
      "extra_float_digits", "bytea_output", "xmlbinary", "xmloption", "client_encoding", "client_min_messages",
      "application_name", "default_transaction_isolation", "default_transaction_deferrable", "default_toast_compression");

  /** Lines without statement text: log_duration's line hides the statement; the others never carry one. */
  static final Set<String> LOGGING_AND_STATISTICS = Set.of(
      "log_checkpoints", "log_autovacuum_min_duration", "log_duration", "log_connections", "log_disconnections",
      "track_io_timing", "track_wal_io_timing", "track_functions", "track_activity_query_size");

  /** Every parameter a spec may set. */
  public static final Set<String> ALLOWED = Stream.of(MEMORY_AND_LIMITS, PLANNER, WAL_AND_CHECKPOINTS, TIMEOUTS, AUTOVACUUM,
      LOCALE_AND_CLIENT_DEFAULTS, LOGGING_AND_STATISTICS).flatMap(Set::stream).collect(Collectors.toUnmodifiableSet());
}
