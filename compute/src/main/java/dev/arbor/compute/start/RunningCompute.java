package dev.arbor.compute.start;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.PostgresServer;
import dev.arbor.postgres.RedoRange;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.api.safekeeper.FenceResult;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.client.SafekeeperSet;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A started read-write compute: PostgreSQL streaming to the safekeepers under one generation. One small loop
 * per safekeeper keeps it following this generation, so a safekeeper that was down or restarted
 * catches up from the compute's slot for it as soon as it is back; a {@link SlotTrimmer} keeps a minority
 * that fell far behind from holding the compute's WAL.
 */
public final class RunningCompute implements StartedCompute {
  private static final Logger log = LoggerFactory.getLogger(RunningCompute.class);
  private static final Duration FOLLOW_CHECK_INTERVAL = Duration.ofSeconds(1);

  private final ComputeSpec spec;
  private final PostgresServer server;
  private final SafekeeperSet safekeepers;
  private final long generation;
  private final int pgTli;
  private final Lsn startLsn;
  private final String replicationPassword;
  private final RedoRange redo;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final AtomicBoolean fenced = new AtomicBoolean(false);
  private final List<Thread> followKeepers = new CopyOnWriteArrayList<>();
  /** Safekeeper id → the last refusal of a follow request logged, so that a lasting one is logged once. */
  private final Map<String, String> lastRefusal = new java.util.concurrent.ConcurrentHashMap<>();
  private volatile SlotTrimmer slotTrimmer;
  private final ServerTls.Watch tlsWatch;

  RunningCompute(ComputeSpec spec, PostgresServer server, SafekeeperSet safekeepers, long generation, int pgTli, Lsn startLsn,
      String replicationPassword, RedoRange redo, ServerTls.Watch tlsWatch) {
    this.tlsWatch = tlsWatch;
    this.spec = spec;
    this.server = server;
    this.safekeepers = safekeepers;
    this.generation = generation;
    this.pgTli = pgTli;
    this.startLsn = startLsn;
    this.replicationPassword = replicationPassword;
    this.redo = redo;
  }

  /** True once a safekeeper said a newer generation took over this timeline. */
  public boolean fenced() {
    return fenced.get();
  }

  public long generation() {
    return generation;
  }

  public int pgTli() {
    return pgTli;
  }

  /** The WAL this start's recovery replayed, as PostgreSQL logged it. */
  public Optional<RedoRange> redo() {
    return Optional.ofNullable(redo);
  }

  /** Where this generation's TLI branches off its predecessor. */
  public Lsn startLsn() {
    return startLsn;
  }

  @Override
  public PostgresServer server() {
    return server;
  }

  @Override
  public boolean readOnly() {
    return false;
  }

  public int port() {
    return server.port();
  }

  /** A superuser session over the compute's private unix socket: pg_hba rejects the superuser on TCP. */
  public Connection connect(String database) throws SQLException {
    return server.connectLocal(database, ComputeStart.SUPERUSER, "arbor-superuser");
  }

  /**
   * Starts one follow keeper per safekeeper and waits until a majority follows this generation or every
   * safekeeper answered once; returns how many follow by then. Each keeper goes on checking every second, so
   * a safekeeper that was down, paused or restarted rejoins on its own, and a slow one never holds the others.
   */
  int startFollowing() throws InterruptedException {
    var followingNow = new AtomicInteger();
    var answered = new AtomicInteger();
    var quorumOrAll = new CountDownLatch(1);
    int size = spec.safekeepers().size();
    int quorum = size / 2 + 1;
    for (Map.Entry<String, String> sk : spec.safekeepers().entrySet()) {
      followKeepers.add(Thread.ofVirtual().name("follow-keeper-" + spec.timeline() + "-" + sk.getKey()).start(() ->
          keepFollowing(sk.getKey(), sk.getValue(), following -> {
            int f = following ? followingNow.incrementAndGet() : followingNow.get();
            if (answered.incrementAndGet() == size || f >= quorum) {
              quorumOrAll.countDown();
            }
          })));
    }
    quorumOrAll.await();
    return followingNow.get();
  }

