package dev.arbor.storage.safekeeper;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.postgresql.PGConnection;
import org.postgresql.PGProperty;
import org.postgresql.copy.CopyDual;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows one compute as a physical replication client and keeps its WAL durable in a
 * {@link WalSegmentStore}. The compute lists the safekeepers in {@code synchronous_standby_names}
 * by id, and this receiver connects with {@code application_name} = its safekeeper id, so every flush
 * LSN it reports counts toward the quorum that acknowledges commits.
 *
 * <p>Protocol rule: a flush LSN is reported to the compute only after {@link WalSegmentStore#flush()}
 * has returned it, i.e. after the WAL is forced to disk and the position recorded.
 *
 * <p>Group flush: the receiver blocks for one message, then takes whatever else has already arrived
 * (up to {@code maxBatchBytes}), writes all of it, forces once, and reports the batch's end. Commits
 * that arrive while a force runs are acknowledged by the next one, so fsyncs per commit fall as load
 * rises. Memory stays bounded: one message (at most 128 KiB from a walsender) is held at a time.
 *
 * <p>pgjdbc connects, authenticates and frames the COPY; the receiver speaks the streaming replication
 * protocol inside it (XLogData {@code w}, keepalive {@code k}, standby status {@code r}) rather than
 * through pgjdbc's {@code PGReplicationStream}, which cannot group-flush without adding latency: its
 * {@code readPending()} polls the socket for 1 ms whenever nothing is buffered (once per batch, so
 * 1 ms more per acknowledged commit), its {@code forceUpdateStatus()} always asks the compute for a
 * reply (one more message per batch, which again runs into that poll), and it cannot send
 * {@code START_REPLICATION ... TIMELINE}. Whether more WAL is already waiting is asked of the kernel
 * instead ({@link ReceiveQueueSocketFactory}).
 *
 * <p>The receiver runs on its own platform thread from {@link Builder#start()} until {@link #close()} or
 * a failure. It does not reconnect: a failure ends it with a {@link Failure} in {@link #failure()} and
 * one log line, and the owner decides whether and when to start a new one (with backoff). A platform
 * thread, because every acknowledged commit waits on this loop: a virtual thread would pass each socket
 * read through the JDK's poller thread and hold its carrier through each {@code fdatasync}.
 */
public final class WalReceiver implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(WalReceiver.class);
  /** PostgreSQL's rule for replication slot names (ReplicationSlotValidateName). */
  private static final Pattern SLOT_NAME = Pattern.compile("^[a-z0-9_]{1,63}$");
  private static final Pattern SIZE_SETTING = Pattern.compile("^(\\d+)\\s*(B|kB|MB|GB|TB)$");

  public enum State {
    CONNECTING, STREAMING, CLOSED, FAILED
  }

  /** Why a receiver ended; {@link #retryable()} says whether a new receiver can succeed without anyone acting. */
  public enum FailureReason {
    /** Connection refused, host unreachable, compute starting up or shutting down. */
    COMPUTE_UNREACHABLE(true),
    /** The compute refused the credentials. Retrying helps once the credentials are fixed. */
    AUTHENTICATION_FAILED(true),
    /**
     * TLS with the compute failed: its certificate does not chain to this safekeeper's CA or is not issued for the host
     * name followed (verify-full), the compute refused this safekeeper's certificate, the compute serves no TLS, or this
     * safekeeper's own files cannot be used. Retrying helps once the certificates are fixed (renewed files are read
     * again on every connection).
     */
    TLS_FAILED(true),
    /** The connection broke while following the compute. */
    CONNECTION_LOST(true),
    /** The compute ended the replication stream (it shut down, or its timeline changed). */
    STREAM_ENDED(true),
    /** The compute refused a replication command for another reason than {@link #WAL_REMOVED}, e.g. the slot is in use. */
    REPLICATION_REFUSED(true),
    /**
     * The compute no longer has the WAL to stream from ("requested WAL segment ... has already been removed"):
     * it gave this safekeeper's slot up and recycled the WAL; or it no longer promises to keep it, because it
     * moved this safekeeper's slot past the store's end (it trimmed the slot of a safekeeper that fell far behind
     * with a minority). Only WAL copied from elsewhere (a catch-up) helps.
     */
    WAL_REMOVED(true),
    /** The compute sent WAL at another position than the stream had reached. */
    PROTOCOL_ERROR(true),
    /** The compute is another PostgreSQL system (initdb) or uses another WAL segment size than the store. */
    WRONG_SYSTEM(false),
    /**
     * The compute is not the generation's: it runs an older PostgreSQL timeline than the store holds, another one
     * than the follow request names, or it is still in recovery. Never followed again as this generation.
     */
    STALE_TIMELINE(false),
    /** The store holds WAL the compute does not have on the same timeline, or another history of that timeline. */
    DIVERGED(false),
    /** Writing or forcing WAL to the local disk failed; the store must be reopened. */
    STORAGE_FAILED(false),
    /** A bug: an unexpected exception. */
    INTERNAL_ERROR(false);

    private final boolean retryable;

    FailureReason(boolean retryable) {
      this.retryable = retryable;
    }

    public boolean retryable() {
      return retryable;
    }

    /** The stable name used in logs, e.g. {@code compute_unreachable}. */
    public String code() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public record Failure(FailureReason reason, String detail, Throwable cause) {}

  /** Told of each flushed batch and of how the receiver ended, e.g. for metrics; called on the receiver's thread. */
  public interface Listener {
    Listener NONE = new Listener() {};

    /** A batch of {@code bytes} of WAL was written and flushed; the flush took {@code flushNanos}. */
    default void flushed(long bytes, long flushNanos) {}

    default void failed(FailureReason reason) {}
  }

  /** What {@code IDENTIFY_SYSTEM} reported: the compute's system, its current TLI and its WAL flush position. */
  public record ComputeIdentity(long systemIdentifier, int timeline, Lsn flushLsn) {}

  private final WalSegmentStore store;
  private final String safekeeperId;
  private final String host;
  private final int port;
  private final String user;
  private final String password;
  private final String slotName;
  private final Lsn startLsn;
  /** The TLI the compute must run on (the generation's); 0 accepts any. */
  private final int expectedTimeline;
  private final int maxBatchBytes;
  private final Duration statusInterval;
  private final Duration receiveTimeout;
  private final Duration connectTimeout;
  private final Listener listener;
  private final FailureReason previousFailure;
  private final boolean streamBelowSlot;
  /** The safekeeper's TLS identity and CA when the compute serves TLS; null: in the clear. */
  private final ReplicationTls tls;
  private final String socketKey = UUID.randomUUID().toString();
  private final Thread thread;
  private final CountDownLatch terminated = new CountDownLatch(1);

  /** Guards the hand-over between the receiver thread and {@link #close()}. */
  private final ReentrantLock lifecycle = new ReentrantLock();
  private boolean closing;
  private boolean connecting;
  private Connection connection;
  /** The connection's socket, to ask whether more bytes are waiting; null when pgjdbc did not use ours. */
  private Socket socket;
  /** The TLS socket around {@link #socket}; null in the clear. */
  private Socket tlsSocket;

  private volatile State state = State.CONNECTING;
  private volatile Failure failure;
  private volatile ComputeIdentity compute;
  private volatile Lsn streamStart;
  private volatile Lsn flushLsn = Lsn.ZERO;

  private WalReceiver(Builder b) {
    this.store = b.store;
    this.safekeeperId = b.safekeeperId;
    this.host = b.host;
    this.port = b.port;
    this.user = b.user;
    this.password = b.password;
    this.slotName = b.slotName;
    this.startLsn = b.startLsn;
    this.expectedTimeline = b.timeline;
    this.maxBatchBytes = b.maxBatchBytes;
    this.statusInterval = b.statusInterval;
    this.receiveTimeout = b.receiveTimeout;
    this.connectTimeout = b.connectTimeout;
    this.listener = b.listener;
    this.previousFailure = b.previousFailure;
    this.streamBelowSlot = b.streamBelowSlot;
    this.tls = b.tls;
    this.thread = Thread.ofPlatform().daemon().name("wal-receiver-" + safekeeperId).unstarted(this::run);
  }

  public static Builder builder(WalSegmentStore store) {
    return new Builder(store);
  }

  public State state() {
    return state;
  }

  /** Why the receiver ended, once it is {@link State#FAILED}. */
  public Optional<Failure> failure() {
    return Optional.ofNullable(failure);
  }

  /** The compute's identity, once {@code IDENTIFY_SYSTEM} has answered. */
  public Optional<ComputeIdentity> compute() {
    return Optional.ofNullable(compute);
  }

  /** Where streaming started on the compute's timeline, once it started. */
  public Optional<Lsn> streamStart() {
    return Optional.ofNullable(streamStart);
  }

  /**
   * The LSN up to which this receiver has made the compute's WAL durable (and reported it, or is about
   * to); {@link Lsn#ZERO} before anything of the compute's timeline is durable.
   */
  public Lsn flushLsn() {
    return flushLsn;
  }

  /** Waits until the receiver has ended (closed or failed). */
  public boolean awaitTermination(Duration timeout) throws InterruptedException {
    return terminated.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * Stops following the compute: closes the connection at once (a blocked read ends) and waits for the
   * thread to end. Once this returns the receiver writes nothing more to the store; the store stays open.
   */
  @Override
  public void close() {
    lifecycle.lock();
    try {
      closing = true;
      if (connecting) {
        // Only while connecting: an interrupt during store I/O would close the store's FileChannels.
        thread.interrupt();
      } else if (connection != null) {
        abort(connection);
      }
    } finally {
      lifecycle.unlock();
    }
    boolean interrupted = false;
    while (true) {
      try {
        thread.join();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  private void run() {
    Step step = Step.CONNECT;
    try {
      Connection conn = connect();
      if (conn == null) {
        return;
      }
      step = Step.PREPARE;
      ComputeIdentity identity = identify(conn);
      compute = identity;
      checkIsTheNamedCompute(conn, identity);
      checkSameSystem(conn, identity);
      Lsn start = startPosition(identity);
      if (identity.timeline() > 1) {
        storeHistoryFile(conn, identity.timeline());
      }
      if (slotName != null) {
        Optional<Lsn> kept = createSlotIfMissing(conn);
        if (kept.isPresent() && !streamBelowSlot) {
          checkSlotKeeps(kept.get(), start);
        }
      }
      store.bindSystemIdentifier(identity.systemIdentifier());
      CopyDual copy = startStreaming(conn, start, identity.timeline());
      step = Step.STREAM;
      streamStart = start;
      state = State.STREAMING;
      log.info("event=wal_receiver_streaming safekeeper={} compute={}:{} system_id={} timeline={} start_lsn={} "
              + "compute_flush_lsn={} slot={} tls={}", safekeeperId, host, port,
          Long.toUnsignedString(identity.systemIdentifier()), identity.timeline(), start, identity.flushLsn(),
          slotName == null ? "-" : slotName, tls != null);
      follow(copy, identity.timeline(), start);
      closed(); // follow returns only once close() was called
    } catch (ReceiverFailure e) {
      fail(e.reason, e.getMessage(), e.getCause());
    } catch (SQLException e) {
      if (isClosing()) {
        closed();
      } else {
        fail(classify(e, step), e.getMessage(), e);
      }
    } catch (IOException e) {
      fail(FailureReason.STORAGE_FAILED, e.getMessage(), e);
    } catch (RuntimeException e) {
      fail(FailureReason.INTERNAL_ERROR, e.toString(), e);
    } finally {
      closeConnection();
      terminated.countDown();
    }
  }

  private enum Step { CONNECT, PREPARE, STREAM }

  /** Returns the connection, or null when the receiver was closed meanwhile. */
  private Connection connect() throws SQLException {
    lifecycle.lock();
    try {
      if (closing) {
        closed();
        return null;
      }
      connecting = true;
    } finally {
      lifecycle.unlock();
    }
    Connection conn;
    try {
      conn = DriverManager.getConnection(jdbcUrl(), connectionProperties());
    } finally {
      socket = ReceiveQueueSocketFactory.collect(socketKey);
      tlsSocket = ReceiveQueueSocketFactory.collectTls(socketKey);
      lifecycle.lock();
      try {
        connecting = false;
        Thread.interrupted(); // an interrupt meant for the connect must not reach the store's channels
      } finally {
        lifecycle.unlock();
      }
    }
    lifecycle.lock();
    try {
      if (closing) {
        conn.close();
        closed();
        return null;
      }
      connection = conn;
      return conn;
    } finally {
      lifecycle.unlock();
    }
  }

  private String jdbcUrl() {
    String h = host.contains(":") ? "[" + host + "]" : host;
    return "jdbc:postgresql://" + h + ":" + port + "/postgres";
  }

  private Properties connectionProperties() {
    var props = new Properties();
    PGProperty.USER.set(props, user);
    if (password != null) {
      PGProperty.PASSWORD.set(props, password);
    }
    // A physical replication connection (walsender) speaks only the simple query protocol.
    PGProperty.REPLICATION.set(props, "true");
    PGProperty.ASSUME_MIN_SERVER_VERSION.set(props, "9.4");
    PGProperty.PREFER_QUERY_MODE.set(props, "simple");
    // synchronous_standby_names matches standbys by application_name.
    PGProperty.APPLICATION_NAME.set(props, safekeeperId);
    PGProperty.CONNECT_TIMEOUT.set(props, (int) Math.max(1, connectTimeout.toSeconds()));
    // Reads return at least this often, so the receiver reports status and notices a silent compute.
    PGProperty.SOCKET_TIMEOUT.set(props, (int) statusInterval.toSeconds());
    PGProperty.TCP_KEEP_ALIVE.set(props, true);
    PGProperty.SOCKET_FACTORY.set(props, ReceiveQueueSocketFactory.class.getName());
    props.setProperty(ReceiveQueueSocketFactory.KEY_PROPERTY, socketKey);
    if (tls != null) {
      // verify-full: the compute's certificate must chain to our CA and name the host we connect to. pgjdbc's own
      // LibPQFactory reads keys only as PKCS#8 DER or PKCS#12 files; ours reads the PEM files as they are.
      PGProperty.SSL_MODE.set(props, "verify-full");
      PGProperty.SSL_FACTORY.set(props, ReplicationTlsSocketFactory.class.getName());
      ReplicationTlsSocketFactory.set(props, tls);
    } else {
      PGProperty.SSL_MODE.set(props, "disable");
    }
    return props;
  }

  private static ComputeIdentity identify(Connection conn) throws SQLException {
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("IDENTIFY_SYSTEM")) {
      if (!rs.next()) {
        throw new SQLException("IDENTIFY_SYSTEM returned no row");
      }
      return new ComputeIdentity(Long.parseUnsignedLong(rs.getString("systemid")), rs.getInt("timeline"),
          Lsn.parse(rs.getString("xlogpos")));
    }
  }

  /**
   * Only the compute that promoted into the generation's TLI is followed. Should the address reach another
   * PostgreSQL of this timeline (an older compute still alive at a reused pod IP or DNS name, or a replica),
   * its WAL must never be stored and acknowledged as the generation's: it runs another TLI, or is in recovery.
   * The per-start replication password guards against the same; this check does not rely on it.
   */
  private void checkIsTheNamedCompute(Connection conn, ComputeIdentity identity) throws SQLException {
    if (expectedTimeline != 0 && identity.timeline() != expectedTimeline) {
      throw new ReceiverFailure(FailureReason.STALE_TIMELINE, "the compute at " + host + ":" + port + " runs PostgreSQL timeline "
          + identity.timeline() + ", but the follow request names timeline " + expectedTimeline
          + ": it is not the compute of that generation (an older compute at a reused address?)");
    }
    if (inHotStandby(conn)) {
      throw new ReceiverFailure(FailureReason.STALE_TIMELINE, "the compute at " + host + ":" + port + " is in recovery (timeline "
          + identity.timeline() + "): only a promoted compute is followed, never a standby or a start that has not promoted");
    }
  }

  /**
   * Whether the compute is a hot standby ({@code in_hot_standby}, PostgreSQL 14 on; SHOW is a replication
   * command). A standby without hot standby also accepts walsenders, but Arbor runs none: its replicas serve reads.
   */
  private static boolean inHotStandby(Connection conn) throws SQLException {
    if (conn.getMetaData().getDatabaseMajorVersion() < 14) {
      return false;
    }
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SHOW in_hot_standby")) {
      return rs.next() && "on".equals(rs.getString(1));
    }
  }

  private void checkSameSystem(Connection conn, ComputeIdentity identity) throws SQLException {
    OptionalLong bound = store.systemIdentifier();
    if (bound.isPresent() && bound.getAsLong() != identity.systemIdentifier()) {
      throw new ReceiverFailure(FailureReason.WRONG_SYSTEM, "the compute is PostgreSQL system "
          + Long.toUnsignedString(identity.systemIdentifier()) + ", but this safekeeper's store holds WAL of system "
          + Long.toUnsignedString(bound.getAsLong()));
    }
    long segmentSize = walSegmentSize(conn);
    if (segmentSize != store.segmentSize()) {
      throw new ReceiverFailure(FailureReason.WRONG_SYSTEM, "the compute's wal_segment_size is " + segmentSize
          + " bytes, the store's segments are " + store.segmentSize() + " bytes");
    }
  }

  private static long walSegmentSize(Connection conn) throws SQLException {
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SHOW wal_segment_size")) {
      rs.next();
      String text = rs.getString(1).trim();
      Matcher m = SIZE_SETTING.matcher(text);
      if (!m.matches()) {
        throw new SQLException("unexpected wal_segment_size '" + text + "'");
      }
      int shift = switch (m.group(2)) {
        case "B" -> 0;
        case "kB" -> 10;
        case "MB" -> 20;
        case "GB" -> 30;
        default -> 40;
      };
      return Long.parseLong(m.group(1)) << shift;
    }
  }

  /**
   * Stores the compute's history file of its timeline: it says where each older timeline ends, so WAL
   * a minority holds beyond a switch point is never replayed on the new timeline.
   */
  private void storeHistoryFile(Connection conn, int timeline) throws SQLException, IOException {
    byte[] content;
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("TIMELINE_HISTORY " + timeline)) {
      if (!rs.next()) {
        throw new SQLException("TIMELINE_HISTORY " + timeline + " returned no row");
      }
      String fileName = rs.getString("filename");
      if (!WalFileName.history(timeline).equals(fileName)) {
        throw new SQLException("TIMELINE_HISTORY " + timeline + " returned file '" + fileName + "'");
      }
      // The walsender sends the file's raw bytes as a text column, without encoding conversion; for a
      // text column pgjdbc's getBytes returns them undecoded (getString would re-encode).
      content = rs.getBytes("content");
    }
    try {
      store.putHistoryFile(timeline, content);
    } catch (IllegalStateException e) {
      throw new ReceiverFailure(FailureReason.DIVERGED, e.getMessage());
    }
  }

  /**
   * A physical slot makes the compute keep WAL this safekeeper has not flushed yet, also while it is
   * down. RESERVE_WAL reserves from now on, before the first START_REPLICATION. Returns where the slot
   * keeps WAL from when it existed already (PostgreSQL 15 on): the compute may have moved it.
   */
  private Optional<Lsn> createSlotIfMissing(Connection conn) throws SQLException {
    Optional<Lsn> kept = keptFromOrDropInvalidated(conn);
    if (kept.isPresent()) {
      return kept;
    }
    try (Statement st = conn.createStatement()) {
      st.execute("CREATE_REPLICATION_SLOT " + slotName + " PHYSICAL RESERVE_WAL");
      log.info("event=replication_slot_created safekeeper={} slot={}", safekeeperId, slotName);
    } catch (SQLException e) {
      if (!"42710".equals(e.getSQLState())) { // duplicate_object: the slot exists, which is what we want
        throw e;
      }
    }
    return Optional.empty();
  }

  /**
   * The slot's restart LSN, when the slot exists and reserves WAL. A slot the compute gave up (an older compute
   * whose {@code max_slot_wal_keep_size} was exceeded, {@code wal_status = lost}) has no restart LSN any more and
   * keeps no WAL; a slot that does not exist reads the same. Our slots are always created reserving WAL, so a
   * slot without a restart LSN holds back nothing and dropping it loses nothing: it is replaced by a fresh one,
   * which keeps WAL for this safekeeper again from now on. The drop fails while another walsender uses the slot
   * (the receiver then fails and is retried). READ_REPLICATION_SLOT exists from PostgreSQL 15 on; older
   * computes keep their slot as it is.
   */
  private Optional<Lsn> keptFromOrDropInvalidated(Connection conn) throws SQLException {
    if (conn.getMetaData().getDatabaseMajorVersion() < 15) {
      return Optional.empty();
    }
    String type;
    String restartLsn;
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("READ_REPLICATION_SLOT " + slotName)) {
      if (!rs.next()) {
        return Optional.empty();
      }
      type = rs.getString("slot_type");
      restartLsn = rs.getString("restart_lsn");
    }
    if (type == null) {
      return Optional.empty(); // no such slot
    }
    if (restartLsn != null) {
      return Optional.of(Lsn.parse(restartLsn));
    }
    try (Statement st = conn.createStatement()) {
      st.execute("DROP_REPLICATION_SLOT " + slotName);
    }
    log.info("event=replication_slot_dropped safekeeper={} slot={} reason=invalidated", safekeeperId, slotName);
    return Optional.empty();
  }

  /**
   * The compute keeps whole segments from its slot's restart LSN on, and nothing below is promised: a compute moves
   * the slot of a safekeeper that fell far behind with a minority up to what a majority holds, and recycles the WAL
   * below at its next checkpoint. Streaming from below the slot's segment while that WAL is still there would work,
   * but this safekeeper's first status report would pull the slot back to its flush LSN and pin that WAL again,
   * so the compute's disk would never get the bound. Copying the gap from object storage or a peer (a catch-up,
   * which this failure starts) comes first; {@link Builder#streamBelowSlot} allows the compute as the last source.
   */
  private void checkSlotKeeps(Lsn keptFrom, Lsn start) {
    long size = store.segmentSize();
    if (start.segmentNumber(size) < keptFrom.segmentNumber(size)) {
      throw new ReceiverFailure(FailureReason.WAL_REMOVED, "the compute keeps WAL for slot " + slotName + " only from " + keptFrom
          + " (it trimmed the slot: this safekeeper fell behind with a minority), and this store ends at " + start
          + ": catching up from object storage or a peer first");
    }
  }

  /**
   * Where the durable WAL of the compute's timeline ends, or, when the store has none of it, the
   * caller's start LSN rounded down to its segment: the walsender accepts any position up to its flush
   * position, and a segment start keeps every stored segment whole from its first byte.
   */
  private Lsn startPosition(ComputeIdentity identity) {
    Optional<WalPosition> newest = store.flushPosition();
    if (newest.isPresent() && newest.get().timeline() > identity.timeline()) {
      throw new ReceiverFailure(FailureReason.STALE_TIMELINE, "the compute runs timeline " + identity.timeline()
          + ", but this safekeeper already follows timeline " + newest.get().timeline()
          + ": the compute belongs to an older generation");
    }
    Optional<Lsn> stored = store.flushLsn(identity.timeline());
    if (stored.isEmpty()) {
      return startLsn.segmentStart(store.segmentSize());
    }
    if (stored.get().isAfter(identity.flushLsn())) {
      throw new ReceiverFailure(FailureReason.DIVERGED, "this safekeeper holds WAL of timeline "
          + identity.timeline() + " up to " + stored.get() + ", beyond the compute's flush position "
          + identity.flushLsn() + ": the compute lost WAL it had streamed");
    }
    flushLsn = stored.get();
    return stored.get();
  }

  private CopyDual startStreaming(Connection conn, Lsn start, int timeline) throws SQLException {
    // TIMELINE pins the stream to the timeline IDENTIFY_SYSTEM reported: should the compute have moved
    // on meanwhile, the walsender ends the stream at the switch point instead of sending another
    // timeline's WAL as this one's.
    String command = "START_REPLICATION" + (slotName == null ? "" : " SLOT " + slotName)
        + " PHYSICAL " + start + " TIMELINE " + timeline;
    CopyDual copy = conn.unwrap(PGConnection.class).getCopyAPI().copyDual(command);
    if (copy == null) {
      throw new SQLException("the compute answered " + command + " without starting a COPY");
    }
    return copy;
  }

  /**
   * Streams until closed or failed. {@code flushLsn} is what the compute has been or will be told is
   * durable; {@code written} is the end of what the store holds, flushed or not, and is never reported.
   */
  private void follow(CopyDual copy, int timeline, Lsn start) throws SQLException, IOException {
    Lsn written = start;
    long lastReceived = System.nanoTime();
    long lastStatus = System.nanoTime();
    sendStatus(copy, false);
    while (!isClosing()) {
      byte[] message = receive(copy);
      long now = System.nanoTime();
      if (message == IDLE) {
        long silentNanos = now - lastReceived;
        if (silentNanos > receiveTimeout.toNanos()) {
          throw new ReceiverFailure(FailureReason.CONNECTION_LOST, "the compute sent nothing for "
              + receiveTimeout.toSeconds() + " s, not even a keepalive");
        }
        // Past half the timeout ask for a reply, as PostgreSQL's own walreceiver does, so a live but
        // idle compute answers with a keepalive.
        sendStatus(copy, silentNanos > receiveTimeout.toNanos() / 2);
        lastStatus = now;
        continue;
      }
      lastReceived = now;
      long batchBytes = 0;
      boolean replyRequested = false;
      boolean yielded = false;
      boolean streamEnded = message == null;
      while (!streamEnded) {
        ByteBuffer m = ByteBuffer.wrap(message);
        byte type = message.length > 0 ? m.get() : 0;
        if (m.remaining() < (type == 'w' ? XLOG_DATA_HEADER : KEEPALIVE_BODY)) {
          throw new ReceiverFailure(FailureReason.PROTOCOL_ERROR, "a replication message of type '" + (char) type
              + "' is too short (" + message.length + " bytes)");
        }
        if (type == 'w') {
          Lsn dataStart = new Lsn(m.getLong());
          m.getLong(); // the compute's flush position when it sent this
          m.getLong(); // send time
          if (!dataStart.equals(written)) {
            throw new ReceiverFailure(FailureReason.PROTOCOL_ERROR, "the compute sent WAL at " + dataStart
                + ", but the stream had reached " + written);
          }
          int length = m.remaining();
          store.write(timeline, dataStart, m);
          written = written.plus(length);
          batchBytes += length;
        } else if (type == 'k') {
          m.getLong(); // the compute's WAL end
          m.getLong(); // send time
          replyRequested |= m.get() != 0;
        } else {
          throw new ReceiverFailure(FailureReason.PROTOCOL_ERROR, "unexpected replication message type '"
              + (char) type + "'");
        }
        if (batchBytes >= maxBatchBytes) {
          break;
        }
        if (!moreBytesWaiting()) {
          // Before paying for a flush, let once whatever else is runnable on this CPU run: on a busy
          // machine that is often a backend about to commit, whose WAL then joins this flush (8% more
          // pgbench TPS with compute and safekeepers on 2 cores). With nothing else runnable the yield
          // returns at once.
          if (yielded || batchBytes == 0) {
            break;
          }
          yielded = true;
          Thread.yield();
          if (!moreBytesWaiting()) {
            break;
          }
        }
        message = receive(copy);
        if (message == IDLE) {
          break;
        }
        streamEnded = message == null;
      }
      if (batchBytes > 0) {
        long flushStart = System.nanoTime();
        flushLsn = store.flush();
        listener.flushed(batchBytes, System.nanoTime() - flushStart);
      }
      if (streamEnded) {
        throw new ReceiverFailure(FailureReason.STREAM_ENDED, "the compute ended the replication stream at "
            + written + " (it shut down, or its timeline changed)");
      }
      if (batchBytes > 0 || replyRequested || now - lastStatus > statusInterval.toNanos()) {
        sendStatus(copy, false);
        lastStatus = now;
      }
    }
  }

  /** The next CopyData message; {@link #IDLE} when none came within the socket timeout; null when the COPY ended. */
  private static byte[] receive(CopyDual copy) throws SQLException {
    try {
      return copy.readFromCopy(true);
    } catch (SQLException e) {
      if (e.getCause() instanceof SocketTimeoutException) {
        return IDLE;
      }
      throw e;
    }
  }

  private static final byte[] IDLE = new byte[0];
  /** XLogData after its type byte: data start, WAL end and send time, then the WAL. */
  private static final int XLOG_DATA_HEADER = 3 * 8;
  /** Primary keepalive after its type byte: WAL end, send time, reply-requested flag. */
  private static final int KEEPALIVE_BODY = 2 * 8 + 1;

  /**
   * Whether the kernel holds bytes from the compute that pgjdbc has not read yet. Bytes pgjdbc already
   * buffered do not count: the batch then ends a message early, and the next read returns at once.
   */
  private boolean moreBytesWaiting() {
    if (socket == null) {
      return false;
    }
    try {
      // Under TLS: records the TLS socket decrypted and pgjdbc has not read, or encrypted bytes not read off the socket
      // yet (in practice the rest of a record; PostgreSQL sends no session tickets or renegotiations mid-stream).
      return tlsSocket != null && tlsSocket.getInputStream().available() > 0 || socket.getInputStream().available() > 0;
    } catch (IOException e) {
      return false; // the next read reports the broken connection
    }
  }

  /**
   * Standby status update: written, flushed and applied LSN, the clock, and whether the compute should answer.
   * All three positions are the durable one. Applied, because a safekeeper applies nothing. Written, because
   * synchronous_commit is settable per session: a commit under remote_write waits only for the write
   * position, and must not be acknowledged before the WAL is forced to disk either. A zero flush LSN is
   * PostgreSQL's "invalid": the compute leaves this safekeeper out of the quorum until it has made WAL durable.
   */
  private static void sendStatus(CopyDual copy, Lsn durable, boolean replyRequested) throws SQLException {
    ByteBuffer status = ByteBuffer.allocate(1 + 8 + 8 + 8 + 8 + 1);
    status.put((byte) 'r');
    status.putLong(durable.value());
    status.putLong(durable.value());
    status.putLong(durable.value());
    status.putLong((System.currentTimeMillis() - POSTGRES_EPOCH_MILLIS) * 1000);
    status.put((byte) (replyRequested ? 1 : 0));
    copy.writeToCopy(status.array(), 0, status.capacity());
    copy.flushCopy();
  }

  private void sendStatus(CopyDual copy, boolean replyRequested) throws SQLException {
    sendStatus(copy, flushLsn, replyRequested);
  }

  /** 2000-01-01T00:00:00Z, the epoch of PostgreSQL timestamps. */
  private static final long POSTGRES_EPOCH_MILLIS = 946_684_800_000L;

  private static FailureReason classify(SQLException e, Step step) {
    String sqlState = Objects.requireNonNullElse(e.getSQLState(), "");
    // The walsender's "requested WAL segment %s has already been removed" comes with errcode_for_file_access:
    // 58P01 (undefined_file) for the usual ENOENT. The message is matched too, as its code follows errno.
    if (Objects.requireNonNullElse(e.getMessage(), "").contains("has already been removed")
        || (step == Step.STREAM && sqlState.equals("58P01"))) {
      return FailureReason.WAL_REMOVED;
    }
    if (sqlState.startsWith("28")) {
      return FailureReason.AUTHENTICATION_FAILED;
    }
    if (step == Step.CONNECT && (causedByTls(e) || sqlState.equals("08004") && Objects.requireNonNullElse(e.getMessage(), "")
        .contains("SSL"))) {
      return FailureReason.TLS_FAILED;
    }
    // 08: connection exceptions; 57P: the server is shutting down, crashed or starting up.
    if (sqlState.startsWith("08") || sqlState.startsWith("57P") || sqlState.isEmpty()) {
      return step == Step.CONNECT ? FailureReason.COMPUTE_UNREACHABLE : FailureReason.CONNECTION_LOST;
    }
    return FailureReason.REPLICATION_REFUSED;
  }

  /**
   * A TLS handshake that failed (an untrusted or misnamed certificate on either side) or TLS files that cannot be used;
   * pgjdbc wraps both in a connection error. A compute without TLS answers the SSL request with "N" (08004).
   */
  private static boolean causedByTls(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof javax.net.ssl.SSLException || t instanceof ReplicationTls.MaterialException
          || t instanceof java.security.cert.CertificateException) {
        return true;
      }
    }
    return false;
  }

  private boolean isClosing() {
    lifecycle.lock();
    try {
      return closing;
    } finally {
      lifecycle.unlock();
    }
  }

  private void closed() {
    state = State.CLOSED;
    log.info("event=wal_receiver_closed safekeeper={} compute={}:{} flush_lsn={}", safekeeperId, host, port, flushLsn);
  }

  private void fail(FailureReason reason, String detail, Throwable cause) {
    if (isClosing() && reason != FailureReason.STORAGE_FAILED && reason != FailureReason.INTERNAL_ERROR) {
      closed();
      return;
    }
    failure = new Failure(reason, detail, cause);
    listener.failed(reason); // counted before the state says so: whoever sees FAILED sees it counted
    state = State.FAILED;
    ComputeIdentity c = compute;
    String line = "event=wal_receiver_failed safekeeper={} compute={}:{} reason={} retryable={} timeline={} "
        + "flush_lsn={} detail=\"{}\"";
    Object[] args = {safekeeperId, host, port, reason.code(), reason.retryable(),
        c == null ? "-" : c.timeline(), flushLsn, detail == null ? "" : detail.replace('"', '\'').replace('\n', ' ')};
    if (!reason.retryable() && reason == previousFailure && streamStart == null) {
      // The owner starts a new receiver every second or so; the first of these failures said it all.
      log.debug(line + " repeated=true", args);
    } else if (reason == FailureReason.STORAGE_FAILED || reason == FailureReason.INTERNAL_ERROR) {
      Object[] withCause = Arrays.copyOf(args, args.length + 1);
      withCause[args.length] = cause;
      log.error(line, withCause);
    } else {
      log.warn(line, args);
    }
  }

  private void closeConnection() {
    Connection conn;
    lifecycle.lock();
    try {
      conn = connection;
      connection = null;
    } finally {
      lifecycle.unlock();
    }
    if (conn != null) {
      try {
        conn.close();
      } catch (SQLException e) {
        log.debug("event=wal_receiver_connection_close_failed safekeeper={} error={}", safekeeperId, e.toString());
      }
    }
  }

  /** Closes the socket under a blocked read; pgjdbc's abort needs no lock the reader holds. */
  private void abort(Connection conn) {
    try {
      conn.abort(Runnable::run);
    } catch (SQLException e) {
      log.debug("event=wal_receiver_abort_failed safekeeper={} error={}", safekeeperId, e.toString());
    }
  }

  /** An expected way for a receiver to end, with the reason already decided. */
  private static final class ReceiverFailure extends RuntimeException {
    final FailureReason reason;

    ReceiverFailure(FailureReason reason, String message) {
      super(message, null, false, false);
      this.reason = reason;
    }
  }

  public static final class Builder {
    private final WalSegmentStore store;
    private String safekeeperId;
    private String host;
    private int port;
    private String user;
    private String password;
    private String slotName;
    private Lsn startLsn;
    private int timeline;
    private int maxBatchBytes = 4 << 20;
    private Duration statusInterval = Duration.ofSeconds(10);
    private Duration receiveTimeout = Duration.ofSeconds(60);
    private Duration connectTimeout = Duration.ofSeconds(10);
    private Listener listener = Listener.NONE;
    private FailureReason previousFailure;
    private boolean streamBelowSlot;
    private ReplicationTls tls;

    private Builder(WalSegmentStore store) {
      this.store = Objects.requireNonNull(store, "store");
    }

    /** This safekeeper's id, sent as {@code application_name}: the name in the compute's synchronous_standby_names. */
    public Builder safekeeperId(String id) {
      this.safekeeperId = id;
      return this;
    }

    public Builder compute(String host, int port) {
      this.host = host;
      this.port = port;
      return this;
    }

    /** A role with the REPLICATION attribute; {@code password} may be null where the compute trusts us. */
    public Builder credentials(String user, String password) {
      this.user = user;
      this.password = password;
      return this;
    }

    /** A physical replication slot to stream from, created when missing (lowercase letters, digits, '_'). */
    public Builder slot(String name) {
      if (name != null && !SLOT_NAME.matcher(name).matches()) {
        throw new IllegalArgumentException("'" + name + "' is not a valid replication slot name: use 1 to 63 "
            + "lowercase letters, digits and underscores (e.g. sk_0)");
      }
      this.slotName = name;
      return this;
    }

    /**
     * Where to start when the store holds no WAL of the compute's timeline: the start point of the
     * compute's generation. It is rounded down to its segment start. When the store holds WAL of that
     * timeline, streaming resumes at its flush LSN instead.
     */
    public Builder startLsn(Lsn lsn) {
      this.startLsn = lsn;
      return this;
    }

    /**
     * The PostgreSQL TLI the compute must run on: the one its generation promoted into. Any other compute
     * reached at the address is refused ({@link FailureReason#STALE_TIMELINE}). Unset (0), any TLI is followed.
     */
    public Builder timeline(int tli) {
      if (tli < 0) {
        throw new IllegalArgumentException("a PostgreSQL timeline is positive, got " + tli);
      }
      this.timeline = tli;
      return this;
    }

    /** The most WAL written before one flush when more keeps arriving (default 4 MiB). */
    public Builder maxBatchBytes(int bytes) {
      if (bytes < 1) {
        throw new IllegalArgumentException("maxBatchBytes must be positive, got " + bytes);
      }
      this.maxBatchBytes = bytes;
      return this;
    }

    /**
     * How often to report status while idle, in whole seconds (default 10 s); keep it well below the
     * compute's wal_sender_timeout, which ends connections that stay silent that long.
     */
    public Builder statusInterval(Duration interval) {
      if (interval.toSeconds() < 1) {
        throw new IllegalArgumentException("statusInterval must be at least 1 s, got " + interval);
      }
      this.statusInterval = Duration.ofSeconds(interval.toSeconds());
      return this;
    }

    /**
     * How long the compute may send nothing before the receiver gives up on the connection (default
     * 60 s, PostgreSQL's wal_receiver_timeout): a partitioned compute cannot be told from an idle one
     * otherwise. Half-way, the receiver asks the compute for a keepalive.
     */
    public Builder receiveTimeout(Duration timeout) {
      this.receiveTimeout = timeout;
      return this;
    }

    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = timeout;
      return this;
    }

    /**
     * How the receiver this one replaces ended, if it failed. Ending the same way again before streaming, for a
     * reason retrying cannot cure, is logged at debug only: owners restart receivers every second or so, and a
     * warning per attempt would bury everything else. A different failure is logged as usual.
     */
    public Builder previousFailure(FailureReason reason) {
      this.previousFailure = reason;
      return this;
    }

    /**
     * Whether to stream from the store's end even when the compute's slot no longer keeps WAL from there (default
     * false: the receiver fails {@link FailureReason#WAL_REMOVED}, so that the gap is copied from elsewhere first).
     * Right after a catch-up got as far as it could, the compute is the last source that may still have it.
     */
    public Builder streamBelowSlot(boolean allowed) {
      this.streamBelowSlot = allowed;
      return this;
    }

    /**
     * Connect over TLS with verify-full: the compute's certificate must chain to {@code tls}'s CA and be issued for the
     * host given to {@link #compute}; {@code tls}'s certificate is the client identity. Null (default): in the clear.
     */
    public Builder tls(ReplicationTls tls) {
      this.tls = tls;
      return this;
    }

    public Builder listener(Listener listener) {
      this.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    /** Starts the receiver's thread; connection errors show in {@link WalReceiver#failure()}, not here. */
    public WalReceiver start() {
      require(safekeeperId != null && !safekeeperId.isBlank(), "safekeeperId");
      require(host != null && port > 0, "compute(host, port)");
      require(user != null, "credentials(user, password)");
      require(startLsn != null, "startLsn");
      require(receiveTimeout.compareTo(statusInterval.multipliedBy(2)) > 0, "a receiveTimeout above twice the statusInterval");
      WalReceiver receiver = new WalReceiver(this);
      receiver.thread.start();
      return receiver;
    }

    private static void require(boolean ok, String what) {
      if (!ok) {
        throw new IllegalStateException("a WalReceiver needs " + what + " to be set");
      }
    }
  }
}
