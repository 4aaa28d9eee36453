package dev.arbor.compute.start;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresServer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.postgresql.PGConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bounds the WAL the compute keeps for safekeepers that fell behind, and never gives up WAL a majority of them
 * still needs.
 *
 * <p>PostgreSQL's own bound, {@code max_slot_wal_keep_size}, is per slot. A statement that commits once
 * (VACUUM of a fresh table, CREATE INDEX, a COPY in one transaction) writes WAL without waiting for any
 * safekeeper, so every slot can pass that limit at once; at its next checkpoint PostgreSQL then invalidates all
 * of them and recycles WAL no safekeeper has, and the statement's commit waits for a quorum forever. So computes
 * run with {@code max_slot_wal_keep_size = -1}, and this class applies the limit to a minority only:
 * <ul>
 *   <li>the quorum LSN {@code Q} is the restart LSN a majority of the slots has reached (with 3 slots the second
 *       highest). A physical slot's restart LSN is the flush LSN its safekeeper last reported, so a majority of
 *       safekeepers holds, durably, all WAL below {@code Q};</li>
 *   <li>a slot more than the limit behind the compute's flush LSN <em>and</em> below {@code Q} is trimmed: its
 *       walsender is terminated and the slot advanced to {@code Q}, so the next checkpoint recycles the WAL below.
 *       Its safekeeper rejoins by copying what it misses from object storage or its peers, and streams from
 *       {@code Q} on (a safekeeper never streams from below its slot's restart segment before trying that catch-up,
 *       which would pull the slot back);</li>
 *   <li>slots of a majority are never trimmed, however far behind: the compute's disk holds the burst until they
 *       catch up. Stock PostgreSQL cannot slow the writer down instead (Neon's {@code max_replication_write_lag}
 *       is a patch).</li>
 * </ul>
 * One pass every {@link #INTERVAL} over its own session (its backend pid is not client activity), as a
 * {@link BackgroundPass}.
 */
final class SlotTrimmer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SlotTrimmer.class);
  static final Duration INTERVAL = Duration.ofSeconds(2);
  private static final String APPLICATION_NAME = "arbor-slot-trimmer";
  /** How long to wait for a signalled walsender to exit and release its slot, in milliseconds. */
  private static final long TERMINATE_WAIT_MILLIS = 1_000;
  private static final int TERMINATE_SIGNALS = 5;
  private static final String OBJECT_IN_USE = "55006";

  /** One slot as pg_replication_slots shows it; {@code restartLsn} is null for a slot that reserves no WAL. */
  record SlotPosition(String slot, Lsn restartLsn) {}

  /** A decision: move {@code slot} from {@code from} up to the quorum LSN {@code to}. */
  record Trim(String slot, Lsn from, Lsn to, long behindBytes) {}

  private final PostgresServer server;
  private final ComputeSpec spec;
  /** slot name → safekeeper id. */
  private final Map<String, String> safekeeperOfSlot;
  private final int quorum;
  private final long maxBehindBytes;
  private volatile BackgroundPass passes;
  private volatile Connection connection;
  private volatile int backendPid;

  private SlotTrimmer(PostgresServer server, ComputeSpec spec, int quorum, Connection connection, long maxBehindBytes) {
    this.server = server;
    this.spec = spec;
    this.quorum = quorum;
    this.connection = connection;
    this.backendPid = pidOf(connection);
    this.maxBehindBytes = maxBehindBytes;
    var slots = new HashMap<String, String>();
    spec.safekeepers().keySet().forEach(id -> slots.put(ComputeStart.slotName(id), id));
    this.safekeeperOfSlot = Map.copyOf(slots);
  }

  /**
   * Connects and starts the passes. {@link ComputeSpec#maxSlotWalKeepSize()} is read as PostgreSQL reads a size
   * ({@code pg_size_bytes}: {@code 1GB}, {@code 256MB}); a negative one turns trimming off.
   */
  static SlotTrimmer start(PostgresServer server, ComputeSpec spec, int quorum) throws SQLException {
    Connection connection = server.connectLocal("postgres", ComputeStart.SUPERUSER, APPLICATION_NAME);
    long maxBehind;
    try (PreparedStatement st = connection.prepareStatement("SELECT pg_size_bytes(?)")) {
      st.setString(1, spec.maxSlotWalKeepSize());
      try (ResultSet rs = st.executeQuery()) {
        rs.next();
        maxBehind = rs.getLong(1);
      }
    } catch (SQLException e) {
      connection.close();
      throw new ComputeStartException("maxSlotWalKeepSize '" + spec.maxSlotWalKeepSize() + "' is not a size PostgreSQL reads ("
          + e.getMessage() + "); write it like 1GB or 256MB, or -1 for no bound", e);
    }
    var trimmer = new SlotTrimmer(server, spec, quorum, connection, maxBehind);
    trimmer.passes = BackgroundPass.start("slot-trimmer-" + spec.timeline(), "slot_trim", "timeline=" + spec.timeline(), INTERVAL,
        trimmer::pass);
    return trimmer;
  }

  /**
   * The slots to trim: those more than {@code maxBehindBytes} behind {@code flush} and below the restart LSN that
   * {@code quorum} slots have reached. Nothing while fewer than {@code quorum} slots reserve WAL (what a majority
   * holds is unknown then), nor with a negative limit.
   */
  static List<Trim> trims(List<SlotPosition> slots, int quorum, Lsn flush, long maxBehindBytes) {
    if (maxBehindBytes < 0) {
      return List.of();
    }
    List<Lsn> held = slots.stream().map(SlotPosition::restartLsn).filter(Objects::nonNull).sorted(Comparator.reverseOrder()).toList();
    if (quorum < 1 || held.size() < quorum) {
      return List.of();
    }
    Lsn quorumLsn = held.get(quorum - 1);
    List<Trim> trims = new ArrayList<>();
    for (SlotPosition s : slots) {
      if (s.restartLsn() == null || !s.restartLsn().isBefore(quorumLsn)) {
        continue;
      }
      long behind = flush.value() - s.restartLsn().value();
      if (behind > maxBehindBytes) {
        trims.add(new Trim(s.slot(), s.restartLsn(), quorumLsn, behind));
      }
    }
    return trims;
  }

  /** One pass; a failed one drops the session, and the next opens a new one. */
  private boolean pass() throws SQLException {
    if (!server.isRunning()) {
      return true; // stopping, or about to be found exited by the agent
    }
    try {
      trimLaggingMinority(connection());
    } catch (SQLException | RuntimeException e) {
      disconnect();
      throw e;
    }
    return true;
  }

  private void trimLaggingMinority(Connection conn) throws SQLException {
    List<SlotPosition> slots = new ArrayList<>();
    Lsn flush = null;
    try (PreparedStatement st = conn.prepareStatement("SELECT slot_name, restart_lsn::text, pg_current_wal_flush_lsn()::text "
        + "FROM pg_replication_slots WHERE slot_name = ANY (?)")) {
      st.setArray(1, conn.createArrayOf("text", safekeeperOfSlot.keySet().toArray()));
      try (ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          String restart = rs.getString(2);
          slots.add(new SlotPosition(rs.getString(1), restart == null ? null : Lsn.parse(restart)));
          flush = Lsn.parse(rs.getString(3));
        }
      }
    }
    if (flush == null) {
      return;
    }
    for (Trim t : trims(slots, quorum, flush, maxBehindBytes)) {
      trim(conn, t, flush);
    }
  }

  /**
   * Terminates the slot's walsender (a slot in use cannot be moved) and advances the slot. The safekeeper
   * reconnects within a second or so and may take the slot again before the advance; then both are tried again,
   * at most three times per pass. A slot that its safekeeper moved past the target meanwhile refuses the advance
   * (a slot never goes backwards): nothing is left to trim.
   */
  private void trim(Connection conn, Trim t, Lsn flush) throws SQLException {
    for (int attempt = 1; ; attempt++) {
      boolean terminated = terminateWalsender(conn, t.slot());
      try (PreparedStatement st = conn.prepareStatement("SELECT end_lsn::text FROM pg_replication_slot_advance(?, ?::pg_lsn)")) {
        st.setString(1, t.slot());
        st.setString(2, t.to().toString());
        try (ResultSet rs = st.executeQuery()) {
          rs.next();
          log.info("event=slot_trimmed timeline={} safekeeper={} slot={} from={} to={} behind_bytes={} flush_lsn={} "
                  + "walsender_terminated={}", spec.timeline(), safekeeperOfSlot.get(t.slot()), t.slot(), t.from(), rs.getString(1),
              t.behindBytes(), flush, terminated);
          return;
        }
      } catch (SQLException e) {
        if (reachedTarget(conn, t)) {
          return;
        }
        if (!OBJECT_IN_USE.equals(e.getSQLState()) || attempt == 3) {
          throw e;
        }
      }
    }
  }

  private static boolean reachedTarget(Connection conn, Trim t) throws SQLException {
    try (PreparedStatement st = conn.prepareStatement("SELECT restart_lsn >= ?::pg_lsn FROM pg_replication_slots WHERE slot_name = ?")) {
      st.setString(1, t.to().toString());
      st.setString(2, t.slot());
      try (ResultSet rs = st.executeQuery()) {
        return rs.next() && rs.getBoolean(1);
      }
    }
  }

  /**
   * Ends the walsender holding the slot, if one does; true if there was one. A walsender whose safekeeper stopped
   * reading (paused, hung) does not exit on its first SIGTERM: it blocks sending the FATAL message to that client.
   * Another SIGTERM while it is blocked makes it drop the message and exit (PostgreSQL's
   * ProcessClientWriteInterrupt), so it is signalled until it is gone, a few times at the most.
   */
  private static boolean terminateWalsender(Connection conn, String slot) throws SQLException {
    boolean found = false;
    try (PreparedStatement st = conn.prepareStatement("SELECT pg_terminate_backend(active_pid, " + TERMINATE_WAIT_MILLIS + ") "
        + "FROM pg_replication_slots WHERE slot_name = ? AND active_pid IS NOT NULL")) {
      st.setString(1, slot);
      for (int signal = 0; signal < TERMINATE_SIGNALS; signal++) {
        try (ResultSet rs = st.executeQuery()) {
          if (!rs.next()) {
            return found;
          }
          found = true;
          if (rs.getBoolean(1)) {
            return true;
          }
        }
      }
    }
    return found;
  }

  private Connection connection() throws SQLException {
    Connection c = connection;
    if (c == null) {
      c = server.connectLocal("postgres", ComputeStart.SUPERUSER, APPLICATION_NAME);
      backendPid = pidOf(c);
      connection = c;
    }
    return c;
  }

  private static int pidOf(Connection c) {
    try {
      return c.unwrap(PGConnection.class).getBackendPID();
    } catch (SQLException e) {
      return 0;
    }
  }

  private void disconnect() {
    Connection c = connection;
    connection = null;
    backendPid = 0;
    if (c != null) {
      try {
        c.close();
      } catch (SQLException ignored) {
        // the server is going away or already gone
      }
    }
  }

  /** Sessions of the compute itself, for the agent's activity sample to leave out. */
  Set<Integer> sessionPids() {
    int pid = backendPid;
    return pid == 0 ? Set.of() : Set.of(pid);
  }

  @Override
  public void close() {
    passes.close();
    disconnect();
  }
}
