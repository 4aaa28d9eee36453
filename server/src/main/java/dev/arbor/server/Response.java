package dev.arbor.server;

import dev.arbor.client.Json;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** What a handler answers: a status, headers and a body that is either bytes or streamed. */
public final class Response {
  /** Writes a body straight to the client. */
  @FunctionalInterface
  public interface BodyWriter {
    void writeTo(OutputStream out) throws IOException;
  }

  /** The length of a streamed body that is not known in advance (sent chunked). */
  static final long UNKNOWN_LENGTH = -1;

  final int status;
  final Map<String, String> headers = new LinkedHashMap<>();
  final byte[] bytes;
  final BodyWriter writer;
  final long length;
  /** Closed once the exchange ends, whether the body was written or not (the client may be gone before). */
  final Closeable source;

  private Response(int status, String contentType, byte[] bytes, BodyWriter writer, long length, Closeable source) {
    this.status = status;
    this.bytes = bytes;
    this.writer = writer;
    this.length = length;
    this.source = source;
    if (contentType != null) {
      headers.put("Content-Type", contentType);
    }
  }

  public static Response json(int status, Object body) {
    return new Response(status, "application/json", Json.write(body), null, UNKNOWN_LENGTH, null);
  }

  public static Response ok(Object body) {
    return json(200, body);
  }

  public static Response noContent() {
    return new Response(204, null, new byte[0], null, UNKNOWN_LENGTH, null);
  }

  public static Response bytes(int status, String contentType, byte[] body) {
    return new Response(status, contentType, body, null, UNKNOWN_LENGTH, null);
  }

  public static Response text(int status, String body) {
    return bytes(status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * A body of unknown length, sent chunked. When the writer fails, the connection is dropped without the
   * last chunk, so the client sees an error, never a complete answer with fewer bytes.
   */
  public static Response stream(String contentType, BodyWriter writer) {
    return new Response(200, contentType, null, writer, UNKNOWN_LENGTH, null);
  }

  /**
   * Exactly {@code length} bytes of {@code source}, with that Content-Length: a client that gets fewer
   * (the source failed or ended early) sees the connection end before the declared length. The source is
   * closed in every case.
   */
  public static Response stream(String contentType, long length, InputStream source) {
    if (length < 0) {
      throw new IllegalArgumentException("a fixed-length body needs a length >= 0, got " + length);
    }
    return new Response(200, contentType, null, out -> {
      long copied = source.transferTo(out);
      if (copied != length) {
        throw new IOException("the body source held " + copied + " bytes, not the " + length + " declared");
      }
    }, length, source);
  }

  public Response header(String name, String value) {
    headers.put(name, value);
    return this;
  }
}