  private void keepFollowing(String safekeeperId, String baseUrl, Consumer<Boolean> firstAnswer) {
    boolean first = true;
    while (running.get()) {
      boolean following = false;
      try {
        if (first || server.isRunning()) {
          following = follow(safekeeperId, baseUrl);
        }
      } catch (RuntimeException e) {
        log.warn("event=follow_check_failed timeline={} safekeeper={} error=\"{}\"", spec.timeline(), safekeeperId, e.getMessage());
      }
      if (first) {
        firstAnswer.accept(following);
        first = false;
      }
      try {
        Thread.sleep(FOLLOW_CHECK_INTERVAL);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /** Makes one safekeeper follow this generation unless it already does; true if it follows. */
  private boolean follow(String safekeeperId, String baseUrl) {
    SafekeeperClient safekeeper = safekeepers.member(baseUrl);
    try {
      TimelineWalStatus status = safekeeper.timeline(spec.tenant(), spec.timeline());
      if (status.following() && status.generation() == generation) {
        return true;
      }
      var req = new FollowRequest(generation, pgTli, startLsn.segmentStart(Lsn.DEFAULT_SEGMENT_SIZE), spec.replicationHost(),
          server.port(), ComputeStart.REPLICATION_ROLE, replicationPassword, ComputeStart.slotName(safekeeperId), peersOf(safekeeperId),
          spec.tls() != null);
      try {
        safekeeper.follow(spec.tenant(), spec.timeline(), req);
      } catch (ApiProblem p) {
        if (!p.is("fence-required")) {
          throw p;
        }
        // It missed this generation's election: bring it into the generation, as a Raft leader does a
        // follower of an older term. It accepts only if nothing newer came since.
        // started: this generation streams WAL, so a safekeeper without any (a wiped disk) joins without a
        // vote and catches up from this compute.
        FenceResult fence = safekeeper.fence(spec.tenant(), spec.timeline(), new FenceRequest(generation, true));
        log.info("event=safekeeper_joined timeline={} generation={} safekeeper={} tli={} flush_lsn={}", spec.timeline(), generation,
            safekeeperId, fence.tli(), fence.flushLsn());
        safekeeper.follow(spec.tenant(), spec.timeline(), req);
      }
      return true;
    } catch (ApiProblem p) {
      if (p.is("stale-generation") && fenced.compareAndSet(false, true)) {
        // A newer generation took over: this compute can never again get a commit acknowledged.
        log.warn("event=compute_fenced timeline={} generation={} safekeeper={} detail=\"{}\"", spec.timeline(), generation,
            safekeeperId, p.getMessage());
      } else if (!p.is("stale-generation") && !p.getMessage().equals(lastRefusal.put(safekeeperId, p.getMessage()))) {
        // e.g. a safekeeper without a TLS identity asked to follow a TLS compute: said once, not every second
        log.warn("event=follow_refused timeline={} generation={} safekeeper={} status={} field={} detail=\"{}\"", spec.timeline(),
            generation, safekeeperId, p.status(), p.field(), p.getMessage().replace('"', '\''));
      }
      return false;
    } catch (IOException unreachable) {
      return false; // down for now; its keeper asks again in a second
    }
  }

  /** Starts bounding what a lagging minority of safekeepers holds back ({@link SlotTrimmer}). */
  void startTrimmingSlots() throws SQLException {
    slotTrimmer = SlotTrimmer.start(server, spec, safekeepers.quorum());
  }

  @Override
  public Set<Integer> ownSessionPids() {
    SlotTrimmer t = slotTrimmer;
    return t == null ? Set.of() : t.sessionPids();
  }

  /** The other safekeepers' base URLs: where one that fell behind the compute's WAL fetches complete segments. */
  private List<String> peersOf(String safekeeperId) {
    return spec.safekeepers().entrySet().stream().filter(e -> !e.getKey().equals(safekeeperId)).map(Map.Entry::getValue).toList();
  }

  /**
   * Fast shutdown: PostgreSQL's WAL senders hand the remaining WAL to the connected safekeepers first. A clean stop
   * keeps the PGDATA for the next start in this work_dir ({@link KeptPgdata}).
   */
  @Override
  public void stop() {
    boolean wasRunning = running.getAndSet(false);
    followKeepers.forEach(Thread::interrupt);
    tlsWatch.close();
    closeSlotTrimmer();
    server.stop();
    if (wasRunning) {
      KeptPgdata.markCleanStop(spec);
    }
  }

  /** SIGKILL of PostgreSQL and all its processes, as when the compute's machine dies. */
  @Override
  public void kill() {
    running.set(false);
    followKeepers.forEach(Thread::interrupt);
    tlsWatch.close();
    server.kill();
    closeSlotTrimmer();
  }

  private void closeSlotTrimmer() {
    SlotTrimmer t = slotTrimmer;
    if (t != null) {
      t.close();
    }
  }

  @Override
  public void close() {
    stop();
  }
}
