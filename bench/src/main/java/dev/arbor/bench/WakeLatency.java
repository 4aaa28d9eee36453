package dev.arbor.bench;

import dev.arbor.client.ServiceLaunch;
import dev.arbor.testing.TempDirectory;
import dev.arbor.testing.WakeSamples;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Wake on connect in local mode, as a user meets it: {@code ./arbor up}, a database of {@code --db-mb}, the endpoint
 * started with a short suspend timeout; then, {@code --wakes} times, wait until the proxy suspended it and time a
 * client's connect to the first row of {@code SELECT 1}. The phases come from the proxy's and the compute agent's
 * log lines (their wall-clock times). Last, {@code --clients} clients connect at once to the suspended endpoint:
 * one wake, every client answered.
 */
final class WakeLatency {
  private static final Pattern URI = Pattern.compile("postgresql://([^:]+):([^@]+)@([^:/]+):(\\d+)/(.+)");
  private static final Pattern ISO_TIME = Pattern.compile("^(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}[^ ]*) .*event=(\\w+)");
  /** The compute agent's start events, in order; each phase ends at its event. */
  private static final List<String> AGENT_EVENTS = List.of("agent_starting", "generation_elected", "pgdata_ready", "compute_started",
      "compute_running");
  private static final List<String> PHASES = List.of("proxy: accept to wake asked", "spawn to agent JVM up", "generation election",
      "basebackup and configure", "PostgreSQL start, replay, promotion", "roles and databases", "proxy: compute running to first row");

  private WakeLatency() {}

  static void run(Options o) throws Exception {
    int dbMb = o.integer("db-mb", 100);
    int wakes = o.integer("wakes", 30);
    int clients = o.integer("clients", 20);
    try (var home = TempDirectory.create("arbor-wake-bench-")) {
      Cli cli = new Cli(home.path());
      try {
        cli.ok("up");
        String mainUri = cli.ok("connstr", "main");
        long dbBytes = load(mainUri, dbMb);
        cli.ok("endpoint", "stop", "main");
        String uri = cli.ok("endpoint", "start", "main", "--suspend-timeout", "1s");
        Path proxyLog = home.resolve("logs/proxy.log");
        Path agentLog = home.resolve("logs/endpoint-default-main.log");

        List<Double> totals = new ArrayList<>();
        Map<String, List<Double>> phases = new LinkedHashMap<>();
        PHASES.forEach(p -> phases.put(p, new ArrayList<>()));
        for (int i = 0; i < wakes; i++) {
          awaitSuspended(home.path());
          Instant t0 = Instant.now();
          WakeSamples.selectOne(jdbc(uri));
          Instant t1 = Instant.now();
          totals.add(ms(t0, t1));
          Instant asked = lastEvent(proxyLog, "wake_requested", t0);
          List<Instant> marks = new ArrayList<>(List.of(t0, asked));
          for (String e : AGENT_EVENTS) {
            marks.add(lastEvent(agentLog, e, t0));
          }
          marks.add(t1);
          for (int p = 0; p < PHASES.size(); p++) {
            phases.get(PHASES.get(p)).add(ms(marks.get(p), marks.get(p + 1)));
          }
        }

        awaitSuspended(home.path());
        long wakesBefore = count(proxyLog, "event=wake_requested");
        int answered = WakeSamples.selectOneAtOnce(jdbc(uri), clients);
        long wakesDuring = count(proxyLog, "event=wake_requested") - wakesBefore;

        System.out.printf("Wake, connect to the first row of SELECT 1, %d wakes of a %d MB database (local mode):%n%n", wakes,
            dbBytes / (1024 * 1024));
        System.out.println("| | p50 ms | p95 ms | max ms |");
        System.out.println("|---|---|---|---|");
        System.out.println(WakeSamples.row("total", totals));
        phases.forEach((name, values) -> System.out.println(WakeSamples.row(name, values)));
        System.out.printf("%n%d clients connecting at once to the suspended endpoint: %d answered, %d wake(s)%n", clients, answered,
            wakesDuring);
        System.out.println("machine: " + Machine.describe());
      } finally {
        cli.run("down");
      }
    }
  }



