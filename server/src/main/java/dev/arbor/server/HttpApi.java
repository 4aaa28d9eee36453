package dev.arbor.server;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.Problem;
import dev.arbor.api.auth.StorageGrant;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsServer;
import dev.arbor.client.Json;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small JSON-over-HTTP server on the JDK's HTTP server, one virtual thread per request, shared by the
 * pageserver and the safekeeper. Routes are {@code METHOD /path/{param}}; errors are problem+json.
 * {@code GET /metrics} serves {@link #metrics()}, a Micrometer registry, in the Prometheus text format
 * (version 0.0.4), with a count and a duration histogram of the requests per route pattern and status.
 */
public final class HttpApi implements AutoCloseable {

  @FunctionalInterface
  public interface Handler {
    Response handle(Request request) throws Exception;
  }

  /**
   * How a server that takes tokens finds out what a request may do: the {@link StorageGrant} its {@code Authorization}
   * header proves, or a 401 {@link ApiProblem} when it proves none. {@link #INSECURE} admits every request (the
   * storage engine's {@code --insecure-no-auth}); {@link TokenVerifier} checks tokens.
   */
  @FunctionalInterface
  public interface Authenticator {
    /** The grant of this request; null: this server checks nothing and every route admits it. */
    StorageGrant authenticate(String authorization);

    Authenticator INSECURE = authorization -> null;
  }

  private record Route(String method, String pattern, String[] segments, Access access, Handler handler) {}

  /** Request methods counted by name; anything else a client sends counts as "other" (bounded labels). */
  private static final java.util.Set<String> KNOWN_METHODS = java.util.Set.of("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS");
  private static final Duration[] DURATION_BUCKETS = {Duration.ofMillis(1), Duration.ofMillis(5), Duration.ofMillis(10),
      Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofSeconds(5),
      Duration.ofSeconds(30)};

  private static final Logger log = LoggerFactory.getLogger(HttpApi.class);

  private final String name;
  /**
   * Null: a server that takes no tokens (the compute agent, the proxy's health port), whose routes are all open.
   * Otherwise every route declares its {@link Access}, and a route registered without one is refused.
   */
  private final Authenticator authenticator;
  /** Which of the component's listeners this is, for the log; null when the component has one. */
  private final String listener;
  private final List<Route> routes = new ArrayList<>();
  private final PrometheusMeterRegistry metrics;
  private final List<Runnable> beforeScrape;
  private final Meter.MeterProvider<Counter> requests;
  private final Meter.MeterProvider<Timer> durations;
  /** Where a no-such-route answer tells the client to look: this server's OpenAPI document. */
  private String documentPath = "/v1/openapi.json";
  private HttpServer server;
  private ExecutorService executor;
  /** Null: plain HTTP. */
  private ServerTls tls;

  /** A server that takes no tokens: every route is open to whoever reaches the port. */
  public HttpApi(String name) {
    this(name, (Authenticator) null);
  }

  /**
   * A server whose routes each declare what a request needs ({@link #route(String, String, Access, Handler)}),
   * checked with {@code authenticator}; {@code GET /metrics} stays open.
   */
  public HttpApi(String name, Authenticator authenticator) {
    this.name = name;
    this.authenticator = authenticator;
    this.listener = null;
    this.metrics = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    this.beforeScrape = new java.util.concurrent.CopyOnWriteArrayList<>();
    this.requests = Counter.builder("arbor_http_requests_total")
        .description("HTTP requests answered, by method, route pattern and status code.").withRegistry(metrics);
    // A Timer is exposed in seconds as a histogram with these buckets (and a _max gauge beside it).
    this.durations = Timer.builder("arbor_http_request_duration_seconds")
        .description("Time to answer an HTTP request (streamed bodies included), by route pattern.")
        .serviceLevelObjectives(DURATION_BUCKETS).withRegistry(metrics);
    add("GET", "/metrics", Access.OPEN, r -> renderMetrics());
  }

  private HttpApi(HttpApi first, String listener) {
    this.name = first.name;
    this.authenticator = first.authenticator;
    this.listener = listener;
    this.metrics = first.metrics;
    this.beforeScrape = first.beforeScrape;
    this.requests = first.requests;
    this.durations = first.durations;
    this.tls = first.tls;
    add("GET", "/metrics", Access.OPEN, r -> renderMetrics());
  }

  /**
   * Serves HTTPS with {@code tls} (null: plain HTTP, the default) from {@link #start} on; a {@link #secondListener}
   * made after this call serves it too.
   */
  public HttpApi serveTls(ServerTls tls) {
    if (server != null) {
      throw new IllegalStateException(name + " is serving already: choose TLS before start()");
    }
    this.tls = tls;
    return this;
  }

  /** {@code https} with TLS, else {@code http}. */
  public String scheme() {
    return tls == null ? "http" : "https";
  }

  /**
   * Another listener of the same component, with routes of its own: its requests count in this server's
   * metrics, and {@code GET /metrics} on either serves them all, so a scrape of one port sees both.
   */
  public HttpApi secondListener(String listener) {
    return new HttpApi(this, listener);
  }

  /** A route of a server that takes no tokens ({@link #HttpApi(String)}); refused on one that does. */
  public HttpApi route(String method, String pattern, Handler handler) {
    if (authenticator != null) {
      throw new IllegalStateException(method + " " + pattern + " declares no Access: every route of " + name
          + " says what a request needs (Access.OPEN for none)");
    }
    return add(method, pattern, Access.OPEN, handler);
  }

  /** A route of a server that takes tokens, open only to requests {@code access} admits. */
  public HttpApi route(String method, String pattern, Access access, Handler handler) {
    if (authenticator == null) {
      throw new IllegalStateException(method + " " + pattern + " declares an Access, but " + name + " takes no tokens");
    }
    return add(method, pattern, java.util.Objects.requireNonNull(access, "access"), handler);
  }

  private HttpApi add(String method, String pattern, Access access, Handler handler) {
    access.checkPattern(pattern);
    for (Route r : routes) {
      if (r.method.equals(method) && r.pattern.equals(pattern)) {
        throw new IllegalStateException(method + " " + pattern + " is routed twice" + (pattern.equals("/metrics")
            ? ": HttpApi serves /metrics itself; register meters on metrics()" : ""));
      }
    }
    routes.add(new Route(method, pattern, split(pattern), access, handler));
    return this;
  }

  /**
   * Serves the OpenAPI document {@code resource} at {@code GET path}, and names that path in the answers to
   * unknown routes. The document is read here: one missing from the build stops the server from being made.
   */
  public HttpApi document(String path, java.net.URL resource) {
    return document(path, resource, authenticator == null ? Access.OPEN : Access.anyToken());
  }

  private HttpApi document(String path, java.net.URL resource, Access access) {
    if (resource == null) {
      throw new IllegalStateException("the OpenAPI document of " + name + " is missing from the build");
    }
    byte[] json;
    try (var in = resource.openStream()) {
      json = in.readAllBytes();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot read " + resource, e);
    }
    documentPath = path;
    return add("GET", path, access, r -> Response.bytes(200, "application/json", json));
  }

  /** The routes this listener serves, as {@code METHOD /pattern}, {@code GET /metrics} included. */
  public List<String> routes() {
    return routes.stream().map(r -> r.method + " " + r.pattern).toList();
  }

  /** Gives an existing route another handler (a {@link TwoPortApi} refusing {@code /metrics} on one of its ports). */
  void replaceRoute(String method, String pattern, Handler handler) {
    for (int i = 0; i < routes.size(); i++) {
      Route r = routes.get(i);
      if (r.method.equals(method) && r.pattern.equals(pattern)) {
        routes.set(i, new Route(method, pattern, r.segments, r.access, handler));
        return;
      }
    }
    throw new IllegalStateException(method + " " + pattern + " is not routed");
  }

  /**
   * The scrape runs on a platform thread of its own. The Prometheus client writes through a new BufferedWriter per
   * scrape, and on a virtual thread the JDK starts its buffer at 512 chars and grows it by a copy on every write up
   * to 8192: about 7 MB of garbage per scrape of a safekeeper, against 40 KB on a platform thread.
   */
  private Response renderMetrics() throws Exception {
    beforeScrape.forEach(Runnable::run);
    var scrape = new FutureTask<>(() -> {
      var text = new ByteArrayOutputStream();
      metrics.scrape(text, PrometheusTextFormatWriter.CONTENT_TYPE);
      return text.toByteArray();
    });
    Thread.ofPlatform().name("metrics-scrape").start(scrape);
    return Response.bytes(200, PrometheusTextFormatWriter.CONTENT_TYPE, scrape.get());
  }

  /**
   * Runs {@code refresh} at the start of every {@code GET /metrics}: for meters whose set of label values is read
   * from the component's state (a Micrometer {@code MultiGauge} per timeline), or that appear once a value is known.
   */
  public HttpApi beforeScrape(Runnable refresh) {
    beforeScrape.add(refresh);
    return this;
  }

  /**
   * This server's meters: components register their own, {@code GET /metrics} serves them all. Names are given as
   * Prometheus shows them ({@code _total} of counters and {@code _seconds} of timers included); Micrometer keeps them.
   */
  public MeterRegistry metrics() {
    return metrics;
  }

  /** Binds to {@code address} (port 0 picks a free one) and starts serving. */
  public HttpApi start(InetSocketAddress address) throws IOException {
    if (tls != null) {
      HttpsServer https = HttpsServer.create(address, 128);
      https.setHttpsConfigurator(tls.configurator());
      server = https;
    } else {
      server = HttpServer.create(address, 128);
    }
    executor = Executors.newVirtualThreadPerTaskExecutor();
    server.setExecutor(executor);
    server.createContext("/", this::dispatch);
    server.start();
    log.info("event=http_listening component={}{} address={}:{} scheme={}", name, listener == null ? "" : " listener=" + listener,
        address.getHostString(), port(), scheme());
    return this;
  }

  public int port() {
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    if (server != null) {
      server.stop(0);
      executor.shutdownNow();
      server = null;
    }
  }

  private void dispatch(HttpExchange exchange) {
    long started = System.nanoTime();
    String path = exchange.getRequestURI().getPath();
    String routePattern = "unmatched";
    String[] parts = split(path);
    Response response;
    List<String> allowed = new ArrayList<>();
    try {
      Route match = null;
      Map<String, String> params = null;
      for (Route r : routes) {
        Map<String, String> p = match(r.segments, parts);
        if (p != null) {
          allowed.add(r.method);
          if (r.method.equals(exchange.getRequestMethod())) {
            match = r;
            params = p;
            break;
          }
        }
      }
      if (match == null) {
        throw !allowed.isEmpty()
            ? new ApiProblem(405, ProblemTypes.METHOD_NOT_ALLOWED, "Method not allowed", exchange.getRequestMethod() + " is not supported on "
                + path + "; use " + String.join(", ", allowed), null)
            : ApiProblem.notFound(ProblemTypes.NO_SUCH_ROUTE, null, "no API route " + path + "; the API is described at " + documentPath);
      }
      routePattern = match.pattern;
      authorize(match, exchange, params);
      response = match.handler.handle(new Request(exchange, params));
    } catch (ApiProblem p) {
      response = problem(p, path);
      if (p.status() == 405) {
        response.header("Allow", String.join(", ", allowed)); // RFC 9110 15.5.6: a 405 must list the allowed methods
      } else if (p.status() == 401) {
        response.header("WWW-Authenticate", "Bearer realm=\"" + StorageGrant.AUDIENCE + "\""); // RFC 9110 11.6.1, RFC 6750 3
      }
      log.info("event=request_refused component={} method={} path={} status={} field={} detail=\"{}\"",
          name, exchange.getRequestMethod(), path, p.status(), p.field(), p.getMessage());
    } catch (Exception e) {
      log.error("event=request_failed component={} method={} path={}", name, exchange.getRequestMethod(), path, e);
      // The detail is read by people (the CLI prints it): what failed, not which class; the log has the trace.
      String detail = (e.getMessage() == null || e.getMessage().isBlank() ? "an unexpected error" : e.getMessage())
          + " (the " + name + " log has the details)";
      response = problem(new ApiProblem(500, ProblemTypes.INTERNAL, "Internal error", detail, null), path);
    }
    try {
      send(exchange, response, path);
    } finally {
      String method = KNOWN_METHODS.contains(exchange.getRequestMethod()) ? exchange.getRequestMethod() : "other";
      requests.withTags("method", method, "route", routePattern, "code", Integer.toString(response.status)).increment();
      durations.withTags("route", routePattern).record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
    }
  }

  /**
   * Refuses a request the route's {@link Access} does not admit: 401 without a valid token, 403 with a valid one
   * of another scope, tenant or timeline. The token itself never reaches a log line or an answer.
   */
  private void authorize(Route route, HttpExchange exchange, Map<String, String> params) {
    if (authenticator == null || route.access.isOpen()) {
      return;
    }
    StorageGrant grant = authenticator.authenticate(exchange.getRequestHeaders().getFirst("Authorization"));
    if (grant != null && !route.access.admits(grant, params)) {
      throw route.access.forbidden(grant, route.method + " " + route.pattern);
    }
  }

  /**
   * Thrown out of the exchange handler when a streamed body could not be written whole: the JDK server
   * then drops the connection as it is. Closing the exchange instead would end a chunked body with its
   * last chunk, and the client would take the bytes it got for the whole answer.
   */
  private static final class AbortedResponse extends RuntimeException {
    AbortedResponse(Throwable cause) {
      super(cause.getMessage(), cause, false, false);
    }
  }

  private void send(HttpExchange exchange, Response response, String path) {
    boolean aborted = false;
    try {
      response.headers.forEach((k, v) -> exchange.getResponseHeaders().set(k, v));
      if (response.writer != null) {
        // 0 asks the JDK server for chunked transfer; a known length is sent as Content-Length.
        exchange.sendResponseHeaders(response.status, response.length == Response.UNKNOWN_LENGTH ? 0
            : response.length == 0 ? -1 : response.length);
        OutputStream out = exchange.getResponseBody();
        try {
          response.writer.writeTo(out);
        } catch (IOException | RuntimeException e) {
          aborted = true;
          log.warn("event=response_aborted component={} path={} reason=\"{}\"", name, path, e.getMessage());
          throw new AbortedResponse(e);
        }
        out.close();
      } else {
        boolean empty = response.bytes.length == 0;
        exchange.sendResponseHeaders(response.status, empty ? -1 : response.bytes.length);
        if (!empty) {
          try (OutputStream out = exchange.getResponseBody()) {
            out.write(response.bytes);
          }
        }
      }
    } catch (IOException e) {
      // The client went away mid-response (e.g. restore_command killed by a shutting-down server).
      log.info("event=response_aborted component={} path={} reason=\"{}\"", name, path, e.getMessage());
    } finally {
      closeSource(response, path);
      if (!aborted) {
        exchange.close();
      }
    }
  }

  private void closeSource(Response response, String path) {
    if (response.source == null) {
      return;
    }
    try {
      response.source.close();
    } catch (IOException e) {
      log.info("event=response_source_close_failed component={} path={} reason=\"{}\"", name, path, e.getMessage());
    }
  }

  private static Response problem(ApiProblem p, String path) {
    var body = new Problem(p.type(), p.title(), p.status(), p.getMessage(), path, p.field());
    return Response.bytes(p.status(), "application/problem+json", Json.write(body));
  }

  private static Map<String, String> match(String[] pattern, String[] path) {
    if (pattern.length != path.length) {
      return null;
    }
    Map<String, String> params = new HashMap<>();
    for (int i = 0; i < pattern.length; i++) {
      String p = pattern[i];
      if (p.startsWith("{") && p.endsWith("}")) {
        params.put(p.substring(1, p.length() - 1), path[i]);
      } else if (!p.equals(path[i])) {
        return null;
      }
    }
    return params;
  }

  private static String[] split(String path) {
    return java.util.Arrays.stream(path.split("/")).filter(s -> !s.isEmpty()).toArray(String[]::new);
  }
}
