package dev.arbor.bench;

import dev.arbor.testing.FreePort;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * HAProxy in TCP mode with one thread in front of a PostgreSQL port: the reference for what any relay on the same
 * machine costs ({@code bench/run proxy-overhead --haproxy true}). It is the build host's {@code haproxy}; the benchmark
 * says how to install it when it is missing.
 */
record HaproxyReference(Process process, int port, String version) implements AutoCloseable {

  static HaproxyReference start(Path work, int postgresPort, boolean pin) throws IOException, InterruptedException {
    String version;
    try {
      Process v = new ProcessBuilder("haproxy", "-v").redirectErrorStream(true).start();
      String out = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      v.waitFor();
      version = out.lines().findFirst().orElse("HAProxy").replaceFirst(" - .*", "").trim();
    } catch (IOException e) {
      throw new IllegalStateException("--haproxy true needs haproxy on the PATH: apt-get install haproxy", e);
    }
    int port = FreePort.pick();
    Path config = work.resolve("haproxy.cfg");
    Files.writeString(config, String.join("\n",
        "global", "  nbthread 1",
        "defaults", "  mode tcp", "  timeout connect 5s", "  timeout client 1h", "  timeout server 1h",
        "listen postgres", "  bind 127.0.0.1:" + port, "  server postgres 127.0.0.1:" + postgresPort, ""));
    List<String> cmd = pin ? List.of("taskset", "-c", "1", "haproxy", "-db", "-f", config.toString())
        : List.of("haproxy", "-db", "-f", config.toString());
    Process process = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(work.resolve("haproxy.log").toFile()).start();
    var reference = new HaproxyReference(process, port, version);
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (true) {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 1_000);
        return reference;
      } catch (IOException notYet) {
        if (!process.isAlive() || System.nanoTime() > deadline) {
          reference.close();
          throw new IllegalStateException("haproxy did not listen on port " + port + ": "
              + Files.readString(work.resolve("haproxy.log")));
        }
        Thread.sleep(50);
      }
    }
  }

  @Override
  public void close() {
    process.destroy();
    try {
      process.waitFor();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
