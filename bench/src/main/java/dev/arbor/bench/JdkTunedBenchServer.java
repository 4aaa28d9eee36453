package dev.arbor.bench;

import static dev.arbor.bench.HttpServerBenchServer.SEGMENT;
import static dev.arbor.bench.HttpServerBenchServer.STATUS;
import static dev.arbor.bench.HttpServerBenchServer.WRITE_BUFFER;
import static dev.arbor.bench.HttpServerBenchServer.segment;
import static dev.arbor.bench.HttpServerBenchServer.segments;
import static dev.arbor.bench.HttpServerBenchServer.tarLength;
import static dev.arbor.bench.HttpServerBenchServer.writeTar;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.arbor.bench.HttpServerBenchServer.Body;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Executors;

/**
 * {@link HttpServerBenchServer}'s routes on the same JDK server as Arbor's {@code HttpApi} (a virtual thread per
 * request), written the way the JDK server is fastest: every body with its Content-Length (the JDK server cuts a
 * chunked body into 4 KiB chunks, one socket write each; a basebackup's length is known from its image's
 * manifest), written through a {@value HttpServerBenchServer#WRITE_BUFFER}-byte buffer (the server writes what
 * it is given, 16 KiB at a time from {@link InputStream#transferTo}). What {@code HttpApi} could do without a
 * library.
 */
final class JdkTunedBenchServer {
  private JdkTunedBenchServer() {}

  static void start(InetSocketAddress address, Path data) throws IOException {
    HttpServer server = HttpServer.create(address, 128);
    server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    server.createContext("/v1/status", exchange -> send(exchange, "application/json", STATUS.length,
        out -> out.write(STATUS)));
    server.createContext("/v1/basebackup", exchange -> send(exchange, "application/x-tar", tarLength(Files.size(data)),
        out -> writeTar(data, out)));
    server.createContext("/v1/wal/", exchange -> {
      String name = exchange.getRequestURI().getPath().substring("/v1/wal/".length());
      if (Long.parseLong(name) >= segments(data)) {
        exchange.sendResponseHeaders(404, -1);
        exchange.close();
        return;
      }
      send(exchange, "application/octet-stream", SEGMENT, out -> {
        try (InputStream in = segment(data, name)) {
          in.transferTo(out);
        }
      });
    });
    server.start();
  }

  private static void send(HttpExchange exchange, String contentType, long length, Body body) throws IOException {
    exchange.getResponseHeaders().set("Content-Type", contentType);
    exchange.sendResponseHeaders(200, length);
    var out = new BufferedOutputStream(exchange.getResponseBody(), WRITE_BUFFER);
    body.writeTo(out);
    out.close();
    exchange.close();
  }
}
