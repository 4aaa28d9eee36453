package dev.arbor.storage.safekeeper;

import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.api.safekeeper.SafekeeperStatus;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.api.safekeeper.TimelineWalStatus;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.client.HttpJson;
import dev.arbor.api.auth.Scope;
import dev.arbor.server.Access;
import dev.arbor.server.Request;
import dev.arbor.server.Response;
import dev.arbor.server.TwoPortApi;
import dev.arbor.server.TwoPortApi.Port;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.client.Json;
import com.fasterxml.jackson.databind.JsonNode;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A safekeeper: durable WAL for the timelines whose computes it follows, an HTTP control API (fence,
 * follow, status, WAL files) and an offloader that copies finished segments to object storage. Its state
 * per timeline lives under {@code dataDir/<tenant>/<timeline>/} and survives restarts; after a restart it
 * follows again when the compute's follow keeper asks.
 *
 * <p>With a management listener ({@link SafekeeperConfig#managementListen()}), computes reach only what they call
 * ({@link TwoPortApi}): the compute port serves the status, one timeline's state and WAL (also to the pageserver
 * and to peers catching up), fence and follow (computes only); deleting a timeline's WAL and {@code /metrics}
 * (which names every timeline) are served on the management port only, for the pageserver and scrapers.
 */
public final class Safekeeper implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Safekeeper.class);
  private static final Duration OFFLOAD_INTERVAL = Duration.ofSeconds(1);

  private final SafekeeperConfig config;
  private final TwoPortApi api;
  /** Bounds connecting to a peer safekeeper that a catch-up fetches complete segments from. */
  private static final Duration PEER_TIMEOUT = Duration.ofSeconds(10);
  private final Map<String, SafekeeperTimeline> timelines = new ConcurrentHashMap<>();
  /**
   * Timelines whose state could not be loaded at start (a damaged flush record or state file, say). They are
   * never served and never vote: what this safekeeper holds of them is unknown. The others are unaffected.
   */
  private final Map<String, Quarantined> quarantined = new ConcurrentHashMap<>();
  /** The last offload error per timeline ("tenant/timeline"), while it keeps failing. */
  private final Map<String, String> offloadErrors = new ConcurrentHashMap<>();
  private volatile boolean running = true;
  private Thread offloader;
  private final Counter walBytes;
  private final Timer flushDurations;
  private final Meter.MeterProvider<Counter> receiverFailures;
  private final Counter offloadedSegments;
  private final Counter offloadFailures;
  private final WalReceiver.Listener receiverMetrics;

  public Safekeeper(SafekeeperConfig config) {
    this.config = config;
    this.api = new TwoPortApi("safekeeper", "safekeeper-" + config.id(), config.listen(), config.managementListen(), Port.MANAGEMENT,
        config.auth().inbound(), config.auth().serverTls());
    MeterRegistry m = api.metrics();
    walBytes = Counter.builder("arbor_safekeeper_wal_bytes_total").description("WAL received from computes and made durable.")
        .register(m);
    flushDurations = Timer.builder("arbor_safekeeper_flush_duration_seconds")
        .description("Time to force one batch of WAL to disk; every acknowledged commit waits for one.")
        .serviceLevelObjectives(FLUSH_BUCKETS).register(m);
    receiverFailures = Counter.builder("arbor_safekeeper_receiver_failures_total")
        .description("WAL receivers that ended with an error, by reason (compute_unreachable, connection_lost, stale_timeline, ...).")
        .withRegistry(m);
    offloadedSegments = Counter.builder("arbor_safekeeper_offloaded_segments_total")
        .description("Complete WAL segments uploaded to object storage.").register(m);
    offloadFailures = Counter.builder("arbor_safekeeper_offload_failures_total")
        .description("Timeline offloads that failed (each is retried a second later).").register(m);
    receiverMetrics = registerMetrics(m);
    String tl = "/v1/tenant/{tenant_id}/timeline/{timeline_id}";
    api.document("/v1/openapi.json", Safekeeper.class.getResource("/safekeeper-openapi.json"))
        .route(Port.BOTH, "GET", SafekeeperClient.STATUS_PATH, Access.OPEN, r -> Response.ok(new SafekeeperStatus("safekeeper", config.id(),
            timelines.size(), quarantined.size())))
        // The compute's election and follow keepers, the pageserver's durable end, and the CLI read it.
        .route(Port.BOTH, "GET", tl, Access.ownTimeline(Scope.PAGESERVER), r -> Response.ok(existing(r).map(SafekeeperTimeline::status)
            .orElse(new TimelineWalStatus(config.id(), 0, 0, Lsn.ZERO, false))))
        .route(Port.COMPUTE, "POST", tl + "/fence", Access.ownTimeline(), r -> {
          JsonNode body = r.json();
          long g = generation(body);
          boolean started = timelineStarted(body);
          return Response.ok(timeline(r, true).orElseThrow().fence(g, started));
        })
        .route(Port.COMPUTE, "POST", tl + "/follow", Access.ownTimeline(), r -> {
          FollowRequest req = Json.MAPPER.treeToValue(r.json(), FollowRequest.class);
          if (req.tli() < 1) {
            throw ApiProblem.invalid("tli", "tli is required: the PostgreSQL timeline the compute of this generation promoted into, "
                + "which is the only compute this safekeeper will follow for it");
          }
          SafekeeperTimeline t = timeline(r, false).orElseThrow(() -> ApiProblem.conflict(ProblemTypes.FENCE_REQUIRED, "generation",
              "safekeeper " + config.id() + " has accepted no generation of this timeline; fence it with generation "
                  + req.generation() + " first"));
          t.follow(req);
          return Response.ok(t.status());
        })
        // A compute's recovery, the pageserver's restore_command answers and peers catching up fetch WAL.
        .route(Port.BOTH, "GET", tl + "/wal/{file}", Access.ownTimeline(Scope.PAGESERVER), r -> {
          Optional<Lsn> minFlush = r.query("min_flush_lsn").map(Lsn::parse);
          Optional<SafekeeperTimeline> t = existing(r);
          Optional<SafekeeperTimeline.WalFileBody> file = t.isPresent() ? t.get().walFile(r.path("file"), minFlush) : Optional.empty();
          if (file.isEmpty()) {
            throw ApiProblem.notFound(ProblemTypes.WAL_NOT_FOUND, "file", "safekeeper " + config.id() + " holds no durable " + r.path("file")
                + minFlush.map(l -> " flushed to " + l).orElse(""));
          }
          // The response owns the open file: it is closed when the exchange ends, written or not (the client
          // may leave before the headers), and a client that gets fewer bytes than declared sees an error.
          return Response.stream("application/octet-stream", file.get().length(), file.get().in());
        })
        // The pageserver deleting a timeline or tenant.
        .route(Port.MANAGEMENT, "DELETE", tl, Access.scopes(Scope.PAGESERVER), r -> {
          ids(r);
          Quarantined q = quarantined.remove(key(r));
          if (q != null) {
            deleteRecursively(q.dir());
            return Response.noContent();
          }
          Optional<SafekeeperTimeline> t = existing(r);
          if (t.isPresent()) {
            timelines.remove(key(r));
            t.get().deleteData();
          }
          return Response.noContent();
        });
  }

  /** 100 µs to 1 s. */
  private static final Duration[] FLUSH_BUCKETS = Stream.of(100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000)
      .map(micros -> Duration.of(micros, ChronoUnit.MICROS)).toArray(Duration[]::new);

  private double flushLsn(String key) {
    SafekeeperTimeline t = timelines.get(key);
    return t == null ? Double.NaN : t.flushPosition().map(p -> (double) p.lsn().value()).orElse(Double.NaN);
  }

  /** What {@code GET /metrics} shows besides the HTTP requests; see docs/storage-engine.md. */
  private WalReceiver.Listener registerMetrics(MeterRegistry m) {
    Gauge.builder("arbor_safekeeper_timelines", timelines::size)
        .description("Timelines this safekeeper holds WAL or a generation of.").register(m);
    Gauge.builder("arbor_safekeeper_quarantined_timelines", quarantined::size)
        .description("Timelines whose state could not be loaded at start; served by none of the routes.").register(m);
    MultiGauge flushLsns = MultiGauge.builder("arbor_safekeeper_flush_lsn_bytes")
        .description("The durable end of the newest TLI's WAL of each timeline, as a byte position.").register(m);
    // The rows are the timelines with durable WAL when scraped: a new one gets a sample, a deleted one loses its own.
    api.beforeScrape(() -> {
      List<MultiGauge.Row<?>> rows = new ArrayList<>();
      timelines.forEach((key, t) -> t.flushPosition().ifPresent(p -> {
        String[] ids = key.split("/");
        rows.add(MultiGauge.Row.of(Tags.of("tenant_id", ids[0], "timeline_id", ids[1]), () -> flushLsn(key)));
      }));
      flushLsns.register(rows, false);
    });
    return new WalReceiver.Listener() {
      @Override
      public void flushed(long bytes, long flushNanos) {
        walBytes.increment(bytes);
        flushDurations.record(flushNanos, TimeUnit.NANOSECONDS);
      }

      @Override
      public void failed(WalReceiver.FailureReason reason) {
        receiverFailures.withTags("reason", reason.code()).increment();
      }
    };
  }

  public Safekeeper start() throws IOException {
    Files.createDirectories(config.dataDir());
    loadTimelines();
    api.start();
    offloader = Thread.ofVirtual().name("offloader-" + config.id()).start(this::offloadLoop);
    log.info("event=safekeeper_started id={} data_dir={} timelines={}", config.id(), config.dataDir(), timelines.size());
    return this;
  }

  public String id() {
    return config.id();
  }

  public int port() {
    return api.port();
  }

  public String url() {
    return api.url();
  }

  /** The management listener's URL; {@link #url()} when there is none. */
  public String managementUrl() {
    return api.managementUrl();
  }

  /** Every route it serves, as {@code METHOD /pattern}: what its OpenAPI document must list. */
  public java.util.List<String> routes() {
    return api.routes();
  }

  /**
   * Runs one offload pass over every timeline now (the background loop does this every second) and returns
   * how many files it uploaded. A timeline whose offload fails is counted and logged, and the pass goes on:
   * one bad timeline (a segment it cannot read, a prefix the object store refuses) must not keep every
   * later timeline's WAL from object storage and its disk from being freed.
   */
  public synchronized int offloadNow() {
    int n = 0;
    for (Map.Entry<String, SafekeeperTimeline> e : timelines.entrySet()) {
      try {
        n += e.getValue().offload(config.objectStore());
        if (offloadErrors.remove(e.getKey()) != null) {
          log.info("event=offload_recovered safekeeper={} tenant={} timeline={}", config.id(), tenantOf(e.getKey()), timelineOf(e.getKey()));
        }
      } catch (IOException | RuntimeException failure) {
        offloadFailures.increment();
        String error = String.valueOf(failure.getMessage()).replace('"', '\'').replace('\n', ' ');
        // Retried every second: log a failure when it first appears or changes, not on every retry.
        boolean repeated = error.equals(offloadErrors.put(e.getKey(), error));
        String line = "event=offload_failed safekeeper={} tenant={} timeline={} exception={} error=\"{}\"";
        Object[] args = {config.id(), tenantOf(e.getKey()), timelineOf(e.getKey()), failure.getClass().getSimpleName(), error};
        if (repeated) {
          log.debug(line, args);
        } else {
          log.warn(line, args);
        }
      }
    }
    return n;
  }

  @Override
  public void close() {
    running = false;
    if (offloader != null) {
      offloader.interrupt();
    }
    api.close();
    timelines.values().forEach(SafekeeperTimeline::close);
    timelines.clear();
  }

  private void offloadLoop() {
    while (running) {
      try {
        Thread.sleep(OFFLOAD_INTERVAL);
        offloadedSegments.increment(offloadNow());
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        offloadFailures.increment();
        log.warn("event=offload_failed safekeeper={} error=\"{}\"", config.id(), e.getMessage());
      }
    }
  }

  /**
   * Opens every timeline found on disk. One that fails to open is quarantined rather than failing the start,
   * which would take every other tenant's WAL down with it.
   */
  private void loadTimelines() throws IOException {
    try (Stream<Path> tenants = Files.list(config.dataDir())) {
      for (Path t : tenants.filter(p -> TenantId.isValid(p.getFileName().toString())).toList()) {
        try (Stream<Path> tls = Files.list(t)) {
          for (Path tl : tls.filter(p -> TimelineId.isValid(p.getFileName().toString())).toList()) {
            var tenant = new TenantId(t.getFileName().toString());
            var timeline = new TimelineId(tl.getFileName().toString());
            try {
              timelines.put(tenant + "/" + timeline, SafekeeperTimeline.open(config.id(), tenant, timeline, tl, config.objectStore(),
                  PEER_TIMEOUT, config.auth().outbound(), config.auth().clientTls(), receiverMetrics, config.replicationTls()));
            } catch (IOException | RuntimeException e) {
              String cause = String.valueOf(e.getMessage()).replace('"', '\'').replace('\n', ' ');
              quarantined.put(tenant + "/" + timeline, new Quarantined(tl.toAbsolutePath().normalize(), cause));
              log.error("event=timeline_quarantined safekeeper={} tenant={} timeline={} directory={} error=\"{}\"", config.id(), tenant,
                  timeline, tl.toAbsolutePath().normalize(), cause);
            }
          }
        }
      }
    }
  }

  private record Quarantined(Path dir, String cause) {}

  /** 503 for a quarantined timeline: what is wrong, where, and what an operator does about it. */
  private void checkNotQuarantined(Request r) {
    Quarantined q = quarantined.get(key(r));
    if (q != null) {
      throw new ApiProblem(503, ProblemTypes.TIMELINE_UNAVAILABLE, "Service unavailable", "safekeeper " + config.id() + " could not load timeline "
          + r.path("timeline_id") + " from " + q.dir() + " when it started (" + q.cause() + "), so it serves none of that timeline's "
          + "WAL and takes no part in its elections. Repair the directory, or move it away (the safekeeper then rejoins like one "
          + "whose disk was replaced), and restart the safekeeper", "timeline_id");
    }
  }

  private static void deleteRecursively(Path dir) throws IOException {
    try (var paths = Files.walk(dir)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private static String tenantOf(String key) {
    return key.substring(0, key.indexOf('/'));
  }

  private static String timelineOf(String key) {
    return key.substring(key.indexOf('/') + 1);
  }

  private static String key(Request r) {
    return r.path("tenant_id") + "/" + r.path("timeline_id");
  }

  private Optional<SafekeeperTimeline> existing(Request r) {
    ids(r);
    checkNotQuarantined(r);
    return Optional.ofNullable(timelines.get(key(r)));
  }

  /** The timeline's state, created on first use when {@code create} (a fence is how a safekeeper learns of a timeline). */
  private Optional<SafekeeperTimeline> timeline(Request r, boolean create) throws IOException {
    if (!create) {
      return existing(r);
    }
    TimelineId[] holder = new TimelineId[1];
    TenantId tenant = ids(r);
    checkNotQuarantined(r);
    holder[0] = new TimelineId(r.path("timeline_id"));
    try {
      return Optional.of(timelines.computeIfAbsent(key(r), k -> {
        try {
          return SafekeeperTimeline.open(config.id(), tenant, holder[0],
              config.dataDir().resolve(tenant.toString()).resolve(holder[0].toString()), config.objectStore(), PEER_TIMEOUT,
              config.auth().outbound(), config.auth().clientTls(), receiverMetrics, config.replicationTls());
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }));
    } catch (java.io.UncheckedIOException e) {
      throw e.getCause();
    }
  }

  private static TenantId ids(Request r) {
    if (!TenantId.isValid(r.path("tenant_id"))) {
      throw ApiProblem.invalid("tenant_id", "'" + r.path("tenant_id") + "' is not a tenant id: expected 32 lowercase hex digits");
    }
    if (!TimelineId.isValid(r.path("timeline_id"))) {
      throw ApiProblem.invalid("timeline_id", "'" + r.path("timeline_id") + "' is not a timeline id: expected 32 lowercase hex digits");
    }
    return new TenantId(r.path("tenant_id"));
  }

  /**
   * The fence's optional {@code started}: whether any generation of the timeline ever started streaming (the
   * caller knows from the pageserver). Absent, as from callers older than the field, it reads false.
   */
  private static boolean timelineStarted(JsonNode body) {
    JsonNode s = body.get("started");
    if (s == null || s.isNull()) {
      return false;
    }
    if (!s.isBoolean()) {
      throw ApiProblem.invalid("started", "started must be true or false: whether any generation of this timeline ever "
          + "started streaming WAL (a safekeeper holding none of such a timeline's WAL refuses to vote)");
    }
    return s.asBoolean();
  }

  private static long generation(JsonNode body) {
    JsonNode g = body.get("generation");
    if (g == null || !g.canConvertToLong() || g.asLong() <= 0) {
      throw ApiProblem.invalid("generation", "generation is required and must be a positive integer");
    }
    return g.asLong();
  }
}
