package dev.arbor.storage.pageserver;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.client.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The pageserver's HTTP API as a client sees it on the wire: status, headers and body bytes, no
 * interpretation. Tests assert raw status codes and content types with it; {@code HttpJson} would turn a
 * problem into an exception and hide the response.
 */
final class RawApi {

  /** One answer of the API. */
  record Reply(String method, String path, int status, HttpHeaders headers, byte[] body) {
    String contentType() {
      return headers.firstValue("Content-Type").orElse("");
    }

    String text() {
      return new String(body, StandardCharsets.UTF_8);
    }

    /** For failure messages: the request, the status and the body when it is text. */
    String describe() {
      String ct = contentType();
      boolean text = ct.startsWith("application/json") || ct.startsWith("application/problem+json") || ct.startsWith("text/");
      String shown = text ? text() : body.length + " bytes of " + (ct.isEmpty() ? "no content type" : ct);
      return method + " " + path + " -> " + status + " " + (shown.length() > 2000 ? shown.substring(0, 2000) + "..." : shown);
    }

    JsonNode json() {
      try {
        return Json.MAPPER.readTree(body);
      } catch (IOException e) {
        throw new AssertionError("not JSON: " + describe(), e);
      }
    }

    /** The JSON body of a success, after checking the status. */
    JsonNode expect(int expectedStatus) {
      assertThat(status).as(describe()).isEqualTo(expectedStatus);
      return body.length == 0 ? null : json();
    }
  }

  private final String baseUrl;
  private final HttpClient client = HttpClient.newBuilder()
      .version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10))
      .build();

  RawApi(String baseUrl) {
    this.baseUrl = baseUrl;
  }

  String baseUrl() {
    return baseUrl;
  }

  Reply get(String path) {
    return send("GET", path, HttpRequest.BodyPublishers.noBody());
  }

  Reply delete(String path) {
    return send("DELETE", path, HttpRequest.BodyPublishers.noBody());
  }

  Reply post(String path, Object jsonBody) {
    return postRaw(path, new String(Json.write(jsonBody), StandardCharsets.UTF_8));
  }

  /** POSTs {@code body} exactly as given, for bodies that are deliberately not what the API expects. */
  Reply postRaw(String path, String body) {
    return send("POST", path, HttpRequest.BodyPublishers.ofString(body));
  }

  /**
   * Asks a route ({@code METHOD /path/{param}}) with these ids, generation 1, a WAL segment name and {@code {}}
   * as the body of a POST: enough to see whether it is served, not to do anything useful.
   */
  Reply probe(String route, String tenantId, String timelineId) {
    String method = route.substring(0, route.indexOf(' '));
    String path = route.substring(route.indexOf(' ') + 1).replace("{tenant_id}", tenantId).replace("{timeline_id}", timelineId)
        .replace("{generation}", "1").replace("{file}", "000000010000000000000001");
    return send(method, path, method.equals("POST") ? HttpRequest.BodyPublishers.ofString("{}") : HttpRequest.BodyPublishers.noBody());
  }

  Reply send(String method, String path, HttpRequest.BodyPublisher body) {
    var request = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(Duration.ofMinutes(2))
        .header("Content-Type", "application/json").method(method, body).build();
    try {
      HttpResponse<byte[]> response = client.send(request, HttpResponse.BodyHandlers.ofByteArray());
      return new Reply(method, path, response.statusCode(), response.headers(), response.body());
    } catch (IOException e) {
      throw new UncheckedIOException(method + " " + baseUrl + path + " failed", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** Streams a GET into {@code file} (tars and WAL segments), returning the reply without its body. */
  Reply download(String path, Path file) {
    var request = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(Duration.ofMinutes(5)).GET().build();
    try {
      HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
      try (InputStream in = response.body()) {
        if (response.statusCode() != 200) {
          return new Reply("GET", path, response.statusCode(), response.headers(), in.readAllBytes());
        }
        Files.copy(in, file);
      }
      return new Reply("GET", path, response.statusCode(), response.headers(), new byte[0]);
    } catch (IOException e) {
      throw new UncheckedIOException("GET " + baseUrl + path + " failed", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
