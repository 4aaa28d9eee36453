package dev.arbor.compute.start;

import dev.arbor.api.Lsn;
import dev.arbor.api.pageserver.BasebackupRequest;
import dev.arbor.api.pageserver.GenerationReservation;
import dev.arbor.api.pageserver.GenerationStartedRequest;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.postgres.PostgresServer;
import dev.arbor.postgres.RedoRange;
import dev.arbor.postgres.TimelineHistory;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.ApiProblem;
import dev.arbor.client.HttpJson;
import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.api.safekeeper.FenceResult;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.client.SafekeeperSet;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.postgresql.util.PasswordUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The start sequence of a read-write compute (ARCHITECTURE.md, "End of WAL on restart" and "Start path"):
 * <ol>
 *   <li>elect a new generation: a majority of safekeepers accepts it, and from then on follows no older
 *       compute (fencing);</li>
 *   <li>reserve the generation with the pageserver, which allocates the PostgreSQL TLI to promote into;</li>
 *   <li>take the end of WAL as the highest (TLI, flush LSN) among the accepting majority (no further than
 *       where the newest started generation began, if none of its WAL reached them);</li>
 *   <li>fetch the basebackup (image + recovery configuration whose restore_command serves WAL cut at that
 *       end), configure synchronous replication to the safekeepers, start PostgreSQL, wait until it
 *       replayed everything and promoted;</li>
 *   <li>check that the new TLI begins at or after the last whole record below the elected end
 *       ({@link RecoveryEnd}): otherwise acknowledged commits would be missing, and the start fails;</li>
 *   <li>set the replication role's password, create a slot per safekeeper, report the generation started,
 *       tell the safekeepers to follow, and start bounding what a lagging minority of them holds back
 *       ({@link SlotTrimmer}).</li>
 * </ol>
 */
public final class ComputeStart {
  private static final Logger log = LoggerFactory.getLogger(ComputeStart.class);
  public static final String REPLICATION_ROLE = "arbor_replication";
  public static final String SUPERUSER = "postgres";
  /**
   * The roles the compute itself logs in as (the agent, the slot trimmer, the safekeepers): their sessions are
   * never client activity. A spec may not name them ({@code ComputeAgentSpec.RESERVED_ROLES}).
   */
  public static final Set<String> INTERNAL_ROLES = Set.of(SUPERUSER, REPLICATION_ROLE);
  private static final int ELECTION_ATTEMPTS = 10;
  /** A fence and the WAL the recovery check reads wait as long as the start's pageserver calls; a status read, 10 s. */
  private static final Duration SAFEKEEPER_WRITE_TIMEOUT = Duration.ofSeconds(30);
  /** Reads of the end of WAL outlast a restart of its safekeeper: refused connections are tried again for ~10 s. */
  private static final RetryPolicy RECOVERY_END_RETRY = new RetryPolicy(8, Duration.ofMillis(100), Duration.ofSeconds(2)).refusedOnly();

  private final ComputeSpec spec;
  private final SafekeeperSet safekeepers;
  private final HttpJson http = new HttpJson(Duration.ofSeconds(30));
  private final PageserverClient pageserver;

  public ComputeStart(ComputeSpec spec) {
    this.spec = spec;
    this.pageserver = pageserver(spec);
    this.safekeepers = new SafekeeperSet(List.copyOf(spec.safekeepers().values()), Duration.ofSeconds(10), spec.storageTokens(),
        spec.storageTls());
  }