  private static double ms(Instant a, Instant b) {
    return Duration.between(a, b).toNanos() / 1e6;
  }

  /** Rows of about 250 bytes until the database holds {@code mb}; returns its size in bytes. */
  private static long load(String uri, int mb) throws SQLException {
    long rows = mb * 1024L * 1024 / 250;
    try (Connection c = DriverManager.getConnection(jdbc(uri)); Statement st = c.createStatement()) {
      st.execute("CREATE TABLE items AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, " + rows + ") g");
      try (ResultSet rs = st.executeQuery("SELECT pg_database_size(current_database())")) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }



  /** Until the proxy has recorded the endpoint suspended and its compute process is gone. */
  private static void awaitSuspended(Path home) throws Exception {
    Path info = home.resolve("endpoints/default/main/endpoint.json");
    Path pid = home.resolve("run/endpoint-default-main.pid");
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (System.nanoTime() < deadline) {
      if (Files.readString(info).contains("\"suspended\"") && !Files.exists(pid)) {
        return;
      }
      Thread.sleep(50);
    }
    throw new IllegalStateException("the endpoint was not suspended within 2 min: " + Files.readString(info));
  }

  /** The time of the last {@code event} in {@code log} at or after {@code after}. */
  private static Instant lastEvent(Path log, String event, Instant after) throws IOException {
    Instant found = null;
    for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
      Matcher m = ISO_TIME.matcher(line);
      if (m.find() && m.group(2).equals(event)) {
        Instant t = OffsetDateTime.parse(m.group(1)).toInstant();
        if (!t.isBefore(after.minusMillis(5))) {
          found = t;
        }
      }
    }
    if (found == null) {
      throw new IllegalStateException("no event=" + event + " in " + log + " after " + after);
    }
    return found;
  }

  private static long count(Path log, String text) throws IOException {
    return Files.readAllLines(log, StandardCharsets.UTF_8).stream().filter(l -> l.contains(text)).count();
  }

  static String jdbc(String uri) {
    Matcher m = URI.matcher(uri);
    if (!m.matches()) {
      throw new IllegalStateException("not a connection URI: " + uri);
    }
    return "jdbc:postgresql://" + m.group(3) + ":" + m.group(4) + "/" + m.group(5) + "?user=" + m.group(1) + "&password=" + m.group(2);
  }

  /** The {@code arbor} CLI of one home, each call a process of its own. */
  record Cli(Path home) {
    String ok(String... args) throws IOException, InterruptedException {
      String[] out = run(args);
      if (!out[0].equals("0")) {
        throw new IllegalStateException("arbor " + String.join(" ", args) + " failed: " + out[2]);
      }
      String stdout = out[1].strip();
      return stdout.substring(stdout.lastIndexOf('\n') + 1);
    }

    String[] run(String... args) throws IOException, InterruptedException {
      // Wakes come every few seconds here, above the proxy's default limit of 10 per minute.
      List<String> cmd = ServiceLaunch.CLI.command(List.of("-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
          "-Darbor.repo.root=" + System.getProperty("arbor.repo.root"), "-Darbor.proxy.wakes-per-minute=1000"), List.of(args));
      var pb = new ProcessBuilder(cmd);
      pb.environment().put("ARBOR_HOME", home.toString());
      pb.redirectError(ProcessBuilder.Redirect.PIPE);
      Process p = pb.start();
      var err = Executors.newVirtualThreadPerTaskExecutor().submit(() -> new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      int exit = p.waitFor();
      try {
        return new String[] {Integer.toString(exit), out, err.get()};
      } catch (Exception e) {
        throw new IOException(e);
      }
    }
  }
}
