package dev.arbor.storage.pageserver;

import dev.arbor.api.pageserver.Basebackup;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The basebackup's restore_command script, run by sh as PostgreSQL runs it (in PGDATA, with %f, %p and %%
 * substituted), against a small archive server: its exit codes. 0 means "here it is", 1 (only for a 404)
 * "the archive has no such file, WAL ends here", above 125 "something is wrong, stop recovery". That the
 * real pageserver answers 404 only at the end of WAL is WalServiceEndOfWalTest's; that a start stops when
 * recovery ends early anyway is StartReachesElectedEndTest's.
 */
class RestoreCommandTest {
  private static final String SEGMENT = "000000010000000000000003";
  private static HttpServer server;

  @TempDir
  Path pgdata;

  @BeforeAll
  static void archive() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    server.createContext("/wal/", exchange -> {
      String file = exchange.getRequestURI().getPath().substring("/wal/".length());
      try (exchange) {
        switch (file) {
          case SEGMENT -> {
            byte[] body = "the segment".getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
          }
          case "refused" -> exchange.sendResponseHeaders(403, -1);
          default -> exchange.sendResponseHeaders(404, -1);
        }
      }
    });
    server.start();
  }

  @AfterAll
  static void stop() {
    server.stop(0);
  }

  private String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/wal/%f";
  }

  @Test
  void aFetchedFileIsPutInPlace() throws Exception {
    assertThat(restore(url(), SEGMENT)).isZero();
    assertThat(Files.readString(pgdata.resolve("pg_wal/RECOVERYXLOG"))).isEqualTo("the segment");
    assertThat(Files.list(pgdata.resolve("pg_wal"))).as("no temporary file left").hasSize(1);
  }

  @Test
  void aFileTheArchiveDoesNotHaveIsTheEndOfWal() throws Exception {
    assertThat(restore(url(), "00000002.history")).isEqualTo(1);
    assertThat(Files.list(pgdata.resolve("pg_wal"))).isEmpty();
  }

  @Test
  void anUnreachableOrRefusingPageserverStopsRecoveryInsteadOfEndingIt() throws Exception {
    int closedPort;
    try (var s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    assertThat(restore("http://127.0.0.1:" + closedPort + "/wal/%f", SEGMENT)).as("connection refused").isGreaterThan(125);
    assertThat(restore(url().replace("%f", "refused"), SEGMENT)).as("HTTP 403").isGreaterThan(125);
    assertThat(Files.list(pgdata.resolve("pg_wal"))).isEmpty();
  }

  @Test
  void aPrefetchedFileIsTakenWithoutDownloading() throws Exception {
    Files.createDirectories(pgdata.resolve(Basebackup.PREFETCHED_WAL_DIR));
    Files.writeString(pgdata.resolve(Basebackup.PREFETCHED_WAL_DIR).resolve("000000010000000000000009"), "prefetched");
    assertThat(restore("http://127.0.0.1:1/never/%f", "000000010000000000000009")).isZero();
    assertThat(Files.readString(pgdata.resolve("pg_wal/RECOVERYXLOG"))).isEqualTo("prefetched");
  }

  @Test
  void aTransferCutShortStopsRecovery() throws Exception {
    try (var socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      Thread archive = Thread.ofPlatform().start(() -> {
        try (var s = socket.accept(); OutputStream out = s.getOutputStream()) {
          s.getInputStream().read(new byte[4096]);
          out.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
          out.write(new byte[10]);
        } catch (IOException ignored) {
          // the test sees what curl made of it
        }
      });
      assertThat(restore("http://127.0.0.1:" + socket.getLocalPort() + "/wal/%f", SEGMENT)).isGreaterThan(125);
      archive.join();
    }
    assertThat(Files.list(pgdata.resolve("pg_wal"))).as("no partial file").isEmpty();
  }

  /** Runs the command as PostgreSQL does: cwd PGDATA, %p relative to it, %f the file name, %% a literal %. */
  private int restore(String walUrl, String file) throws Exception {
    Files.createDirectories(pgdata.resolve("pg_wal"));
    String template = BasebackupService.restoreCommand(walUrl);
    var command = new StringBuilder();
    for (int i = 0; i < template.length(); i++) {
      char c = template.charAt(i);
      if (c == '%' && i + 1 < template.length()) {
        char n = template.charAt(++i);
        command.append(switch (n) {
          case 'f' -> file;
          case 'p' -> "pg_wal/RECOVERYXLOG";
          case '%' -> "%";
          default -> "%" + n;
        });
      } else {
        command.append(c);
      }
    }
    Process p = new ProcessBuilder("sh", "-c", command.toString()).directory(pgdata.toFile()).redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    return p.waitFor();
  }
}
