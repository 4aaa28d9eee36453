package dev.arbor.postgres;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A PostgreSQL server running as our child process on a loopback port, with its unix socket in a
 * directory of ours. The child is the postmaster itself (see {@link ServerUser}), so {@link #kill()} is a
 * real SIGKILL of PostgreSQL and {@link #stop()} a real fast shutdown.
 */
public final class PostgresServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(PostgresServer.class);
  private static final Duration STARTUP_TIMEOUT = Duration.ofMinutes(2);
  private static final Duration SHUTDOWN_TIMEOUT = Duration.ofMinutes(1);

  private final PostgresInstallation installation;
  private final Path dataDir;
  private final Path socketDir;
  private final Path logFile;
  private final int port;
  private final Map<String, String> settings;
  private Process process;

  private PostgresServer(Builder b) {
    this.installation = b.installation;
    this.dataDir = b.dataDir;
    this.socketDir = b.socketDir;
    this.logFile = b.logFile;
    this.port = b.port;
    this.settings = Map.copyOf(b.settings);
  }

  public static Builder builder(PostgresInstallation installation, Path dataDir) {
    return new Builder(installation, dataDir);
  }

  /** Starts the server and waits until it accepts connections (or is a ready hot standby). */
  public PostgresServer start() throws IOException {
    launch();
    awaitReady();
    log.info("event=postgres_ready pid={} port={}", process.pid(), port);
    return this;
  }

  /**
   * Runs a server that stops by itself (a recovery with {@code recovery_target_action = shutdown}) and waits
   * for it to exit. Fails with the log's last lines when it exits with an error or outlives {@code timeout}
   * (then it is killed). An interrupt kills it too.
   */
  public void runUntilExit(Duration timeout) throws IOException {
    launch();
    try {
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        kill();
        throw new IOException("PostgreSQL on " + dataDir + " was still running after " + timeout.toMinutes() + " min and was "
            + "killed. Its log (" + logFile + ") ends with:\n" + logTail());
      }
    } catch (InterruptedException e) {
      kill();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while PostgreSQL on " + dataDir + " ran; it was killed", e);
    }
    if (process.exitValue() != 0) {
      throw new IOException("PostgreSQL on " + dataDir + " exited with code " + process.exitValue() + ". Its log ("
          + logFile + ") ends with:\n" + logTail());
    }
    log.info("event=postgres_exited pid={} data_dir={}", process.pid(), dataDir);
  }

  private void launch() throws IOException {
    if (process != null && process.isAlive()) {
      throw new IllegalStateException("PostgreSQL on " + dataDir + " is already running (pid " + process.pid() + ")");
    }
    ServerUser user = ServerUser.current();
    user.handOver(user.createReachable(socketDir));
    List<String> cmd = new ArrayList<>(List.of(installation.binary("postgres").toString(), "-D", dataDir.toString(),
        "-c", "port=" + port, "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + socketDir));
    settings.forEach((k, v) -> {
      cmd.add("-c");
      cmd.add(k + "=" + v);
    });
    Files.createDirectories(logFile.getParent());
    process = user.processBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
        .start();
    log.info("event=postgres_starting pid={} port={} data_dir={}", process.pid(), port, dataDir);
  }

  private void awaitReady() throws IOException {
    Path pidFile = dataDir.resolve("postmaster.pid");
    Instant deadline = Instant.now().plus(STARTUP_TIMEOUT);
    while (Instant.now().isBefore(deadline)) {
      if (!process.isAlive()) {
        throw new IOException("PostgreSQL on " + dataDir + " exited with code " + process.exitValue()
            + " while starting. Its log (" + logFile + ") ends with:\n" + logTail());
      }
      // Line 8 of postmaster.pid is the postmaster's status; pg_ctl -w waits on the same field.
      try {
        List<String> lines = Files.readAllLines(pidFile, StandardCharsets.UTF_8);
        if (lines.size() >= 8 && Long.parseLong(lines.get(0).trim()) == process.pid()) {
          String status = lines.get(7).trim();
          if (status.equals("ready") || status.equals("standby")) {
            return;
          }
        }
      } catch (IOException | NumberFormatException notYet) {
        // the file appears and fills while the postmaster starts
      }
      sleep(Duration.ofMillis(20));
    }
    kill();
    throw new IOException("PostgreSQL on " + dataDir + " was not ready within " + STARTUP_TIMEOUT.toSeconds()
        + "s. Its log (" + logFile + ") ends with:\n" + logTail());
  }

  /** Fast shutdown (SIGINT): active transactions are rolled back, WAL is flushed; then waits for exit. */
  public void stop() {
    if (process == null || !process.isAlive()) {
      return;
    }
    signal("INT");
    try {
      if (!process.waitFor(SHUTDOWN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        log.warn("event=postgres_shutdown_timeout pid={} action=kill", process.pid());
        kill();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      kill();
    }
    log.info("event=postgres_stopped port={}", port);
  }

  /**
   * SIGKILL of the postmaster and every backend, as when a pod or machine dies: nothing is flushed that
   * was not already. Returns once all of them are gone, so the port and shared memory are free.
   */
  public void kill() {
    if (process == null) {
      return;
    }
    List<ProcessHandle> all = new ArrayList<>(process.descendants().toList());
    all.add(process.toHandle());
    all.forEach(ProcessHandle::destroyForcibly);
    for (ProcessHandle p : all) {
      try {
        p.onExit().get(SHUTDOWN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
        log.warn("event=postgres_kill_wait_failed pid={} error={}", p.pid(), e.toString());
      }
    }
  }

  public boolean isRunning() {
    return process != null && process.isAlive();
  }

  public long pid() {
    return process.pid();
  }

  public int port() {
    return port;
  }

  public Path dataDir() {
    return dataDir;
  }

  public Path socketDir() {
    return socketDir;
  }

  public Path logFile() {
    return logFile;
  }

  public PostgresInstallation installation() {
    return installation;
  }

  public String jdbcUrl(String database) {
    return "jdbc:postgresql://127.0.0.1:" + port + "/" + database;
  }

  public Connection connect(String database, String user, String password) throws SQLException {
    var props = new Properties();
    props.setProperty("user", user);
    if (password != null) {
      props.setProperty("password", password);
    }
    return DriverManager.getConnection(jdbcUrl(database), props);
  }

  /**
   * A JDBC connection over this server's unix socket, which lives in a directory of ours: pg_hba's
   * {@code local} lines decide how it authenticates (a compute trusts them, so a process beside PostgreSQL
   * connects as the superuser without a password ever existing on TCP, which a hot standby could not set).
   */
  public Connection connectLocal(String database, String user, String applicationName) throws SQLException {
    var props = new Properties();
    props.setProperty("user", user);
    props.setProperty("ApplicationName", applicationName);
    props.setProperty("sslmode", "disable");
    props.setProperty("gssEncMode", "disable");
    props.setProperty("socketFactory", UnixSocketFactory.class.getName());
    props.setProperty("socketFactoryArg", socketDir.resolve(".s.PGSQL." + port).toString());
    return DriverManager.getConnection("jdbc:postgresql://localhost:" + port + "/" + database, props);
  }

  /**
   * Runs SQL through {@code psql} over the unix socket as {@code user} (the socket directory is private to
   * this server, and pg_hba decides how local connections authenticate). Returns psql's unaligned,
   * tuples-only output. Used for setup that must happen before any TCP password exists.
   */
  public String psql(String user, String database, String sql) throws IOException {
    List<String> cmd = List.of(installation.binary("psql").toString(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
        "-h", socketDir.toString(), "-p", Integer.toString(port), "-U", user, "-d", database, "-c", sql);
    ServerUser.Output out = ServerUser.current().run(cmd, Duration.ofMinutes(2));
    if (out.exitCode() != 0) {
      throw new IOException("psql on port " + port + " failed (exit " + out.exitCode() + "): " + out.stderrLine());
    }
    if (!out.stderr().isBlank()) {
      log.info("event=psql_stderr port={} stderr=\"{}\"", port, out.stderrLine().replace("\"", "'"));
    }
    return out.stdout().strip();
  }

  /** The last lines of the server log, for error messages. */
  public String logTail() {
    try {
      List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    } catch (IOException e) {
      return "(log not readable: " + e.getMessage() + ")";
    }
  }

  @Override
  public void close() {
    stop();
  }

  private void signal(String name) {
    try {
      Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).start();
      kill.waitFor(10, TimeUnit.SECONDS);
    } catch (IOException e) {
      throw new IllegalStateException("cannot signal PostgreSQL pid " + process.pid() + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  public static final class Builder {
    private final PostgresInstallation installation;
    private final Path dataDir;
    private Path socketDir;
    private Path logFile;
    private int port;
    private final Map<String, String> settings = new LinkedHashMap<>();

    private Builder(PostgresInstallation installation, Path dataDir) {
      this.installation = installation;
      this.dataDir = dataDir.toAbsolutePath(); // PostgreSQL runs from "/" (see ServerUser)
    }

    public Builder port(int port) {
      this.port = port;
      return this;
    }

    /** Where the unix socket goes; keep the path short (the socket path is limited to 107 bytes). */
    public Builder socketDir(Path dir) {
      this.socketDir = dir.toAbsolutePath();
      return this;
    }

    public Builder logFile(Path file) {
      this.logFile = file;
      return this;
    }

    /** A server setting passed as {@code -c name=value}; overrides postgresql.conf. */
    public Builder setting(String name, String value) {
      settings.put(name, value);
      return this;
    }

    public PostgresServer build() {
      if (port <= 0) {
        throw new IllegalArgumentException("port must be set to a free TCP port");
      }
      Path parent = dataDir.getParent();
      if (socketDir == null) {
        socketDir = parent.resolve("socket");
      }
      if (logFile == null) {
        logFile = parent.resolve("postgres.log");
      }
      return new PostgresServer(this);
    }
  }
}
