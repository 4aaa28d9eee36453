package dev.arbor.bench;

import static dev.arbor.bench.HttpServerBenchServer.SEGMENT;
import static dev.arbor.bench.HttpServerBenchServer.STATUS;
import static dev.arbor.bench.HttpServerBenchServer.WRITE_BUFFER;
import static dev.arbor.bench.HttpServerBenchServer.segment;
import static dev.arbor.bench.HttpServerBenchServer.writeTar;

import dev.arbor.bench.HttpServerBenchServer.Body;
import java.io.BufferedOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.VirtualThreads;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * {@link HttpServerBenchServer}'s routes on Jetty 12's core API with virtual threads (a class of its own, so Jetty
 * need not be on the other servers' classpath).
 */
final class JettyBenchServer {
  private JettyBenchServer() {}

  static void start(InetSocketAddress address, Path data) throws Exception {
    var threads = new QueuedThreadPool();
    threads.setVirtualThreadsExecutor(VirtualThreads.getDefaultVirtualThreadsExecutor());
    var server = new Server(threads);
    var connector = new ServerConnector(server);
    connector.setHost(address.getHostString());
    connector.setPort(address.getPort());
    server.addConnector(connector);
    server.setHandler(new Handler.Abstract() {
      @Override
      public boolean handle(Request request, org.eclipse.jetty.server.Response response, Callback callback) throws Exception {
        String path = Request.getPathInContext(request);
        if (!"GET".equals(request.getMethod())) {
          return false;
        }
        if (path.equals("/v1/status")) {
          response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
          response.write(true, ByteBuffer.wrap(STATUS), callback);
          return true;
        }
        if (path.equals("/v1/basebackup")) {
          response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/x-tar");
          jettyBlocking(response, callback, out -> writeTar(data, out));
          return true;
        }
        if (path.startsWith("/v1/wal/")) {
          InputStream in = segment(data, path.substring("/v1/wal/".length()));
          response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/octet-stream");
          response.getHeaders().put(HttpHeader.CONTENT_LENGTH, SEGMENT);
          jettyBlocking(response, callback, out -> {
            try (in) {
              in.transferTo(out);
            }
          });
          return true;
        }
        return false;
      }
    });
    server.start();
  }

  /** Writes the body on the handler's (virtual) thread; a failed body fails the callback, which aborts the response. */
  private static void jettyBlocking(org.eclipse.jetty.server.Response response, Callback callback, Body body) {
    try {
      var out = new BufferedOutputStream(Content.Sink.asOutputStream(response), WRITE_BUFFER);
      body.writeTo(out);
      out.close();
      callback.succeeded();
    } catch (Throwable t) {
      callback.failed(t);
    }
  }
}
