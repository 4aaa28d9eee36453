package dev.arbor.operator;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The packaged operator ({@code target/quarkus-app/quarkus-run.jar}, built by the package phase before the
 * integration tests run) as a process of its own: it can be killed mid-way and started again, as a pod would be.
 */
final class OperatorProcess implements AutoCloseable {
  private final Process process;
  private final Path log;
  private final int httpPort;

  private OperatorProcess(Process process, Path log, int httpPort) {
    this.process = process;
    this.log = log;
    this.httpPort = httpPort;
  }

  static OperatorProcess start(Map<String, String> env, Path log, int httpPort) throws IOException {
    var op = new OperatorProcess(launch(env, log, httpPort), log, httpPort);
    op.awaitHealthy();
    return op;
  }

  /**
   * Runs an operator that must refuse to start and returns its exit status; one still running after
   * {@code within} is killed and fails the test.
   */
  static int runExpectingExit(Map<String, String> env, Path log, int httpPort, Duration within) throws IOException,
      InterruptedException {
    Process p = launch(env, log, httpPort);
    if (!p.waitFor(within.toMillis(), TimeUnit.MILLISECONDS)) {
      new OperatorProcess(p, log, httpPort).kill();
      throw new AssertionError("the operator was expected to stop by itself but still ran after " + within + "; its log:\n"
          + Files.readString(log));
    }
    return p.exitValue();
  }

  private static Process launch(Map<String, String> env, Path log, int httpPort) throws IOException {
    String jar = System.getProperty("arbor.operator.jar");
    if (jar == null || !Files.exists(Path.of(jar))) {
      throw new IllegalStateException("the packaged operator " + jar + " is missing: run the integration tests through Maven "
          + "(./mvnw verify -pl operator -am), whose package phase builds it before they run");
    }
    List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx256m",
        "-XX:+UseSerialGC", "-jar", jar));
    var pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(env);
    pb.environment().put("QUARKUS_HTTP_PORT", Integer.toString(httpPort));
    return pb.start();
  }

  /** Liveness and readiness both UP: the controllers are started (and this replica leads). */
  private void awaitHealthy() {
    var http = HttpClient.newHttpClient();
    await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofMillis(500)).ignoreExceptions()
        .failFast("the operator exited", () -> {
          if (!process.isAlive()) {
            throw new AssertionError("the operator exited with " + process.exitValue() + "; its log:\n" + logText());
          }
        })
        .until(() -> http.send(HttpRequest.newBuilder(URI.create(url("/q/health/ready"))).build(),
            HttpResponse.BodyHandlers.ofString()).statusCode() == 200);
  }

  String url(String path) {
    return "http://127.0.0.1:" + httpPort + path;
  }

  String get(String path) throws IOException, InterruptedException {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url(path))).build(), HttpResponse.BodyHandlers.ofString())
        .body();
  }

  String logText() {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  /** SIGKILL: no shutdown hook, no lease release, nothing flushed — a crash. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(30, TimeUnit.SECONDS);
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroy();
      try {
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
          kill();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        process.destroyForcibly();
      }
    }
  }
}
