package dev.arbor.client;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.Problem;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.HttpURLConnection;
import javax.net.ssl.HttpsURLConnection;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;

/**
 * The client side of the storage engine's JSON APIs, used between components (compute → safekeeper,
 * pageserver → safekeeper) and by the CLI. A problem+json answer becomes an {@link ApiProblem} with the same
 * status, type and field, so callers can tell a refusal from an outage (an {@link IOException}); a server
 * that cannot be connected to (refused, or no answer within the timeout) is a {@link ConnectException}.
 *
 * <p>Built on {@link HttpURLConnection} (keep-alive connections are pooled per JVM), not on
 * {@code java.net.http.HttpClient}: the CLI and the compute agent are short-lived JVMs on the path of
 * {@code endpoint start}, and the first request of an HttpClient costs a cold JVM 0.2–0.5 s (its
 * selector thread, TLS context and some 400 classes), against some 20 ms here. POST bodies are sent in
 * fixed-length streaming mode, which also keeps HttpURLConnection from silently sending a POST twice
 * when a pooled connection turns out closed: a fence or a reservation must reach the server at most once
 * per call.
 *
 * <p>A thread blocked in a request is not woken by an interrupt: calls end within their timeouts, and a
 * call on an interrupted thread fails at once, as before any I/O.
 *
 * <p>TLS: {@code https://} URLs are verified with the {@link ClientTls} given (a CA bundle, or the JDK's trust store),
 * the host name included. A token is never sent over plain {@code http://} unless its {@link TokenSource} allows it
 * ({@link TokenSource#allowPlainHttp()}, development only): such a call fails with a {@link PlainHttpRefused} before
 * anything is sent.
 */
public final class HttpJson {
  private final Duration timeout;
  private final TokenSource tokens;
  private final ClientTls tls;

  /** A call that would send a token over plain {@code http://} without {@link TokenSource#allowPlainHttp()}. */
  public static final class PlainHttpRefused extends IllegalStateException {
    PlainHttpRefused(String message) {
      super(message);
    }
  }

  /** Sends no token. */
  public HttpJson(Duration timeout) {
    this(timeout, TokenSource.NONE);
  }

  /** Sends the token {@code tokens} gives, asked again for every request, as {@code Authorization: Bearer}. */
  public HttpJson(Duration timeout, TokenSource tokens) {
    this(timeout, tokens, ClientTls.SYSTEM);
  }

  /** @param tls whom {@code https://} URLs are trusted from */
  public HttpJson(Duration timeout, TokenSource tokens, ClientTls tls) {
    this.timeout = timeout;
    this.tokens = java.util.Objects.requireNonNull(tokens, "tokens");
    this.tls = java.util.Objects.requireNonNull(tls, "tls");
  }

  public <T> T get(String url, Class<T> type) throws IOException {
    return send(url, "GET", null, type);
  }

  public <T> T post(String url, Object body, Class<T> type) throws IOException {
    return send(url, "POST", body == null ? new byte[0] : Json.write(body), type);
  }

  public void delete(String url) throws IOException {
    send(url, "DELETE", null, Void.class);
  }

  /** Streams a body; empty on 404 (the object does not exist there). */
  public Optional<InputStream> download(String url, Duration readTimeout) throws IOException {
    try {
      return Optional.of(stream(url, readTimeout));
    } catch (ApiProblem p) {
      if (p.status() == 404) {
        return Optional.empty();
      }
      throw p;
    }
  }

  /**
   * Streams a body; any answer of 400 or above is an {@link ApiProblem}. {@code readTimeout} bounds each
   * wait for bytes, not the whole transfer. A body that ends before its Content-Length (the server failed
   * mid-way) or without its last chunk fails with an {@link IOException}, never as a short, complete-looking
   * stream. Close the stream to release the connection.
   */
  public InputStream stream(String url, Duration readTimeout) throws IOException {
    HttpURLConnection c = open(url, "GET", readTimeout);
    int status = exchange(c, url, null);
    if (status >= 400) {
      throw toProblem(status, errorBody(c));
    }
    long length = c.getContentLengthLong();
    return length < 0 ? c.getInputStream() : new ExactLength(c.getInputStream(), length, url);
  }

