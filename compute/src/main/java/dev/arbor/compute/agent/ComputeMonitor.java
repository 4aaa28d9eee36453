package dev.arbor.compute.agent;

import dev.arbor.compute.start.BackgroundPass;
import dev.arbor.compute.start.ComputeStart;
import dev.arbor.compute.start.StartedCompute;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresServer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Samples the running PostgreSQL over the agent's own connection, once a second and whenever asked
 * ({@link #sampleNow()}): the current LSN, client connections, and what keeps the compute awake (what a suspend
 * decision rests on). {@code GET /status} and the metrics read the latest sample and never touch PostgreSQL. When
 * PostgreSQL exits on its own, the monitor reports it once and stops.
 *
 * <p>The compute is awake while any of these is present (then its last activity is the sample's time):
 * <ul>
 *   <li>a client session of a role that is not one of the compute's own ({@link ComputeStart#INTERNAL_ROLES}), idle
 *       or not: an open connection keeps the compute awake;</li>
 *   <li>an open transaction (a running statement, or idle in a transaction) in any client session. One of an
 *       internal role counts once it has been open for {@link #INTERNAL_TRANSACTION_GRACE}: a monitoring query of the
 *       superuser never is, and would otherwise be seen now and then by a sample that ran at the same moment;</li>
 *   <li>a walsender connected to a database: logical replication (a physical walsender, a safekeeper streaming WAL or
 *       a base backup, has none);</li>
 *   <li>an autovacuum worker at work on a table (one that only looks for work reports no table).</li>
 * </ul>
 * The agent's own session and the compute's own ones ({@link StartedCompute#ownSessionPids()}, e.g. the slot
 * trimmer's) are left out throughout. Client connections that come and go between two samples leave nothing to see
 * here: the proxy reports them ({@code POST /activity}).
 */
final class ComputeMonitor implements AutoCloseable {
  static final Duration INTERVAL = Duration.ofSeconds(1);
  static final Duration INTERNAL_TRANSACTION_GRACE = INTERVAL;
  /** Open transactions named one by one, oldest first; the rest are counted. */
  static final int LISTED_TRANSACTIONS = 5;

  // One row per reason, plus the row 'lsn' (the position and the number of client connections). A session whose
  // role is not known yet (still authenticating) counts as internal: it is nobody's connection yet.
  private static final String SAMPLE = """
      WITH s AS (
        SELECT a.*, coalesce(a.usename::text = ANY (?), true) AS internal
          FROM pg_stat_activity a
         WHERE a.pid <> pg_backend_pid() AND a.pid <> ALL (?)
      )
      SELECT 'lsn', NULL::text, CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text,
             NULL::int, (SELECT count(*) FROM s WHERE backend_type = 'client backend'), NULL::timestamptz
      UNION ALL
      SELECT 'clients', usename::text, NULL, NULL, count(*), NULL
        FROM s WHERE backend_type = 'client backend' AND NOT internal GROUP BY usename
      UNION ALL
      SELECT 'transaction', usename::text, NULL, pid, NULL, xact_start
        FROM s WHERE backend_type = 'client backend'
         AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)', 'fastpath function call')
         AND (NOT internal OR xact_start < now() - interval '%d milliseconds')
      UNION ALL
      SELECT 'logical', r.slot_name::text, s.datname::text, s.pid, NULL, NULL
        FROM s LEFT JOIN pg_replication_slots r ON r.active_pid = s.pid
       WHERE s.backend_type = 'walsender' AND s.datid IS NOT NULL
      UNION ALL
      SELECT 'autovacuum', datname::text, query, pid, NULL, NULL
        FROM s WHERE backend_type = 'autovacuum worker' AND query LIKE 'autovacuum:%%'
      """.formatted(INTERNAL_TRANSACTION_GRACE.toMillis());

  /** What an autovacuum worker reports while it works on a table, e.g. {@code autovacuum: VACUUM ANALYZE public.t}. */
  private static final Pattern AUTOVACUUM_TARGET = Pattern.compile("^autovacuum: (?:VACUUM ANALYZE|VACUUM|ANALYZE|BRIN summarize) (.+)$");

  /**
   * One observation; {@code lastActivity} carries over from sample to sample.
   *
   * @param keptAwakeBy what kept the compute awake at {@code at}, one short sentence each; empty when idle
   */
  record Sample(Instant at, Lsn currentLsn, int connections, Instant lastActivity, List<String> keptAwakeBy) {}

  private final PostgresServer server;
  private final Connection connection;
  private final Runnable onPostgresExit;
  private final Supplier<Set<Integer>> ownSessionPids;
  private final AtomicReference<Sample> latest = new AtomicReference<>();
  /** One sample at a time on the one connection, so each builds on the one before. */
  private final ReentrantLock sampling = new ReentrantLock();
  private BackgroundPass pass;

  ComputeMonitor(PostgresServer server, Connection connection, Supplier<Set<Integer>> ownSessionPids, Instant activeSince,
      Runnable onPostgresExit) throws SQLException {
    this.server = server;
    this.connection = connection;
    this.ownSessionPids = ownSessionPids;
    this.onPostgresExit = onPostgresExit;
    latest.set(new Sample(activeSince, null, 0, activeSince, List.of()));
    sampleNow();
  }

  ComputeMonitor start() {
    pass = BackgroundPass.start("compute-monitor", "sample", "", INTERVAL, () -> {
      if (!server.isRunning()) {
        onPostgresExit.run();
        return false;
      }
      sampleNow();
      return true;
    });
    return this;
  }

  Sample latest() {
    return latest.get();
  }

  /** Samples PostgreSQL now; the sample becomes the latest. */
  Sample sampleNow() throws SQLException {
    sampling.lock();
    try {
      Sample s = sample(latest.get());
      latest.set(s);
      return s;
    } finally {
      sampling.unlock();
    }
  }

  private Sample sample(Sample previous) throws SQLException {
    try (PreparedStatement st = connection.prepareStatement(SAMPLE)) {
      st.setArray(1, connection.createArrayOf("text", ComputeStart.INTERNAL_ROLES.toArray()));
      st.setArray(2, connection.createArrayOf("int4", ownSessionPids.get().toArray()));
      try (ResultSet rs = st.executeQuery()) {
        return sample(previous, rs);
      }
    }
  }

  private record Transaction(String role, int pid, Instant since) {}

  private static Sample sample(Sample previous, ResultSet rs) throws SQLException {
    String lsn = null;
    int connections = 0;
    List<String> clients = new ArrayList<>();
    List<Transaction> transactions = new ArrayList<>();
    List<String> others = new ArrayList<>();
    while (rs.next()) {
      String name = rs.getString(2);
      String detail = rs.getString(3);
      int pid = rs.getInt(4);
      long count = rs.getLong(5);
      switch (rs.getString(1)) {
        case "lsn" -> {
          lsn = detail;
          connections = (int) count;
        }
        case "clients" -> clients.add(count + (count == 1 ? " client connection (" : " client connections (") + name + ")");
        case "transaction" -> {
          OffsetDateTime since = rs.getObject(6, OffsetDateTime.class);
          transactions.add(new Transaction(name, pid, since == null ? Instant.MAX : since.toInstant()));
        }
        case "logical" -> others.add(name != null ? "logical replication (slot " + name + ")"
            : "logical replication (pid " + pid + ", database " + detail + ")");
        case "autovacuum" -> {
          Matcher m = AUTOVACUUM_TARGET.matcher(detail);
          others.add((m.matches() ? "autovacuum on " + m.group(1) : "autovacuum") + " (database " + name + ")");
        }
        default -> throw new IllegalStateException("unexpected sample row " + rs.getString(1));
      }
    }
    Instant now = Instant.now();
    List<String> reasons = new ArrayList<>(clients);
    reasons.sort(null);
    transactions.sort(Comparator.comparing(Transaction::since).thenComparingInt(Transaction::pid));
    transactions.stream().limit(LISTED_TRANSACTIONS)
        .forEach(t -> reasons.add("open transaction in pid " + t.pid() + " (role " + t.role() + ")"));
    if (transactions.size() > LISTED_TRANSACTIONS) {
      reasons.add((transactions.size() - LISTED_TRANSACTIONS) + " more open transactions");
    }
    others.sort(null);
    reasons.addAll(others);
    return new Sample(now, lsn == null ? null : Lsn.parse(lsn), connections, reasons.isEmpty() ? previous.lastActivity() : now,
        List.copyOf(reasons));
  }

  @Override
  public void close() {
    if (pass != null) {
      pass.close();
    }
  }
}
