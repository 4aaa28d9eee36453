package dev.arbor.bench;

import static dev.arbor.bench.HttpServerBenchServer.SEGMENT;
import static dev.arbor.bench.HttpServerBenchServer.STATUS;
import static dev.arbor.bench.HttpServerBenchServer.WRITE_BUFFER;
import static dev.arbor.bench.HttpServerBenchServer.segment;
import static dev.arbor.bench.HttpServerBenchServer.writeTar;

import dev.arbor.bench.HttpServerBenchServer.Body;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * {@link HttpServerBenchServer}'s routes on Vert.x core with vertx-web's router (a class of its own, so Vert.x
 * need not be on the other servers' classpath).
 */
final class VertxBenchServer {
  private VertxBenchServer() {}

  static void start(InetSocketAddress address, Path data) throws Exception {
    Vertx vertx = Vertx.vertx();
    Router router = Router.router(vertx);
    router.get("/v1/status").handler(ctx -> ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
        .end(Buffer.buffer(STATUS)));
    router.get("/v1/basebackup").handler(ctx -> {
      ctx.response().setChunked(true).putHeader(HttpHeaders.CONTENT_TYPE, "application/x-tar");
      vertxBlocking(ctx.response(), out -> writeTar(data, out));
    });
    router.get("/v1/wal/:segment").handler(ctx -> {
      InputStream in;
      try {
        in = segment(data, ctx.pathParam("segment"));
      } catch (IOException | IllegalArgumentException e) {
        ctx.fail(404, e);
        return;
      }
      ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/octet-stream")
          .putHeader(HttpHeaders.CONTENT_LENGTH, Long.toString(SEGMENT));
      vertxBlocking(ctx.response(), out -> {
        try (in) {
          in.transferTo(out);
        }
      });
    });
    router.get("/v1/wal-file/:segment").handler(ctx -> {
      long n = Long.parseLong(ctx.pathParam("segment"));
      ctx.response().putHeader(HttpHeaders.CONTENT_TYPE, "application/octet-stream")
          .sendFile(data.toString(), n * SEGMENT, SEGMENT);
    });
    vertx.createHttpServer().requestHandler(router).listen(address.getPort(), address.getHostString())
        .toCompletionStage().toCompletableFuture().get();
  }

  /**
   * Runs a blocking body writer on a virtual thread, off the event loop. A body that fails resets the
   * connection, so the client never takes a short body for a whole one.
   */
  private static void vertxBlocking(HttpServerResponse response, Body body) {
    Thread.ofVirtual().start(() -> {
      try {
        var out = new VertxResponseStream(response);
        body.writeTo(out);
        out.flush();
        response.end();
      } catch (IOException | RuntimeException e) {
        response.reset();
      }
    });
  }

  /** An OutputStream onto a Vert.x response that blocks its (virtual) thread while the write queue is full. */
  private static final class VertxResponseStream extends OutputStream {
    private final HttpServerResponse response;
    private final byte[] buffer = new byte[WRITE_BUFFER];
    private int count;
    private volatile CompletableFuture<Void> drained;

    VertxResponseStream(HttpServerResponse response) {
      this.response = response;
      response.closeHandler(v -> {
        CompletableFuture<Void> d = drained;
        if (d != null) {
          d.completeExceptionally(new IOException("the client closed the connection"));
        }
      });
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      while (len > 0) {
        int n = Math.min(len, buffer.length - count);
        System.arraycopy(b, off, buffer, count, n);
        count += n;
        off += n;
        len -= n;
        if (count == buffer.length) {
          flush();
        }
      }
    }

    @Override
    public void flush() throws IOException {
      if (count == 0) {
        return;
      }
      awaitRoom();
      response.write(Buffer.buffer(count).appendBytes(buffer, 0, count));
      count = 0;
    }

    private void awaitRoom() throws IOException {
      if (!response.writeQueueFull()) {
        return;
      }
      var d = new CompletableFuture<Void>();
      drained = d;
      response.drainHandler(v -> d.complete(null));
      if (!response.writeQueueFull()) {
        d.complete(null); // drained between the two looks
      }
      try {
        d.get();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while the client was reading");
      } catch (ExecutionException e) {
        throw new IOException(e.getCause().getMessage(), e.getCause());
      }
    }
  }
}