  /** HttpURLConnection reads a body that ends early as a plain end of stream: count, and fail instead. */
  private static final class ExactLength extends java.io.FilterInputStream {
    private final long length;
    private final String url;
    private long read;

    ExactLength(InputStream in, long length, String url) {
      super(in);
      this.length = length;
      this.url = url;
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      count(b < 0 ? -1 : 1);
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      count(n);
      return n;
    }

    private void count(int n) throws IOException {
      if (n < 0) {
        if (read < length) {
          throw new IOException("the answer from " + url + " ended after " + read + " of its " + length + " bytes");
        }
        return;
      }
      read += n;
    }
  }

  private <T> T send(String url, String method, byte[] body, Class<T> type) throws IOException {
    HttpURLConnection c = open(url, method, timeout);
    int status = exchange(c, url, body);
    if (status >= 400) {
      throw toProblem(status, errorBody(c));
    }
    byte[] answer;
    try (InputStream in = c.getInputStream()) {
      answer = in.readAllBytes();
    }
    if (type == Void.class || answer.length == 0) {
      return null;
    }
    return Json.read(answer, type);
  }

  private HttpURLConnection open(String url, String method, Duration readTimeout) throws IOException {
    if (Thread.currentThread().isInterrupted()) {
      throw new IOException("interrupted calling " + url);
    }
    HttpURLConnection c;
    try {
      c = (HttpURLConnection) URI.create(url).toURL().openConnection();
    } catch (IllegalArgumentException | ClassCastException e) {
      throw new IllegalArgumentException("not an http URL: " + url, e);
    }
    c.setRequestMethod(method);
    c.setConnectTimeout(millis(timeout));
    c.setReadTimeout(millis(readTimeout));
    c.setUseCaches(false);
    c.setInstanceFollowRedirects(false);
    c.setRequestProperty("Accept", "application/json, application/problem+json, */*");
    if (c instanceof HttpsURLConnection https && tls.socketFactory() != null) {
      // The default host name verifier stays: the JDK then checks the host called against the certificate's names.
      https.setSSLSocketFactory(tls.socketFactory());
    }
    Optional<String> token = tokens.token();
    if (token.isPresent()) {
      if (!(c instanceof HttpsURLConnection) && !tokens.plainHttpAllowed()) {
        throw new PlainHttpRefused("refusing to send a storage token over plain HTTP to " + url + ": use the https:// URL of a "
            + "server with TLS on (--tls-cert), or, for development only, allow plain HTTP (--insecure-no-tls, "
            + "storage_insecure_http)");
      }
      c.setRequestProperty("Authorization", "Bearer " + token.get());
    }
    return c;
  }

  /** Sends the request (and body) and returns the status code. */
  private int exchange(HttpURLConnection c, String url, byte[] body) throws IOException {
    if (body != null) {
      c.setDoOutput(true);
      c.setFixedLengthStreamingMode(body.length);
      c.setRequestProperty("Content-Type", "application/json");
    }
    try {
      c.connect();
    } catch (SocketTimeoutException e) {
      var timedOut = new ConnectException("no connection to " + url + " within " + timeout.toMillis() + " ms");
      timedOut.initCause(e);
      throw timedOut;
    }
    if (body != null) {
      try (OutputStream out = c.getOutputStream()) {
        out.write(body);
      }
    }
    return c.getResponseCode();
  }

  private static byte[] errorBody(HttpURLConnection c) throws IOException {
    try (InputStream in = c.getErrorStream()) {
      return in == null ? new byte[0] : in.readAllBytes();
    }
  }

  private static int millis(Duration d) {
    return (int) Math.min(Integer.MAX_VALUE, Math.max(1, d.toMillis()));
  }

  private static ApiProblem toProblem(int status, byte[] body) {
    try {
      Problem p = Json.read(body, Problem.class);
      String type = p.type() != null && p.type().startsWith(ApiProblem.TYPE_BASE)
          ? p.type().substring(ApiProblem.TYPE_BASE.length()) : "unknown";
      return new ApiProblem(status, type, p.title(), p.detail(), p.field());
    } catch (RuntimeException e) {
      return new ApiProblem(status, "unknown", "HTTP " + status, new String(body, StandardCharsets.UTF_8), null);
    }
  }
}
