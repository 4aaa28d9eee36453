package dev.arbor.server;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.Problem;
import dev.arbor.api.ProblemTypes;

import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;

/**
 * The HTTP API of a storage component that computes call (the pageserver, a safekeeper), on one port or split
 * over two: with a management listener ({@code --management-listen}), what computes call is served on the
 * compute port ({@code --listen}) and what only trusted callers need (creating, listing, deleting; metrics that
 * name tenants) on the management port, so that a NetworkPolicy can let computes reach one port and keep them off
 * the other. A route asked on the other port answers 404 {@value #SERVED_ON_MANAGEMENT_PORT} (or
 * {@value #SERVED_ON_COMPUTE_PORT}) naming the right port: a client sent to the wrong one is told so, instead of
 * "no such route" or, worse for a caller that reads 404 as "gone", a silent absence. Without a management
 * listener, one port serves everything.
 */
public final class TwoPortApi implements AutoCloseable {
  /** Problem type of a management route asked on the compute port. */
  public static final String SERVED_ON_MANAGEMENT_PORT = ProblemTypes.SERVED_ON_MANAGEMENT_PORT;
  /** Problem type of a compute route asked on the management port. */
  public static final String SERVED_ON_COMPUTE_PORT = ProblemTypes.SERVED_ON_COMPUTE_PORT;

  /** Which listener serves a route. */
  public enum Port { COMPUTE, MANAGEMENT, BOTH }

  /** "pageserver", "safekeeper": how the refusals name the component. */
  private final String component;
  private final InetSocketAddress listen;
  /** Null: {@link #api} serves everything. */
  private final InetSocketAddress managementListen;
  private final HttpApi api;
  private final HttpApi management;

  /**
   * @param component what the refusals call this server ("this pageserver's management port")
   * @param name the name its log lines and metrics carry
   * @param metricsOn where {@code GET /metrics} is served when there are two ports ({@link Port#MANAGEMENT} when
   *     the metrics name tenants or timelines); either port's scrape counts the requests of both
   * @param authenticator checks the token of every request to a route that is not {@link Access#OPEN}, on both ports
   */
  public TwoPortApi(String component, String name, InetSocketAddress listen, InetSocketAddress managementListen, Port metricsOn,
      HttpApi.Authenticator authenticator) {
    this(component, name, listen, managementListen, metricsOn, authenticator, null);
  }

  /** @param tls what both ports serve HTTPS with; null: plain HTTP */
  public TwoPortApi(String component, String name, InetSocketAddress listen, InetSocketAddress managementListen, Port metricsOn,
      HttpApi.Authenticator authenticator, ServerTls tls) {
    this.component = component;
    this.listen = listen;
    this.managementListen = managementListen;
    this.api = new HttpApi(name, java.util.Objects.requireNonNull(authenticator, "authenticator")).serveTls(tls);
    this.management = managementListen == null ? null : api.secondListener("management");
    // HttpApi serves /metrics on every listener by itself; take it off the one that must not.
    if (management != null && metricsOn != Port.BOTH) {
      (metricsOn == Port.MANAGEMENT ? api : management).replaceRoute("GET", "/metrics", refusal(metricsOn, "GET", "/metrics"));
    }
  }

  /** The meter registry behind both ports. */
  public MeterRegistry metrics() {
    return api.metrics();
  }

  /** See {@link HttpApi#beforeScrape}: runs before a scrape of either port. */
  public TwoPortApi beforeScrape(Runnable refresh) {
    api.beforeScrape(refresh);
    return this;
  }

  /**
   * Serves a route on the listener of {@code port} to the requests {@code access} admits, and when there are two
   * listeners, refuses it on the other (to the same requests: what a caller may not call is not named to it).
   */
  public TwoPortApi route(Port port, String method, String pattern, Access access, HttpApi.Handler handler) {
    if (management == null || port == Port.BOTH) {
      api.route(method, pattern, access, handler);
      if (management != null) {
        management.route(method, pattern, access, handler);
      }
      return this;
    }
    boolean onManagement = port == Port.MANAGEMENT;
    (onManagement ? management : api).route(method, pattern, access, handler);
    (onManagement ? api : management).route(method, pattern, access, refusal(port, method, pattern));
    return this;
  }

  /** Serves the OpenAPI document on both ports ({@link HttpApi#document}). */
  public TwoPortApi document(String path, java.net.URL resource) {
    api.document(path, resource);
    if (management != null) {
      management.document(path, resource);
    }
    return this;
  }

  /** Every route of the component, as {@code METHOD /pattern}: the compute port answers them all, some with a refusal. */
  public java.util.List<String> routes() {
    return api.routes();
  }

  private HttpApi.Handler refusal(Port servedOn, String method, String pattern) {
    boolean onManagement = servedOn == Port.MANAGEMENT;
    return r -> {
      throw ApiProblem.notFound(onManagement ? SERVED_ON_MANAGEMENT_PORT : SERVED_ON_COMPUTE_PORT, null, method + " " + pattern
          + " is served on this " + component + "'s " + (onManagement ? "management port (--management-listen, port "
          + management.port() + ")" : "compute port (--listen, port " + api.port() + ")") + ", not on this one");
    };
  }

  /**
   * Binds and starts serving, the management listener first: once the compute port answers, its "served on the
   * management port" answers can name that port. A management address that cannot be bound is named as such.
   */
  public TwoPortApi start() throws IOException {
    if (management != null) {
      try {
        management.start(managementListen);
      } catch (IOException e) {
        var named = new BindException("--management-listen " + managementListen.getHostString() + ":" + managementListen.getPort()
            + ": " + e.getMessage());
        named.initCause(e);
        throw named;
      }
    }
    try {
      api.start(listen);
    } catch (IOException e) {
      if (management != null) {
        management.close();
      }
      throw e;
    }
    return this;
  }

  /** The compute port. */
  public int port() {
    return api.port();
  }

  /** The compute port's URL ({@code --listen}), {@code https://} with TLS. */
  public String url() {
    return api.scheme() + "://" + listen.getHostString() + ":" + api.port();
  }

  /** The management listener's URL; {@link #url()} when there is none. */
  public String managementUrl() {
    return management == null ? url() : api.scheme() + "://" + managementListen.getHostString() + ":" + management.port();
  }

  /** {@code https} when both ports serve TLS, else {@code http}. */
  public String scheme() {
    return api.scheme();
  }

  @Override
  public void close() {
    api.close();
    if (management != null) {
      management.close();
    }
  }
}
