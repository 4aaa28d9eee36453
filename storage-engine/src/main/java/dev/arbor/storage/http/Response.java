package dev.arbor.storage.http;

import dev.arbor.storage.json.Json;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** What a handler answers: a status, headers and a body that is either bytes or streamed. */
public final class Response {
  /** Writes a body of unknown length straight to the client (chunked transfer). */
  @FunctionalInterface
  public interface BodyWriter {
    void writeTo(OutputStream out) throws IOException;
  }

  final int status;
  final Map<String, String> headers = new LinkedHashMap<>();
  final byte[] bytes;
  final BodyWriter writer;

  private Response(int status, String contentType, byte[] bytes, BodyWriter writer) {
    this.status = status;
    this.bytes = bytes;
    this.writer = writer;
    if (contentType != null) {
      headers.put("Content-Type", contentType);
    }
  }

  public static Response json(int status, Object body) {
    return new Response(status, "application/json", Json.write(body), null);
  }

  public static Response ok(Object body) {
    return json(200, body);
  }

  public static Response noContent() {
    return new Response(204, null, new byte[0], null);
  }

  public static Response bytes(int status, String contentType, byte[] body) {
    return new Response(status, contentType, body, null);
  }

  public static Response text(int status, String body) {
    return bytes(status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
  }

  public static Response stream(String contentType, BodyWriter writer) {
    return new Response(200, contentType, null, writer);
  }

  public Response header(String name, String value) {
    headers.put(name, value);
    return this;
  }
}
