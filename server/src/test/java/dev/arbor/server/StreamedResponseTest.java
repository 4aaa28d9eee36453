package dev.arbor.server;

import dev.arbor.client.HttpJson;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A streamed answer that cannot be written whole must reach the client as an error, never as a complete
 * answer with fewer bytes: a WAL segment cut short that looks whole is read as the end of WAL.
 */
class StreamedResponseTest {
  private static final int SIZE = 1 << 20;
  private static final byte[] BODY = body();
  private static HttpApi api;
  private static final HttpJson http = new HttpJson(Duration.ofSeconds(10));

  @BeforeAll
  static void serve() throws IOException {
    api = new HttpApi("test")
        .route("GET", "/chunked/fails", r -> Response.stream("application/octet-stream", out -> {
          out.write(BODY, 0, 100_000);
          throw new IOException("disk read failed");
        }))
        .route("GET", "/chunked/whole", r -> Response.stream("application/octet-stream", out -> out.write(BODY)))
        .route("GET", "/fixed/fails", r -> Response.stream("application/octet-stream", SIZE,
            new SequenceInputStream(new ByteArrayInputStream(BODY, 0, 100_000), failing())))
        .route("GET", "/fixed/short", r -> Response.stream("application/octet-stream", SIZE,
            new ByteArrayInputStream(BODY, 0, SIZE - 1)))
        .route("GET", "/fixed/whole", r -> Response.stream("application/octet-stream", SIZE, new ByteArrayInputStream(BODY)))
        .start(new InetSocketAddress("127.0.0.1", 0));
  }

  @AfterAll
  static void stop() {
    api.close();
  }

  private static String url(String path) {
    return "http://127.0.0.1:" + api.port() + path;
  }

  @Test
  void aChunkedBodyWhoseWriterFailsEndsInAnError() {
    assertThatThrownBy(() -> read("/chunked/fails")).isInstanceOf(IOException.class);
  }

  @Test
  void aFixedLengthBodyWhoseSourceFailsEndsInAnError() {
    assertThatThrownBy(() -> read("/fixed/fails")).isInstanceOf(IOException.class);
  }

  @Test
  void aFixedLengthBodyWhoseSourceEndsEarlyEndsInAnError() {
    assertThatThrownBy(() -> read("/fixed/short")).isInstanceOf(IOException.class);
  }

  @Test
  void wholeBodiesArriveWhole() throws IOException {
    assertThat(read("/chunked/whole")).isEqualTo(BODY);
    assertThat(read("/fixed/whole")).isEqualTo(BODY);
    // The server stays usable after aborted answers.
    assertThatThrownBy(() -> read("/fixed/fails")).isInstanceOf(IOException.class);
    assertThat(read("/fixed/whole")).isEqualTo(BODY);
  }

  private static byte[] read(String path) throws IOException {
    try (InputStream in = http.stream(url(path), Duration.ofSeconds(10))) {
      return in.readAllBytes();
    }
  }

  private static InputStream failing() {
    return new InputStream() {
      @Override
      public int read() throws IOException {
        throw new IOException("disk read failed");
      }
    };
  }

  private static byte[] body() {
    byte[] b = new byte[SIZE];
    for (int i = 0; i < SIZE; i++) {
      b[i] = (byte) (i * 31 + 7);
    }
    return b;
  }
}
