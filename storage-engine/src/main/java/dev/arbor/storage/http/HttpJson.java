package dev.arbor.storage.http;

import dev.arbor.storage.json.Json;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;

/**
 * The client side of the storage engine's JSON APIs, used between components (compute → safekeeper,
 * pageserver → safekeeper). A problem+json answer becomes an {@link ApiProblem} with the same status,
 * type and field, so callers can tell a refusal from an outage (an {@link IOException}).
 */
public final class HttpJson {
  private final HttpClient client;
  private final Duration timeout;

  public HttpJson(Duration timeout) {
    this.timeout = timeout;
    this.client = HttpClient.newBuilder().connectTimeout(timeout).version(HttpClient.Version.HTTP_1_1).build();
  }

  public <T> T get(String url, Class<T> type) throws IOException {
    return send(HttpRequest.newBuilder(URI.create(url)).timeout(timeout).GET().build(), type);
  }

  public <T> T post(String url, Object body, Class<T> type) throws IOException {
    var req = HttpRequest.newBuilder(URI.create(url)).timeout(timeout)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofByteArray(body == null ? new byte[0] : Json.write(body))).build();
    return send(req, type);
  }

  public void delete(String url) throws IOException {
    send(HttpRequest.newBuilder(URI.create(url)).timeout(timeout).DELETE().build(), Void.class);
  }

  /** Streams a body; empty on 404 (the object does not exist there). */
  public Optional<InputStream> download(String url, Duration readTimeout) throws IOException {
    var req = HttpRequest.newBuilder(URI.create(url)).timeout(readTimeout).GET().build();
    HttpResponse<InputStream> resp = call(req, HttpResponse.BodyHandlers.ofInputStream());
    if (resp.statusCode() == 404) {
      resp.body().close();
      return Optional.empty();
    }
    if (resp.statusCode() >= 400) {
      byte[] body;
      try (InputStream in = resp.body()) {
        body = in.readAllBytes();
      }
      throw toProblem(resp.statusCode(), body);
    }
    return Optional.of(resp.body());
  }

  private <T> T send(HttpRequest req, Class<T> type) throws IOException {
    HttpResponse<byte[]> resp = call(req, HttpResponse.BodyHandlers.ofByteArray());
    if (resp.statusCode() >= 400) {
      throw toProblem(resp.statusCode(), resp.body());
    }
    if (type == Void.class || resp.body().length == 0) {
      return null;
    }
    return Json.read(resp.body(), type);
  }

  private <T> HttpResponse<T> call(HttpRequest req, HttpResponse.BodyHandler<T> handler) throws IOException {
    try {
      return client.send(req, handler);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted calling " + req.uri(), e);
    }
  }

  private static ApiProblem toProblem(int status, byte[] body) {
    try {
      Problem p = Json.read(body, Problem.class);
      String type = p.type() != null && p.type().startsWith(ApiProblem.TYPE_BASE)
          ? p.type().substring(ApiProblem.TYPE_BASE.length()) : "unknown";
      return new ApiProblem(status, type, p.title(), p.detail(), p.field());
    } catch (RuntimeException e) {
      return new ApiProblem(status, "unknown", "HTTP " + status, new String(body, java.nio.charset.StandardCharsets.UTF_8), null);
    }
  }
}
