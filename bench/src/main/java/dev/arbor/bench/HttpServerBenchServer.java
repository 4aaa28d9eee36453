package dev.arbor.bench;

import dev.arbor.storage.fs.PrefixThenZeros;
import dev.arbor.server.HttpApi;
import dev.arbor.server.Response;
import dev.arbor.storage.image.TarWriter;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;

/**
 * The server side of {@code bench/run http-server}: one server in a fresh JVM ({@code KIND PORT DATA_FILE}),
 * serving the same routes from the same sources whatever the kind:
 * <ul>
 *   <li>{@code GET /v1/status}: a small JSON answer, the readiness probe the start time waits for;</li>
 *   <li>{@code GET /v1/basebackup}: the data file as a ustar stream of {@value #SEGMENT}-byte entries, written by
 *       Arbor's {@link TarWriter} and sent chunked, as the pageserver sends a basebackup;</li>
 *   <li>{@code GET /v1/wal/{segment}}: {@value #SEGMENT} bytes of the data file from an {@link InputStream}, with
 *       their Content-Length, as the pageserver and the safekeepers send WAL segments;</li>
 *   <li>{@code GET /v1/wal-file/{segment}} (vertx only): the same bytes by {@code sendFile}, the zero-copy path a
 *       safekeeper could use for a segment it holds on disk.</li>
 * </ul>
 * {@code jdk} is Arbor's own {@link HttpApi} (the JDK server, a virtual thread per request, metrics per route);
 * {@code jdk-64k} the same with WAL segments handed to the server 64 KiB at a time (basebackups unchanged);
 * {@code jdk-tuned} the same JDK server written the way it is fastest ({@link JdkTunedBenchServer});
 * {@code vertx} is Vert.x core with vertx-web's router; {@code jetty} is Jetty 12's core API with virtual
 * threads. The blocking writers of the two libraries are the adapters Arbor would have to add.
 */
final class HttpServerBenchServer {
  static final long SEGMENT = 16L << 20;
  static final String[] KINDS = {"jdk", "jdk-64k", "jdk-tuned", "vertx", "jetty"};
  /** The bytes a Vert.x or Jetty adapter collects before handing them to the server (TarWriter writes 512-byte headers). */
  static final int WRITE_BUFFER = 64 * 1024;
  static final byte[] STATUS = "{\"status\":\"ok\"}".getBytes(StandardCharsets.UTF_8);

  private HttpServerBenchServer() {}

  /** Writes a response body to a blocking stream. */
  @FunctionalInterface
  interface Body {
    void writeTo(OutputStream out) throws IOException;
  }

  public static void main(String[] args) throws Exception {
    String kind = args[0];
    var address = new InetSocketAddress(InetAddress.getLoopbackAddress(), Integer.parseInt(args[1]));
    Path data = Path.of(args[2]);
    switch (kind) {
      case "jdk" -> jdk(address, data, 0);
      case "jdk-64k" -> jdk(address, data, WRITE_BUFFER);
      case "jdk-tuned" -> JdkTunedBenchServer.start(address, data);
      case "vertx" -> VertxBenchServer.start(address, data);
      case "jetty" -> JettyBenchServer.start(address, data);
      default -> throw new IllegalArgumentException("unknown server " + kind);
    }
    Thread.currentThread().join(); // the parent ends this process
  }

  /** The length of {@code GET /v1/basebackup} for a data file of {@code size} bytes: headers, contents, end marker. */
  static long tarLength(long size) {
    return 2 * 512 + size / SEGMENT * (512 + SEGMENT) + 1024;
  }

  static long segments(Path data) throws IOException {
    return Files.size(data) / SEGMENT;
  }

  static void writeTar(Path data, OutputStream out) throws IOException {
    var tar = new TarWriter(out, Instant.EPOCH);
    tar.directory("base", 0700);
    tar.directory("base/5", 0700);
    for (long i = 0; i < segments(data); i++) {
      try (InputStream in = slice(data, i * SEGMENT, SEGMENT)) {
        tar.file("base/5/" + (16384 + i), 0600, SEGMENT, in);
      }
    }
    tar.finish();
  }

  static InputStream segment(Path data, String name) throws IOException {
    long n = Long.parseLong(name);
    if (n < 0 || n >= segments(data)) {
      throw new IllegalArgumentException("no segment " + name);
    }
    return slice(data, n * SEGMENT, SEGMENT);
  }

  /**
   * {@code length} bytes of a file from {@code offset}, read through {@link PrefixThenZeros} as the pageserver
   * reads a WAL segment it serves cut at an LSN (here nothing is cut: the prefix is the whole length).
   */
  static InputStream slice(Path file, long offset, long length) throws IOException {
    FileChannel channel = FileChannel.open(file).position(offset);
    return new PrefixThenZeros(Channels.newInputStream(channel), length, length);
  }

  /** {@code in}, whose {@link InputStream#transferTo} hands the target {@code bytes} at a time (0: its own way). */
  static InputStream copyingIn(InputStream in, int bytes) {
    if (bytes == 0) {
      return in;
    }
    return new FilterInputStream(in) {
      @Override
      public long transferTo(OutputStream out) throws IOException {
        byte[] buffer = new byte[bytes];
        long copied = 0;
        for (int n; (n = read(buffer, 0, buffer.length)) >= 0; copied += n) {
          out.write(buffer, 0, n);
        }
        return copied;
      }
    };
  }

  /**
   * @param copyBuffer the bytes a WAL segment's source hands the server per write: 0 for {@link InputStream#transferTo}'s
   *     16 KiB, as the daemons' sources do ({@code Response.stream} calls it)
   */
  private static void jdk(InetSocketAddress address, Path data, int copyBuffer) throws IOException {
    new HttpApi("bench")
        .route("GET", "/v1/status", r -> Response.ok(Map.of("status", "ok")))
        .route("GET", "/v1/basebackup", r -> Response.stream("application/x-tar", out -> writeTar(data, out)))
        .route("GET", "/v1/wal/{segment}", r -> Response.stream("application/octet-stream", SEGMENT,
            copyingIn(segment(data, r.path("segment")), copyBuffer)))
        .start(address);
  }
}
