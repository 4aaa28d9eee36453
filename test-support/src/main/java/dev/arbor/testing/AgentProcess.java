package dev.arbor.testing;

import static org.awaitility.Awaitility.await;

import dev.arbor.api.compute.AgentStatus;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.client.ComputeAgentClient;
import dev.arbor.client.ComputeSpecJson;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.ServiceLaunch;
import dev.arbor.postgres.UnixSocketFactory;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A compute agent as its own JVM, launched the way the CLI and a pod run it ({@code java -cp ...
 * ComputeAgent --spec FILE}), with its stdout (agent and PostgreSQL log lines) captured line by line.
 */
public final class AgentProcess implements AutoCloseable {
  private final ComputeAgentSpec spec;
  private final Process process;
  private final List<String> output = new CopyOnWriteArrayList<>();
  private final Thread pump;
  private final ComputeAgentClient client;

  private AgentProcess(ComputeAgentSpec spec, Process process) {
    this.spec = spec;
    this.process = process;
    // One try per call: awaitRunning polls, and a test that reads the status expects the agent up.
    this.client = spec == null ? null : ComputeAgentClient.at(spec.listenHost(), spec.httpPort(), Duration.ofSeconds(10), RetryPolicy.NONE);
    var reader = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    this.pump = Thread.ofPlatform().daemon().name("agent-output").start(() -> {
      try {
        String line;
        while ((line = reader.readLine()) != null) {
          output.add(line);
        }
      } catch (IOException ignored) {
        // the agent went away
      }
    });
  }

  /** Writes the spec to {@code workDir}/../NAME.json and starts an agent on it with {@code env} added. */
  public static AgentProcess start(ComputeAgentSpec spec, Path specFile, Map<String, String> env) throws IOException {
    Files.write(specFile, ComputeSpecJson.write(spec));
    return launch(spec, List.of("--spec", specFile.toString()), env);
  }

  /** Starts an agent with exactly these arguments, e.g. to see it refuse a spec. */
  public static AgentProcess launch(ComputeAgentSpec spec, List<String> args, Map<String, String> env) throws IOException {
    List<String> cmd = ServiceLaunch.COMPUTE_AGENT.command(List.of("-Xmx256m", "-XX:+UseSerialGC"), args);
    var pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().putAll(env);
    return new AgentProcess(spec, pb.start());
  }

  /** The agent's HTTP API, on the spec's {@code listen_host} and {@code http_port}. */
  public ComputeAgentClient client() {
    return client;
  }

  /** The agent JVM's pid (for /proc/PID/status in benchmarks). */
  public long pid() {
    return process.pid();
  }

  public AgentStatus status() throws IOException {
    return client.status();
  }

  /**
   * {@code GET /metrics} as the raw exchange, for tests of the exposition format itself (its Content-Type); a
   * caller that wants the text uses {@code client().metrics()}.
   */
  public HttpResponse<String> metrics() throws IOException, InterruptedException {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(client.baseUrl() + ComputeAgentClient.METRICS_PATH))
        .GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  /** Waits for phase Running; fails at once, with the agent's output, when the agent exits instead. */
  public AgentStatus awaitRunning() {
    await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
        .failFast("the agent exited before Running", () -> {
          if (!process.isAlive()) {
            throw new AssertionError("the agent exited with code " + process.exitValue() + " before Running; its output:\n" + outputText());
          }
        })
        .until(() -> status().phase() == AgentStatus.Phase.RUNNING);
    try {
      return status();
    } catch (IOException e) {
      throw new AssertionError("status unreachable right after Running", e);
    }
  }

  /** SIGTERM, as Kubernetes and the CLI stop a compute; returns the exit code. */
  public int sigterm() throws InterruptedException {
    // Through the handle: Process.destroy() would also close our end of the agent's stdout, losing the
    // lines it writes while it stops.
    process.toHandle().destroy();
    return awaitExit();
  }

  public int awaitExit() throws InterruptedException {
    if (!process.waitFor(3, TimeUnit.MINUTES)) {
      throw new AssertionError("the agent did not exit within 3 minutes; its output:\n" + outputText());
    }
    pump.join(Duration.ofSeconds(10));
    return process.exitValue();
  }

  public List<String> output() {
    return List.copyOf(output);
  }

  public String outputText() {
    return String.join("\n", output);
  }

  /** The postmaster's pid, from postmaster.pid in the agent's PGDATA, while PostgreSQL runs. */
  public Optional<Long> postmasterPid() throws IOException {
    if (spec == null) {
      return Optional.empty();
    }
    Path pidFile = spec.workDir().resolve("pgdata/postmaster.pid");
    if (!Files.exists(pidFile)) {
      return Optional.empty();
    }
    return Optional.of(Long.parseLong(Files.readAllLines(pidFile).get(0).trim()));
  }

  /** A superuser connection over the compute's unix socket, as the agent itself connects. */
  public Connection superuser(String database) throws SQLException {
    return superuser(database, Map.of());
  }

  /** {@link #superuser(String)} with more pgjdbc properties, e.g. {@code replication=database}. */
  public Connection superuser(String database, Map<String, String> more) throws SQLException {
    var props = new Properties();
    props.putAll(more);
    props.setProperty("user", "postgres");
    props.setProperty("sslmode", "disable");
    props.setProperty("gssEncMode", "disable");
    props.setProperty("socketFactory", UnixSocketFactory.class.getName());
    props.setProperty("socketFactoryArg", spec.workDir().resolve("socket/.s.PGSQL." + spec.port()).toString());
    return DriverManager.getConnection("jdbc:postgresql://localhost:" + spec.port() + "/" + database, props);
  }

  /** Over TCP with a password, as an application connects (pg_hba: scram-sha-256). */
  public Connection connect(String database, String user, String password) throws SQLException {
    var props = new Properties();
    props.setProperty("user", user);
    props.setProperty("password", password);
    return DriverManager.getConnection("jdbc:postgresql://" + spec.listenHost() + ":" + spec.port() + "/" + database, props);
  }

  /**
   * Stops the agent if a test left it running (PostgreSQL too if the agent could not), and prints its output
   * to the test's output (target/surefire-reports/*-output.txt), where a failure is investigated.
   */
  @Override
  public void close() throws IOException {
    System.out.println("--- output of compute agent " + process.pid() + " ---\n" + outputText());
    if (process.isAlive()) {
      Optional<Long> pg = postmasterPid();
      process.toHandle().destroy();
      try {
        if (!process.waitFor(2, TimeUnit.MINUTES)) {
          process.destroyForcibly();
          process.waitFor(30, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      pg.flatMap(ProcessHandle::of).ifPresent(ProcessHandle::destroyForcibly);
    }
  }
}
