package dev.arbor.storage.pageserver;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.ServerUser;
import dev.arbor.postgres.UnreachableDirectoryException;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.auth.Scope;
import dev.arbor.server.Access;
import dev.arbor.server.HttpApi;
import dev.arbor.server.Response;
import dev.arbor.server.TwoPortApi;
import dev.arbor.server.TwoPortApi.Port;
import dev.arbor.client.SafekeeperSet;
import dev.arbor.storage.timeline.Catalog;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * The pageserver: tenants and timelines, basebackups and WAL for computes, over an HTTP/JSON API
 * described at {@code /v1/openapi.json}. All its state is in object storage, so it can be killed and
 * restarted at any moment.
 *
 * <p>With a management listener ({@link PageserverConfig#managementListen()}), the API is split in two, so
 * that a NetworkPolicy can let computes reach one port and only the operator the other: the compute port
 * keeps what computes and the image working copies call; creating, listing, deleting and imaging tenants and
 * timelines are served on the management port only ({@link TwoPortApi}: a route asked on the other port answers
 * 404 {@value #SERVED_ON_MANAGEMENT_PORT} or {@value #SERVED_ON_COMPUTE_PORT} naming the right one). Its
 * {@code /metrics} names no tenant and is served on both. Without it, one port serves everything.
 */
public final class Pageserver implements AutoCloseable {
  /** Problem type of a management route asked on the compute port. */
  public static final String SERVED_ON_MANAGEMENT_PORT = TwoPortApi.SERVED_ON_MANAGEMENT_PORT;
  /** Problem type of a compute route asked on the management port. */
  public static final String SERVED_ON_COMPUTE_PORT = TwoPortApi.SERVED_ON_COMPUTE_PORT;

  private final TwoPortApi api;
  private final PageserverConfig config;
  private final TenantService tenants;
  private final TimelineService timelines;
  private final GenerationService generations;
  private final WalService wal;
  private BasebackupService basebackups;
  private ImageService images;

  public Pageserver(PageserverConfig config) {
    this.config = config;
    this.api = new TwoPortApi("pageserver", "pageserver", config.listen(), config.managementListen(), Port.BOTH, config.auth().inbound(),
        config.auth().serverTls());
    var catalog = new Catalog(config.objectStore());
    var safekeepers = new SafekeeperSet(config.safekeeperUrls(), Duration.ofSeconds(5), config.auth().outbound(), config.auth().clientTls());
    this.timelines = new TimelineService(catalog, safekeepers);
    this.tenants = new TenantService(catalog, timelines, safekeepers, config.postgres(), config.workDir());
    this.generations = new GenerationService(catalog, timelines);
    this.wal = new WalService(catalog, timelines, safekeepers, Lsn.DEFAULT_SEGMENT_SIZE);
    routes(catalog);
  }

  /**
   * Starts serving. A work directory that PostgreSQL's OS user cannot reach (initdb runs there) stops the start
   * here, with an {@link IllegalArgumentException} naming it, rather than failing every tenant creation later.
   */
  public Pageserver start() throws IOException {
    try {
      ServerUser.current().createReachable(config.workDir());
    } catch (UnreachableDirectoryException e) {
      throw new IllegalArgumentException("--work-dir: " + e.getMessage(), e);
    }
    api.start();
    String advertised = config.advertisedUrl() != null ? config.advertisedUrl()
        : api.scheme() + "://" + config.listen().getHostString() + ":" + api.port();
    var catalog = new Catalog(config.objectStore());
    basebackups = new BasebackupService(catalog, timelines, wal, advertised);
    // Working copies fetch WAL over loopback when the API listens on every address.
    String host = config.listen().getAddress() != null && config.listen().getAddress().isAnyLocalAddress() ? "127.0.0.1"
        : config.listen().getHostString();
    images = new ImageService(catalog, timelines, wal, basebackups, config.postgres(), config.workDir(),
        api.scheme() + "://" + host + ":" + api.port(), config.auth().outbound(), config.auth().clientTls().caBundle(), config.images())
        .startScheduler();
    return this;
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

  @Override
  public void close() {
    if (images != null) {
      images.close();
    }
    api.close();
  }

  /** Tenant and timeline management: the operator and the CLI. */
  private static final Access ADMIN = Access.scopes();
  /** What a compute calls for its own timeline (docs/security.md). */
  private static final Access COMPUTE = Access.ownTimeline();
  /** WAL: a compute's restore_command for its own timeline, and this pageserver's working copies (its own token). */
  private static final Access WAL = Access.ownTimeline(Scope.PAGESERVER);

  private void routes(Catalog catalog) {
    String tenant = "/v1/tenant/{tenant_id}";
    String timeline = tenant + "/timeline/{timeline_id}";
    route(Port.BOTH, "GET", "/v1/status", Access.OPEN, r -> Response.ok(Map.of("component", "pageserver", "status", "ok")));
    api.document("/v1/openapi.json", Pageserver.class.getResource("/pageserver-openapi.json"));
    route(Port.MANAGEMENT, "POST", "/v1/tenant", ADMIN, r -> {
      var result = tenants.create(r.json());
      return Response.json(result.created() ? 201 : 200, result.info());
    });
    route(Port.MANAGEMENT, "GET", "/v1/tenant", ADMIN, r -> Response.ok(tenants.list()));
    route(Port.MANAGEMENT, "GET", tenant, ADMIN, r -> Response.ok(tenants.get(r.path("tenant_id"))));
    route(Port.MANAGEMENT, "DELETE", tenant, ADMIN, r -> {
      tenants.delete(r.path("tenant_id"));
      return Response.noContent();
    });
    route(Port.MANAGEMENT, "POST", tenant + "/timeline", ADMIN, r -> {
      var result = timelines.createBranch(r.path("tenant_id"), r.json());
      return Response.json(result.created() ? 201 : 200, result.info());
    });
    route(Port.MANAGEMENT, "GET", tenant + "/timeline", ADMIN, r -> Response.ok(timelines.list(r.path("tenant_id"))));
    // The compute agent checks its timeline (and its PostgreSQL version) before it starts; the operator reads it.
    route(Port.BOTH, "GET", timeline, COMPUTE, r -> Response.ok(timelines.get(r.path("tenant_id"), r.path("timeline_id"))));
    route(Port.MANAGEMENT, "DELETE", timeline, ADMIN, r -> {
      timelines.delete(r.path("tenant_id"), r.path("timeline_id"));
      return Response.noContent();
    });
    route(Port.COMPUTE, "POST", timeline + "/generation", COMPUTE, r -> Response.ok(generations.reserve(r.path("tenant_id"),
        r.path("timeline_id"), r.json())));
    route(Port.COMPUTE, "POST", timeline + "/generation/{generation}/started", COMPUTE, r -> {
      long g;
      try {
        g = Long.parseLong(r.path("generation"));
      } catch (NumberFormatException e) {
        throw ApiProblem.invalid("generation", "generation must be a positive integer");
      }
      return Response.ok(generations.started(r.path("tenant_id"), r.path("timeline_id"), g, r.json()));
    });
    route(Port.MANAGEMENT, "POST", timeline + "/image", ADMIN, r -> Response.ok(images.make(r.path("tenant_id"), r.path("timeline_id"))));
    route(Port.COMPUTE, "GET", timeline + "/basebackup", COMPUTE, r -> {
      var plan = basebackups.plan(r.path("tenant_id"), r.path("timeline_id"), r.query("lsn"), r.query("pg_tli"),
          r.query("end_lsn"), r.query("recovery_from"));
      return Response.stream("application/x-tar", out -> basebackups.write(plan, out))
          .header("X-Arbor-Image-Lsn", plan.image().lsn().toString())
          .header("X-Arbor-Target-Tli", Integer.toString(plan.targetTli()));
    });
    // restore_command of computes and of the image working copies.
    route(Port.COMPUTE, "GET", timeline + "/wal/{file}", WAL, r -> {
      Optional<Lsn> until = r.query("until_lsn").map(text -> {
        if (!Lsn.isValid(text)) {
          throw ApiProblem.invalid("until_lsn", "'" + text + "' is not an LSN: expected X/Y in hex");
        }
        return Lsn.parse(text);
      });
      var in = wal.open(r.path("tenant_id"), r.path("timeline_id"), r.path("file"), until);
      if (in.isEmpty()) {
        throw ApiProblem.notFound(ProblemTypes.WAL_NOT_FOUND, "file", r.path("file") + " is not (yet) in the WAL of this timeline");
      }
      return Response.stream("application/octet-stream", in.get().length(), in.get().content());
    });
  }

  private void route(Port port, String method, String pattern, Access access, HttpApi.Handler handler) {
    api.route(port, method, pattern, access, handler);
  }
}
