package dev.arbor.compute.agent;

import dev.arbor.compute.start.BackgroundPass;
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
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * Samples the running PostgreSQL once a second over the agent's own connection: the current LSN, client
 * connections, and the time of the last client activity (what a suspend decision will rest on). HTTP
 * requests read the latest sample and never touch PostgreSQL. When PostgreSQL exits on its own, the
 * monitor reports it once and stops.
 *
 * <p>Last activity is the latest of: now, while any client session is running a statement or sits in a
 * transaction; the last state change of any client session (a pooled connection that ran a query since);
 * and the sample time whenever the number of sessions ever opened grew (a client that connected, worked
 * and left between two samples leaves no row in pg_stat_activity, but it was counted in
 * pg_stat_database.sessions). The agent's own session and the compute's own ones
 * ({@link StartedCompute#ownSessionPids()}, e.g. the slot trimmer's) are excluded throughout: they are persistent
 * connections, counted once in {@code sessions} before the first sample (one that reconnects counts once more).
 */
final class ComputeMonitor implements AutoCloseable {
  static final Duration INTERVAL = Duration.ofSeconds(1);

  private static final String SAMPLE = """
      SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text,
             count(a.pid),
             count(a.pid) FILTER (WHERE a.state IS DISTINCT FROM 'idle'),
             max(greatest(a.backend_start, a.state_change)),
             (SELECT coalesce(sum(sessions), 0) FROM pg_stat_database)
        FROM (SELECT 1) one
        LEFT JOIN pg_stat_activity a ON a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() AND a.pid <> ALL (?)
      """;

  /** One observation; {@code lastActivity} carries over from sample to sample. */
  record Sample(Instant at, Lsn currentLsn, int connections, int activeConnections, Instant lastActivity, long sessions) {}

  private final PostgresServer server;
  private final Connection connection;
  private final Runnable onPostgresExit;
  private final Supplier<Set<Integer>> ownSessionPids;
  private final AtomicReference<Sample> latest = new AtomicReference<>();
  private BackgroundPass pass;

  ComputeMonitor(PostgresServer server, Connection connection, Supplier<Set<Integer>> ownSessionPids, Instant activeSince,
      Runnable onPostgresExit) throws SQLException {
    this.server = server;
    this.connection = connection;
    this.ownSessionPids = ownSessionPids;
    this.onPostgresExit = onPostgresExit;
    latest.set(sample(new Sample(activeSince, null, 0, 0, activeSince, -1)));
  }

  ComputeMonitor start() {
    pass = BackgroundPass.start("compute-monitor", "sample", "", INTERVAL, () -> {
      if (!server.isRunning()) {
        onPostgresExit.run();
        return false;
      }
      latest.set(sample(latest.get()));
      return true;
    });
    return this;
  }

  Sample latest() {
    return latest.get();
  }

  private Sample sample(Sample previous) throws SQLException {
    try (PreparedStatement st = connection.prepareStatement(SAMPLE)) {
      st.setArray(1, connection.createArrayOf("int4", ownSessionPids.get().toArray()));
      try (ResultSet rs = st.executeQuery()) {
        return sample(previous, rs);
      }
    }
  }

  private static Sample sample(Sample previous, ResultSet rs) throws SQLException {
    rs.next();
    Instant now = Instant.now();
    String lsn = rs.getString(1);
    int connections = rs.getInt(2);
    int active = rs.getInt(3);
    OffsetDateTime lastChange = rs.getObject(4, OffsetDateTime.class);
    long sessions = rs.getLong(5);

    Instant activity = previous.lastActivity();
    if (active > 0) {
      activity = now;
    }
    if (lastChange != null && lastChange.toInstant().isAfter(activity)) {
      activity = lastChange.toInstant();
    }
    if (previous.sessions() >= 0 && sessions > previous.sessions()) {
      activity = now;
    }
    return new Sample(now, lsn == null ? null : Lsn.parse(lsn), connections, active, activity, sessions);
  }

  @Override
  public void close() {
    if (pass != null) {
      pass.close();
    }
  }
}
