package dev.arbor.client;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.StringJoiner;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every typed client of an Arbor service shares: its base URL, a timeout on every call, the retry rule, and
 * "is it running?".
 *
 * <p>Errors: a problem+json answer is an {@link ApiProblem} carrying the service's status, type, title, detail
 * and field; a service that cannot be reached, or did not answer in time, is an {@link IOException} (a
 * {@link ConnectException} when no connection could be made).
 *
 * <p>Retries: {@link #idempotent} calls (reads, deletes, creates with a caller-chosen id) are tried again, with
 * the client's {@link RetryPolicy}, after an outage (no connection, no answer in time, 502/503/504). {@link #once}
 * calls (a fence, a reservation: anything whose repetition is not harmless) are tried again only when the
 * connection was refused, so the request never reached the service. A {@link RetryPolicy#refusedOnly()} policy
 * applies that rule to idempotent calls too. Each retry is logged as one {@code event=client_retry} line.
 */
public abstract class ServiceClient {
  private static final Logger log = LoggerFactory.getLogger(ServiceClient.class);
  private final String service;
  private final String baseUrl;
  private final HttpJson http;
  private final RetryPolicy retry;
  private final Duration timeout;
  private final TokenSource tokens;
  private final ClientTls tls;

  /**
   * @param service how messages name the service ("pageserver", "safekeeper sk-1", "compute agent")
   * @param baseUrl scheme, host and port, e.g. {@code http://127.0.0.1:9898}; a trailing slash is dropped
   */
  protected ServiceClient(String service, String baseUrl, Duration timeout, RetryPolicy retry) {
    this(service, baseUrl, timeout, retry, TokenSource.NONE);
  }

  /** @param tokens the token every request sends (see {@link TokenSource}) */
  protected ServiceClient(String service, String baseUrl, Duration timeout, RetryPolicy retry, TokenSource tokens) {
    this(service, baseUrl, timeout, retry, tokens, ClientTls.SYSTEM);
  }

  /** @param tls whom an {@code https://} base URL is trusted from */
  protected ServiceClient(String service, String baseUrl, Duration timeout, RetryPolicy retry, TokenSource tokens, ClientTls tls) {
    this.service = service;
    this.baseUrl = baseUrl.replaceAll("/+$", "");
    this.timeout = timeout;
    this.tokens = tokens;
    this.tls = tls;
    this.http = new HttpJson(timeout, tokens, tls);
    this.retry = retry;
  }

  /** What every request of this client sends as its token. */
  public TokenSource tokens() {
    return tokens;
  }

  /** Whom this client trusts on {@code https://}. */
  public ClientTls tls() {
    return tls;
  }

  public String baseUrl() {
    return baseUrl;
  }

  public Duration timeout() {
    return timeout;
  }

  /** The path of the service's status route, answered 200 when it runs. */
  protected abstract String statusPath();

  /**
   * Whether the service answers its status route now: one try, within the timeout. Something else answering
   * there (an error, a body that is not JSON) is not the service running.
   */
  public boolean isRunning() {
    try {
      http.get(baseUrl + statusPath(), Map.class);
      return true;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** Where every Arbor service serves its Prometheus metrics (on a management port where it has one). */
  public static final String METRICS_PATH = "/metrics";

  /** {@code GET /metrics}: the Prometheus text exposition, retried like any read. */
  public String metrics() throws IOException {
    return idempotent("read the metrics", () -> {
      try (InputStream in = http.stream(baseUrl + METRICS_PATH, timeout)) {
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
    });
  }

  protected HttpJson http() {
    return http;
  }

  /** {@code baseUrl} followed by the segments, each percent-encoded: {@code url("v1", "tenant", id)}. */
  protected String url(Object... segments) {
    StringJoiner path = new StringJoiner("/", baseUrl + "/", "");
    for (Object s : segments) {
      path.add(encode(s));
    }
    return path.toString();
  }

  /**
   * {@code url} with a query of the parameters that are not null, names and values percent-encoded, in the order
   * given: {@code withQuery(url("v1", "x"), "lsn", lsn)}.
   */
  protected static String withQuery(String url, Object... namesAndValues) {
    if (namesAndValues.length % 2 != 0) {
      throw new IllegalArgumentException("query parameters come as name, value pairs");
    }
    StringJoiner query = new StringJoiner("&", "?", "").setEmptyValue("");
    for (int i = 0; i < namesAndValues.length; i += 2) {
      if (namesAndValues[i + 1] != null) {
        query.add(encode(namesAndValues[i]) + "=" + encode(namesAndValues[i + 1]));
      }
    }
    return url + query;
  }

  private static String encode(Object s) {
    return URLEncoder.encode(String.valueOf(s), StandardCharsets.UTF_8).replace("+", "%20");
  }

  /**
   * {@code baseUrl/v1/tenant/TENANT/timeline/TIMELINE} followed by {@code more} segments: where the pageserver and the
   * safekeepers serve a timeline.
   */
  protected String timelineUrl(TenantId tenant, TimelineId timeline, Object... more) {
    Object[] segments = new Object[5 + more.length];
    segments[0] = "v1";
    segments[1] = "tenant";
    segments[2] = tenant;
    segments[3] = "timeline";
    segments[4] = timeline;
    System.arraycopy(more, 0, segments, 5, more.length);
    return url(segments);
  }

  /** A call that does nothing more when repeated. */
  @FunctionalInterface
  protected interface Call<T> {
    T run() throws IOException;
  }

  /** Runs a call whose repetition is harmless, retrying outages. */
  protected <T> T idempotent(String what, Call<T> call) throws IOException {
    return run(what, call, true);
  }

  /** Runs a call that must reach the service at most once: retried only when the connection was refused. */
  protected <T> T once(String what, Call<T> call) throws IOException {
    return run(what, call, false);
  }

  private <T> T run(String what, Call<T> call, boolean idempotent) throws IOException {
    boolean afterOutages = idempotent && retry.afterOutages();
    for (int attempt = 1; ; attempt++) {
      Exception failure;
      try {
        return call.run();
      } catch (ApiProblem p) {
        if (!afterOutages || !transientStatus(p.status()) || attempt >= retry.attempts()) {
          throw p;
        }
        failure = p;
      } catch (IOException e) {
        boolean again = afterOutages || refused(e);
        if (!again || attempt >= retry.attempts()) {
          throw e;
        }
        failure = e;
      }
      log.info("event=client_retry service=\"{}\" url={} call=\"{}\" attempt={} error=\"{}\"", service, baseUrl, what, attempt,
          describe(failure).replace('"', '\'').replace('\n', ' '));
      pause(what, attempt);
    }
  }

  /** An exception as messages show it: its class and message ({@code ConnectException: Connection refused}). */
  public static String describe(Throwable e) {
    String m = e.getMessage();
    return e.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m);
  }

  private void pause(String what, int attempt) throws IOException {
    try {
      Thread.sleep(retry.pauseAfter(attempt).toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while retrying to " + what + " at the " + service + " (" + baseUrl + ")", e);
    }
  }

  private static boolean transientStatus(int status) {
    return status == 502 || status == 503 || status == 504;
  }

  /** Refused: the request never reached the service. HttpJson reports a connect timeout as a ConnectException too. */
  public static boolean refused(IOException e) {
    return e instanceof ConnectException && !(e.getCause() instanceof SocketTimeoutException);
  }

  /** The service as messages name it, with its URL. */
  protected String describe() {
    return service + " at " + baseUrl;
  }
}
