package dev.arbor.compute.agent;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.api.compute.AgentActivity;
import dev.arbor.api.compute.AgentCommand;
import dev.arbor.api.compute.AgentStatus;
import dev.arbor.api.compute.AgentStatus.Phase;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.api.compute.InvalidSpecException;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.compute.start.ComputeSpec;
import dev.arbor.compute.start.ComputeStart;
import dev.arbor.compute.start.StorageAuthHeader;
import dev.arbor.compute.start.ComputeStartException;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.start.SnapshotStart;
import dev.arbor.compute.start.StartedCompute;
import dev.arbor.postgres.MissingPrerequisiteException;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.server.HttpApi;
import dev.arbor.client.ComputeAgentClient;
import dev.arbor.client.ComputeSpecJson;
import dev.arbor.server.Response;
import dev.arbor.api.pageserver.TimelineInfo;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The compute agent: the process beside PostgreSQL in a compute (a pod's main process, or a child of the
 * {@code arbor} CLI). It runs the start sequence for its spec, applies the spec's roles and databases,
 * reports status and metrics over HTTP, copies PostgreSQL's log to its stdout, and on SIGTERM shuts
 * PostgreSQL down cleanly and exits 0.
 * <pre>
 * ComputeAgent --spec FILE        (or the spec's JSON in the environment variable ARBOR_COMPUTE_SPEC)
 *
 * GET /status    AgentStatus as JSON: phase, mode, tenant, timeline, generation, pg_tli, last_activity, current_lsn, ...
 * GET /metrics   Prometheus text format: arbor_compute_up, arbor_compute_current_lsn_bytes, arbor_compute_connections, ...
 * GET /ready     200 {"phase":"Running"} once the compute runs (data there, roles applied), else 503 compute-not-running:
 *                the pod's readiness probe, so that nothing routes clients to a compute that is not serving yet
 * GET /activity  AgentActivity: PostgreSQL sampled now: sampled_at, last_activity, kept_awake_by
 * POST /activity a client connection was just made (the proxy): last_activity becomes now; 204
 * GET /openapi.json  the OpenAPI document of these routes
 * </pre>
 * Exit codes: 0 after SIGTERM/SIGINT and a clean stop; 1 when the compute cannot start or PostgreSQL exits
 * on its own; 2 for a spec it cannot run. Expected failures are one log line that says what to do, never a
 * stack trace.
 */
public final class ComputeAgent implements AutoCloseable {
  static {
    configureLogging(); // before any logger exists
  }

  private static final Logger log = LoggerFactory.getLogger(ComputeAgent.class);
  static final String APPLICATION_NAME = "arbor-compute-agent";

  private final ComputeAgentSpec spec;
  private final Function<String, String> environment;
  private final Instant createdAt = Instant.now();
  private final CountDownLatch startEnded = new CountDownLatch(1);
  private final CompletableFuture<Integer> exitCode = new CompletableFuture<>();
  private final Object stopLock = new Object();
  private volatile Phase phase = Phase.STARTING;
  private volatile String error;
  private volatile Instant startedAt;
  private volatile Duration startDuration;
  private volatile Thread starter;
  private volatile boolean stopRequested;
  private boolean stopped;
  private HttpApi http;
  private ClientTls storageTls;
  private PostgresLogForwarder postgresLog;
  private volatile StartedCompute compute;
  private Connection connection;
  private volatile ComputeMonitor monitor;
  private volatile StorageAuthHeader storageAuthHeader;
  /** The latest {@code POST /activity}, or null. */
  private final AtomicReference<Instant> reportedActivity = new AtomicReference<>();

  /** @param environment where {@code password_env} names are looked up ({@code System::getenv} in production) */
  public ComputeAgent(ComputeAgentSpec spec, Function<String, String> environment) {
    this.spec = spec;
    this.environment = environment;
  }

  /**
   * Serves HTTP, then starts the compute and applies roles and databases; returns once the phase is
   * Running. On failure the caller reports the exception and {@link #close()}s the agent, which stops
   * whatever was started.
   */
  public ComputeAgent start() throws IOException, SQLException {
    starter = Thread.currentThread();
    try {
      http = httpApi();
      try {
        http.start(new InetSocketAddress(spec.listenHost(), spec.httpPort()));
      } catch (IOException e) {
        throw new ComputeStartException("cannot serve the agent's HTTP API on " + spec.listenHost() + ":" + spec.httpPort() + " ("
            + ComputeStartException.describe(e) + "); pick another http_port or listen_host", e);
      }
      log.info("event=agent_starting mode={} tenant={} timeline={}{} status_url=http://{}:{}/status", spec.mode().text(),
          spec.tenantId(), spec.timelineId(), spec.lsn() == null ? "" : " lsn=" + spec.lsn(), spec.listenHost(), http.port());

      // Everything that can be refused without touching the timeline is checked before the start sequence,
      // which for read_write elects a new generation and so fences the previous compute.
      RolesAndDatabases catalog = RolesAndDatabases.resolve(spec, environment);
      checkTimeline();
      ComputeSpec computeSpec = new ComputeSpec(spec.tenantId(), spec.timelineId(), spec.pageserverUrl(), spec.safekeepers(),
          PostgresInstallation.find(spec.postgresVersion()), spec.workDir(), spec.listenHost(), spec.port(), spec.parameters(), null,
          storageTokens(), storageTls(), spec.tls());
      computeSpec.createWorkDir();
      postgresLog = new PostgresLogForwarder(computeSpec.logFile(), System.out).start();

      compute = spec.mode() == Mode.READ_WRITE
          ? new ComputeStart(computeSpec).start()
          : new SnapshotStart(computeSpec, spec.lsn()).start();
      // restore_command reads its token from a header file in PGDATA: kept in step with the token file from now on.
      storageAuthHeader = StorageAuthHeader.keepFresh(computeSpec.dataDir(), computeSpec.storageTokens());
      connection = compute.server().connectLocal("postgres", ComputeStart.SUPERUSER, APPLICATION_NAME);
      applyCatalog(catalog);
      monitor = new ComputeMonitor(compute.server(), connection, compute::ownSessionPids, Instant.now(), this::postgresExited)
          .start();
      startedAt = Instant.now();
      startDuration = Duration.between(createdAt, startedAt);
      if (!stopRequested) { // a SIGTERM that came during the last steps has already made it Stopping
        phase = Phase.RUNNING;
      }
      log.info("event=compute_running mode={} port={} start_duration_ms={}", spec.mode().text(), spec.port(), startDuration.toMillis());
      return this;
    } finally {
      starter = null;
      startEnded.countDown();
    }
  }

  /** The agent's HTTP API, not listening yet: status, activity, metrics and its OpenAPI document. */
  HttpApi httpApi() {
    HttpApi api = new HttpApi("compute-agent")
        .route("GET", ComputeAgentClient.STATUS_PATH, r -> Response.ok(status()))
        .route("GET", ComputeAgentClient.READY_PATH, r -> Response.ok(ready()))
        .route("GET", ComputeAgentClient.ACTIVITY_PATH, r -> Response.ok(activity()))
        .route("POST", ComputeAgentClient.ACTIVITY_PATH, r -> {
          reportActivity();
          return Response.noContent();
        })
        .document("/openapi.json", ComputeAgent.class.getResource("/compute-agent-openapi.json"));
    AgentMetrics.register(api, spec, this::status, () -> startDuration);
    return api;
  }

  /**
   * The spec's {@code storage_token_file}, read on every call; none without one. Sent over plain HTTP only when the spec
   * says {@code storage_insecure_http}.
   */
  private TokenSource storageTokens() {
    TokenSource tokens = TokenSource.fileOrNone(spec.storageTokenFile() == null ? null : Path.of(spec.storageTokenFile()));
    return Boolean.TRUE.equals(spec.storageInsecureHttp()) ? tokens.allowPlainHttp() : tokens;
  }

  /** Whom https:// storage URLs are trusted from: the spec's {@code storage_ca_file}, read once per agent. */
  private ClientTls storageTls() {
    if (storageTls == null) {
      try {
        storageTls = ClientTls.trustingOrSystem(spec.storageCaFile() == null ? null : Path.of(spec.storageCaFile()));
      } catch (IOException e) {
        throw new ComputeStartException("storage_ca_file: " + e.getMessage() + "; give the PEM bundle of the CA that signed the "
            + "storage engine's certificates", e);
      }
    }
    return storageTls;
  }

  /** The pageserver must be reachable and know the timeline, with the spec's PostgreSQL version. */
  private void checkTimeline() {
    TimelineInfo info;
    try {
      info = new PageserverClient(spec.pageserverUrl(), Duration.ofSeconds(10), RetryPolicy.NONE, storageTokens(), storageTls())
          .timeline(spec.tenantId(), spec.timelineId());
    } catch (ApiProblem p) {
      if (p.status() == 404) {
        throw new ComputeStartException("the pageserver at " + spec.pageserverUrl() + " has no timeline " + spec.timelineId()
            + " of tenant " + spec.tenantId() + " (" + p.getMessage() + "); create it first or fix tenant_id / timeline_id");
      }
      throw new ComputeStartException("the pageserver at " + spec.pageserverUrl() + " refused to describe timeline "
          + spec.timelineId() + ": " + p.getMessage());
    } catch (IOException e) {
      throw new ComputeStartException("cannot reach the pageserver at " + spec.pageserverUrl() + " ("
          + ComputeStartException.describe(e) + "); check pageserver_url and that the storage engine is running");
    }
    if (info.pgVersion() != spec.postgresVersion()) {
      throw InvalidSpecException.of("postgres_version", "is " + spec.postgresVersion() + " but timeline " + spec.timelineId()
          + " holds PostgreSQL " + info.pgVersion() + " data; set postgres_version to " + info.pgVersion());
    }
  }

  /**
   * Read-write: make the roles and databases match the spec. Read-only: a snapshot cannot change, so only
   * report where it differs from the spec (e.g. a role created after the snapshot's LSN).
   */
  private void applyCatalog(RolesAndDatabases catalog) throws SQLException {
    try {
      if (compute.readOnly()) {
        List<RolesAndDatabases.Change> differences = catalog.differences(connection);
        for (var d : differences) {
          log.warn("event=snapshot_differs_from_spec kind={} name={} would_be={} attributes={}", d.kind(), d.name(), d.action(),
              d.attributes());
        }
        log.info("event=catalog_checked roles={} databases={} differences={}", catalog.roleCount(), catalog.databaseCount(),
            differences.size());
        return;
      }
      List<RolesAndDatabases.Change> made = catalog.apply(connection);
      for (var c : made) {
        log.info("event={}_{} name={} attributes={}", c.kind(), c.action(), c.name(), c.attributes());
      }
      log.info("event=catalog_applied roles={} databases={} changed={} unchanged={}", catalog.roleCount(), catalog.databaseCount(),
          made.size(), catalog.roleCount() + catalog.databaseCount() - made.size());
    } finally {
      catalog.forgetPasswords();
    }
  }

  /** What {@code GET /status} answers. */
  public AgentStatus status() {
    ComputeMonitor.Sample s = monitor == null ? null : monitor.latest();
    StartedCompute c = compute;
    RunningCompute rw = c instanceof RunningCompute r ? r : null;
    return new AgentStatus(phase, spec.mode(), spec.tenantId(), spec.timelineId(),
        rw == null ? null : rw.generation(), rw == null ? null : rw.pgTli(), spec.lsn(),
        s == null ? null : lastActivity(s), s == null ? null : s.currentLsn(), s == null ? null : s.connections(),
        startedAt, rw == null ? null : rw.fenced(), error);
  }

  /**
   * What {@code GET /activity} answers: PostgreSQL sampled now, the re-check a suspender makes just before it scales
   * the compute down.
   *
   * @throws ApiProblem 503 {@code compute-not-running} unless the compute is Running
   */
  AgentActivity activity() throws SQLException {
    ComputeMonitor m = monitor;
    Phase p = phase;
    if (p != Phase.RUNNING || m == null) {
      throw notRunning("the compute is " + p.text());
    }
    ComputeMonitor.Sample s;
    try {
      s = m.sampleNow();
    } catch (SQLException e) {
      if (!compute.server().isRunning()) {
        throw notRunning("PostgreSQL exited");
      }
      throw e;
    }
    return new AgentActivity(s.at(), lastActivity(s), s.keptAwakeBy());
  }

  private static ApiProblem notRunning(String what) {
    return ApiProblem.unavailable(ProblemTypes.COMPUTE_NOT_RUNNING, what + ", so PostgreSQL cannot be sampled; GET "
        + ComputeAgentClient.STATUS_PATH + " tells its phase and error");
  }

  /**
   * {@code GET /ready}, the pod's readiness probe: PostgreSQL accepts TCP connections before the compute has its data
   * and roles, so only the agent's phase says when clients may come.
   *
   * @throws ApiProblem 503 {@code compute-not-running} unless the compute is Running
   */
  Map<String, String> ready() {
    Phase p = phase;
    if (p != Phase.RUNNING) {
      throw ApiProblem.unavailable(ProblemTypes.COMPUTE_NOT_RUNNING, "the compute is " + p.text() + ", not ready for clients; GET "
          + ComputeAgentClient.STATUS_PATH + " tells its phase and error");
    }
    return Map.of("phase", p.text());
  }

  /**
   * {@code POST /activity}: a client connection was just made through the proxy. Before Running it changes nothing
   * that is reported: the idle clock starts when the compute runs.
   */
  void reportActivity() {
    Instant now = Instant.now();
    reportedActivity.accumulateAndGet(now, (a, b) -> a == null || b.isAfter(a) ? b : a);
  }

  /** The sample's last activity, or the latest one the proxy reported if that is later. */
  private Instant lastActivity(ComputeMonitor.Sample s) {
    Instant reported = reportedActivity.get();
    return reported != null && reported.isAfter(s.lastActivity()) ? reported : s.lastActivity();
  }

  public int httpPort() {
    return http.port();
  }

  public boolean stopRequested() {
    return stopRequested;
  }

  /** Records why the compute failed: phase Failed. */
  void fail(String reason) {
    error = reason;
    phase = Phase.FAILED;
  }

  private void postgresExited() {
    if (stopRequested) {
      return;
    }
    fail("PostgreSQL exited on its own");
    log.error("event=postgres_exited reason=\"PostgreSQL exited while the compute was running; see its log above\"");
    exitCode.complete(1);
  }

  /** Blocks until the compute ends on its own (PostgreSQL exited) and returns the exit code for that. */
  public int awaitFailure() throws InterruptedException {
    try {
      return exitCode.get();
    } catch (ExecutionException e) {
      return 1;
    }
  }

  /**
   * Stops the compute: a start in progress is interrupted (and cleans up after itself), then PostgreSQL gets
   * a fast shutdown — for read_write its WAL senders hand the remaining WAL to the connected safekeepers
   * first — and the HTTP server closes. Safe to call more than once and from a shutdown hook.
   */
  public void stop() {
    synchronized (stopLock) {
      if (stopped) {
        return;
      }
      stopped = true;
    }
    stopRequested = true;
    if (phase != Phase.FAILED) {
      phase = Phase.STOPPING;
    }
    log.info("event=agent_stopping phase={}", phase.text());
    Thread t = starter;
    if (t != null) {
      t.interrupt();
      try {
        startEnded.await(2, TimeUnit.MINUTES);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (monitor != null) {
      monitor.close();
    }
    if (storageAuthHeader != null) {
      storageAuthHeader.close();
    }
    if (connection != null) {
      try {
        connection.close();
      } catch (SQLException ignored) {
        // PostgreSQL is about to stop anyway
      }
    }
    if (compute != null) {
      compute.stop();
    }
    if (postgresLog != null) {
      postgresLog.close(); // after PostgreSQL exited: its last lines (shutdown checkpoint) are copied too
    }
    if (http != null) {
      http.close();
    }
    log.info("event=agent_stopped");
  }

  @Override
  public void close() {
    stop();
  }

  private static volatile boolean exitingOnOurOwn;

  /**
   * The check every spec passes before the agent does anything with it: the JSON mapping of the compute spec,
   * unknown fields refused, and the spec's own validation. What needs the machine — the password sources, an
   * installed PostgreSQL of {@code postgres_version}, a pageserver that knows the timeline — {@link #start()}
   * checks. A spec refused here makes the agent exit with code 2.
   *
   * @throws InvalidSpecException naming every field that is wrong and the fix
   */
  public static ComputeAgentSpec acceptSpec(String json) {
    return ComputeSpecJson.parse(json);
  }

  public static void main(String[] args) throws InterruptedException {
    // The safekeepers and the pageserver are reached by name, and a replaced pod has a new IP.
    dev.arbor.client.NameLookups.followReplacedPods();
    ComputeAgentSpec spec;
    try {
      spec = acceptSpec(readSpec(args));
    } catch (UsageException e) {
      System.err.println("compute agent: " + e.getMessage());
      System.err.println("usage: ComputeAgent --spec FILE   (or the spec's JSON in $" + AgentCommand.SPEC_ENV + ")");
      exit(2);
      return;
    } catch (InvalidSpecException e) {
      e.errors().forEach(f -> log.error("event=spec_invalid field={} error=\"{}\"", f.field(), f.message()));
      exit(2);
      return;
    }
    var agent = new ComputeAgent(spec, System::getenv);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      agent.stop();
      if (!exitingOnOurOwn) {
        // A signal (SIGTERM from Kubernetes or the CLI) asked for this stop and it went cleanly: that is
        // success, but the JVM would report 128 + the signal number.
        Runtime.getRuntime().halt(0);
      }
    }, "agent-shutdown"));
    try {
      agent.start();
    } catch (InvalidSpecException e) {
      e.errors().forEach(f -> log.error("event=spec_invalid field={} error=\"{}\"", f.field(), f.message()));
      agent.fail(e.getMessage());
      exit(2);
    } catch (ComputeStartException | MissingPrerequisiteException | ApiProblem | IOException | SQLException e) {
      if (agent.stopRequested()) {
        return; // interrupted by SIGTERM: the shutdown hook finishes the stop and exits 0
      }
      String reason = e instanceof IOException || e instanceof SQLException ? ComputeStartException.describe(e) : e.getMessage();
      agent.fail(reason);
      // One line: a quoted value with line breaks would split the event (PostgreSQL's own lines are above anyway).
      log.error("event=start_failed reason=\"{}\"", reason.replace("\"", "'").replaceAll("\\s*\\R\\s*", " / "));
      exit(1);
    } catch (RuntimeException e) {
      if (agent.stopRequested()) {
        return;
      }
      agent.fail(e.toString());
      log.error("event=start_failed reason=\"unexpected error\"", e); // a bug: the stack trace is what helps
      exit(1);
    }
    exit(agent.awaitFailure());
  }

  private static void exit(int code) {
    exitingOnOurOwn = true;
    System.exit(code);
  }

  private static final class UsageException extends Exception {
    UsageException(String message) {
      super(message);
    }
  }

  private static String readSpec(String[] args) throws UsageException {
    if (args.length == 2 && args[0].equals(AgentCommand.SPEC_OPTION)) {
      try {
        return Files.readString(Path.of(args[1]), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UsageException("cannot read the spec file " + args[1] + " (" + ComputeStartException.describe(e) + ")");
      }
    }
    if (args.length == 0) {
      String json = System.getenv(AgentCommand.SPEC_ENV);
      if (json == null || json.isBlank()) {
        throw new UsageException("no spec: pass --spec FILE or set " + AgentCommand.SPEC_ENV + " to the spec's JSON");
      }
      return json;
    }
    throw new UsageException("unexpected arguments " + String.join(" ", args));
  }

  /**
   * The agent logs to stdout, where PostgreSQL's lines go too: one stream in time order, as a container's
   * log should be. System properties given on the command line win.
   */
  private static void configureLogging() {
    setIfAbsent("org.slf4j.simpleLogger.logFile", "System.out");
    setIfAbsent("org.slf4j.simpleLogger.showDateTime", "true");
    setIfAbsent("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    setIfAbsent("org.slf4j.simpleLogger.showThreadName", "false");
    setIfAbsent("org.slf4j.simpleLogger.showShortLogName", "true");
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }
}