  public RunningCompute start() throws IOException {
    // The work directory first: a start that cannot use it must not fence the compute that may be using it.
    var pgdata = new ComputePgdata(spec);
    pgdata.checkReplaceable();
    // Whether a clean stop left a PGDATA this start may use is read beside the election: it changes nothing.
    CompletableFuture<Optional<KeptPgdata>> keptLookup = CompletableFuture.supplyAsync(() -> KeptPgdata.find(spec),
        command -> Thread.ofVirtual().name("kept-pgdata").start(command));
    Election election = elect();
    Optional<KeptPgdata> kept = join(keptLookup);
    log.info("event=generation_elected tenant={} timeline={} generation={} pg_tli={} end_tli={} end_lsn={} from={}",
        spec.tenant(), spec.timeline(), election.generation, election.pgTli, election.end.tli(), election.end.flushLsn(),
        election.end.safekeeperId());

    long t0 = System.nanoTime();
    PostgresServer server = null;
    BasebackupRequest request = election.end.tli() > 0
        ? BasebackupRequest.electedEnd(election.end.tli(), election.end.flushLsn()) : BasebackupRequest.head();
    Optional<String> unusable = kept.isEmpty() ? Optional.of("none kept") : kept.get().unusableFor(election.end);
    if (unusable.isEmpty()) {
      kept.get().prepare(spec);
      request = BasebackupRequest.recoveryOnly(election.end.tli(), election.end.flushLsn(), kept.get().redo());
      log.info("event=pgdata_reused timeline={} tli={} checkpoint={} wal_end={}", spec.timeline(), kept.get().tli(),
          kept.get().checkpoint(), kept.get().walEnd());
    } else {
      if (kept.isPresent()) {
        log.info("event=pgdata_not_reused timeline={} reason=\"{}\"", spec.timeline(), unusable.get());
      }
      pgdata.prepareEmpty();
    }
    long basebackupBytes = pgdata.extractBasebackup(request);
    long t1 = System.nanoTime();
    // Where recovery must end, read from the WAL while PostgreSQL replays it.
    CompletableFuture<Lsn> mustReach = election.end.tli() == 0 ? null : CompletableFuture.supplyAsync(() -> {
      try {
        return recoveryEnd(election).lastRecordEnd();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }, command -> Thread.ofVirtual().name("recovery-end").start(command));
    // From here on the WAL recovery will read downloads in the background, while PostgreSQL gets ready.
    try (var prefetch = WalPrefetch.start(pgdata.dir(), spec.storageTokens(), spec.storageTls())) {
      configure(pgdata);
      log.info("event=pgdata_ready timeline={} basebackup_ms={} basebackup_bytes={} configure_ms={}", spec.timeline(),
          (t1 - t0) / 1_000_000, basebackupBytes, (System.nanoTime() - t1) / 1_000_000);
      server = PostgresServer.builder(spec.postgres(), pgdata.dir()).port(spec.port())
          .socketDir(spec.socketDir()).logFile(spec.logFile())
          .setting("listen_addresses", spec.listenHost())
          .build();
      server.start();
      awaitPromotion(server);
    } catch (IOException | RuntimeException e) {
      if (server != null) {
        server.stop();
      }
      throw e;
    }
    try {
      return finishStart(server, election, mustReach, pgdata);
    } catch (IOException | RuntimeException e) {
      server.stop();
      throw e;
    }
  }

  /**
   * Reads the WAL below the elected end from the safekeeper that holds it, and from the pageserver where
   * that safekeeper has no copy (an older TLI's segment, or a TLI it never received).
   */
  private RecoveryEnd recoveryEnd(Election election) {
    // The one safekeeper that holds the elected end: a restart of it while the start reads must not fail the start.
    SafekeeperClient safekeeper = safekeepers.member(spec.safekeepers().get(election.end.safekeeperId()))
        .withTimeout(SAFEKEEPER_WRITE_TIMEOUT).withRetry(RECOVERY_END_RETRY);
    return RecoveryEnd.overHttp(Lsn.DEFAULT_SEGMENT_SIZE, election.end.tli(), election.end.flushLsn(),
        RecoveryEnd.ofSafekeeper(safekeeper, spec.tenant(), spec.timeline()), pageserver, spec);
  }

  private record Election(long generation, int pgTli, TimelineWalStatus end) {}

  /**
   * Raft-style election of the new generation. A safekeeper accepts generation g only if g is above all it
   * accepted before; once a majority accepted, the old compute can never again collect a quorum of flush
   * acknowledgements, so the highest position among the acceptors covers every acknowledged commit.
   */
  private Election elect() throws IOException {
    long candidate = 0;
    for (int attempt = 1; attempt <= ELECTION_ATTEMPTS; attempt++) {
      List<TimelineWalStatus> known = safekeepers.quorumStatuses(spec.tenant(), spec.timeline());
      // Whether the timeline has WAL to lose: if any majority holds some, this majority sees it (two majorities
      // intersect). A safekeeper that holds none of such a timeline lost it (a wiped disk) and must not vote.
      boolean timelineStarted = known.stream().anyMatch(s -> s.tli() > 0);
      if (known.size() < safekeepers.quorum()) {
        throw new ComputeStartException("only " + known.size() + " of " + safekeepers.size() + " safekeepers are reachable; "
            + "a majority (" + safekeepers.quorum() + ") is needed to start a compute without losing acknowledged commits");
      }
      candidate = Math.max(candidate, known.stream().mapToLong(TimelineWalStatus::generation).max().orElse(0)) + 1;
      long g = candidate;
      var fence = new FenceRequest(g, timelineStarted);
      List<FenceResult> accepted = safekeepers.onQuorum(sk -> sk.withTimeout(SAFEKEEPER_WRITE_TIMEOUT)
          .fence(spec.tenant(), spec.timeline(), fence));
      if (accepted.size() < safekeepers.quorum()) {
        log.info("event=election_retry generation={} accepted={} quorum={}", g, accepted.size(), safekeepers.quorum());
        ComputeStartException.pause(Duration.ofMillis(100L * attempt));
        continue;
      }
      GenerationReservation reservation;
      try {
        reservation = pageserver.reserveGeneration(spec.tenant(), spec.timeline(), g);
      } catch (ApiProblem p) {
        if (p.status() == 409) { // the pageserver saw a higher generation: run again above it
          log.info("event=election_retry generation={} reason=\"{}\"", g, p.getMessage());
          continue;
        }
        throw new ComputeStartException("the pageserver refused generation " + g + ": " + p.getMessage(), p);
      }
      TimelineWalStatus end = accepted.stream().map(FenceResult::asStatus)
          .max(Comparator.comparing(s -> s, TimelineWalStatus::comparePositions)).orElseThrow();
      if (end.tli() < reservation.latestStartedTli()) {
        // The newest generation promoted, but none of its WAL reached this majority. What they hold on an
        // older TLI past its switch point was never acknowledged (that generation fenced its writer) and is
        // superseded by its history: the end of WAL is where it began.
        log.info("event=election_end_superseded generation={} tli={} flush_lsn={} started_tli={} started_lsn={}", g, end.tli(),
            end.flushLsn(), reservation.latestStartedTli(), reservation.latestStartedLsn());
        end = new TimelineWalStatus(end.safekeeperId(), end.generation(), reservation.latestStartedTli(),
            reservation.latestStartedLsn(), false);
      }
      return new Election(g, reservation.pgTli(), end);
    }
    throw new ComputeStartException("could not get a generation accepted by a majority of safekeepers after "
        + ELECTION_ATTEMPTS + " attempts (another compute may be starting on timeline " + spec.timeline() + ")");
  }

  private void configure(ComputePgdata pgdata) throws IOException {
    List<String> ids = List.copyOf(spec.safekeepers().keySet());
    String names = String.join(", ", ids.stream().map(id -> "\"" + id + "\"").toList());
    Map<String, String> managed = new LinkedHashMap<>();
    managed.put("wal_level", "replica");
    // Never below PostgreSQL's defaults: recovery refuses settings lower than those the WAL was written with.
    int senders = Math.max(10, ids.size() + 5);
    managed.put("max_wal_senders", Integer.toString(senders));
    managed.put("max_replication_slots", Integer.toString(senders));
    // PostgreSQL's limit is per slot: a burst of WAL before one commit (VACUUM, CREATE INDEX) passes it on every
    // slot at once, and it would give up WAL no safekeeper has. The SlotTrimmer bounds a lagging minority only.
    managed.put("max_slot_wal_keep_size", "-1");
    managed.put("wal_keep_size", "0");
    // A commit returns only once a majority of safekeepers has flushed it.
    managed.put("synchronous_standby_names", "ANY " + safekeepers.quorum() + " (" + names + ")");
    managed.put("synchronous_commit", "on");
    managed.put("password_encryption", "scram-sha-256");
    managed.put("hot_standby", "on");
    pgdata.configure("read-write, streaming to the safekeepers", managed, spec.settings(), true);
  }

  /**
   * Polls over one connection (opened once PostgreSQL accepts connections, at consistency) rather than a
   * psql process per poll: forty of those during a one-second replay take CPU from the replay itself.
   */
  private void awaitPromotion(PostgresServer server) throws IOException {
    long deadline = System.nanoTime() + Duration.ofMinutes(30).toNanos();
    Connection connection = null;
    try {
      while (System.nanoTime() < deadline) {
        if (!server.isRunning()) {
          throw new ComputeStartException("PostgreSQL exited during recovery; its log ends with:\n" + server.logTail());
        }
        try {
          if (connection == null) {
            connection = server.connectLocal("postgres", SUPERUSER, "arbor-start");
          }
          try (Statement st = connection.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_is_in_recovery()")) {
            if (rs.next() && !rs.getBoolean(1)) {
              return;
            }
          }
        } catch (SQLException notYet) {
          // not accepting connections until recovery reached consistency
          closeQuietly(connection);
          connection = null;
        }
        ComputeStartException.pause(Duration.ofMillis(25));
      }
    } finally {
      closeQuietly(connection);
    }
    throw new ComputeStartException("PostgreSQL did not finish recovery within 30 minutes; its log ends with:\n" + server.logTail());
  }

  private static void closeQuietly(Connection connection) {
    if (connection == null) {
      return;
    }
    try {
      connection.close();
    } catch (SQLException ignored) {
      // only used to poll
    }
  }

  private RunningCompute finishStart(PostgresServer server, Election election, CompletableFuture<Lsn> mustReach, ComputePgdata pgdata)
      throws IOException {
    String walFile = server.psql(SUPERUSER, "postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())");
    int tli = WalFileName.timelineOf(walFile);
    if (tli != election.pgTli) {
      throw new ComputeStartException("PostgreSQL promoted into TLI " + tli + " but the pageserver reserved TLI " + election.pgTli
          + " for generation " + election.generation + "; refusing to stream WAL that could clash");
    }
    String history = Files.readString(spec.dataDir().resolve("pg_wal").resolve(WalFileName.history(tli)));
    TimelineHistory.Begin branchedOff = TimelineHistory.of(tli, history).parentSwitch().orElseThrow(() -> new ComputeStartException(
        "PostgreSQL's history file of TLI " + tli + " names no parent TLI; it did not promote from a recovery"));
    int parentTli = branchedOff.tli();
    Lsn startLsn = branchedOff.lsn();
    if (mustReach != null) {
      checkRecoveredToElectedEnd(election, parentTli, startLsn, join(mustReach));
    }

    String replicationPassword = randomPassword();
    // These commits must not wait for the safekeepers, which cannot connect before the role has a password.
    // No password in clear text reaches PostgreSQL (statement logging would write it to the log): the
    // replication role gets a SCRAM verifier computed here. The superuser has no password at all (one an earlier
    // start of this timeline set is removed): it logs in only over the private unix socket, and pg_hba rejects it
    // on TCP (ComputePgdata).
    server.psql(SUPERUSER, "postgres", "SET synchronous_commit = local; "
        + "ALTER ROLE " + SUPERUSER + " PASSWORD NULL; "
        + "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" + REPLICATION_ROLE + "') THEN "
        + "CREATE ROLE " + REPLICATION_ROLE + " REPLICATION LOGIN; END IF; END $$; "
        + "ALTER ROLE " + REPLICATION_ROLE + " PASSWORD '" + scramVerifier(replicationPassword) + "';");
    server.psql(SUPERUSER, "postgres", String.join("; ", spec.safekeepers().keySet().stream()
        .map(id -> "SELECT pg_create_physical_replication_slot('" + slotName(id) + "', true)").toList()));

    pageserver.generationStarted(spec.tenant(), spec.timeline(), election.generation,
        new GenerationStartedRequest(parentTli, startLsn, history));

    Optional<RedoRange> redo = RedoRange.lastIn(server.logFile());
    var compute = new RunningCompute(spec, server, safekeepers, election.generation, tli, startLsn,
        replicationPassword, redo.orElse(null), pgdata.watchTls(server));
    int following = startFollowing(compute);
    try {
      compute.startTrimmingSlots();
    } catch (SQLException | RuntimeException e) {
      compute.stop();
      throw e instanceof ComputeStartException c ? c
          : new ComputeStartException("cannot watch the safekeepers' replication slots: " + e.getMessage(), e);
    }
    log.info("event=compute_started tenant={} timeline={} generation={} pg_tli={} start_lsn={} port={} safekeepers_following={} "
            + "redo_start={} redo_done={} replayed_bytes={}", spec.tenant(), spec.timeline(), election.generation, tli, startLsn,
        spec.port(), following, redo.map(r -> r.start().toString()).orElse("none"), redo.map(r -> r.done().toString()).orElse("none"),
        redo.map(RedoRange::bytes).orElse(0L));
    return compute;
  }

  /**
   * Nothing has been reported or streamed yet, so refusing here loses nothing: the promoted PostgreSQL is
   * stopped, its TLI is never reported started, and no safekeeper ever follows it (its commits could never
   * be acknowledged meanwhile: they wait for a quorum that does not exist).
   */
  private void checkRecoveredToElectedEnd(Election election, int parentTli, Lsn startLsn, Lsn mustReach) {
    if (parentTli == election.end.tli() && !startLsn.isBefore(mustReach)) {
      return;
    }
    log.warn("event=recovery_ended_early tenant={} timeline={} generation={} parent_tli={} start_lsn={} end_tli={} end_lsn={} "
            + "last_record_end={}", spec.tenant(), spec.timeline(), election.generation, parentTli, startLsn, election.end.tli(),
        election.end.flushLsn(), mustReach);
    throw new ComputeStartException("PostgreSQL ended recovery at " + startLsn + " on TLI " + parentTli + ", before the end of WAL "
        + "this start was elected to reach (the last whole record before " + election.end.flushLsn() + " on TLI " + election.end.tli()
        + " ends at " + mustReach + "). Promoting there would lose acknowledged commits, so the start was stopped before "
        + "streaming anything. The compute log says which WAL file recovery could not get; make the pageserver and the "
        + "safekeepers serve it, then start again");
  }

  /** The start returns once a majority follows (or each safekeeper answered once), not after the slowest one. */
  private static int startFollowing(RunningCompute compute) {
    try {
      return compute.startFollowing();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      compute.stop();
      throw new ComputeStartException("The start was interrupted while the safekeepers were told to follow; PostgreSQL was stopped");
    }
  }

  private static <T> T join(CompletableFuture<T> future) throws IOException {
    try {
      return future.join();
    } catch (CompletionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof UncheckedIOException io) {
        throw io.getCause();
      }
      if (cause instanceof RuntimeException r) {
        throw r;
      }
      throw e;
    }
  }

  /** The physical slot the compute keeps for a safekeeper, e.g. {@code arbor_sk_2}. */
  public static String slotName(String safekeeperId) {
    return "arbor_" + safekeeperId.toLowerCase().replaceAll("[^a-z0-9_]", "_");
  }

  /**
   * The pageserver as the start path calls it: each call once, answered within 30 s. The start has deadlines of
   * its own (the agent's, the operator's), and a reservation must not be sent twice.
   */
  static PageserverClient pageserver(ComputeSpec spec) {
    return new PageserverClient(spec.pageserverUrl(), Duration.ofSeconds(30), RetryPolicy.NONE, spec.storageTokens(), spec.storageTls());
  }

  /** What PostgreSQL stores for a password; a verifier has no quote, so it needs no escaping in a literal. */
  static String scramVerifier(String password) {
    return PasswordUtil.encodeScramSha256(password.toCharArray());
  }

  private static String randomPassword() {
    byte[] b = new byte[24];
    new SecureRandom().nextBytes(b);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

}
