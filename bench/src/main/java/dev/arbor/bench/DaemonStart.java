package dev.arbor.bench;

import dev.arbor.api.compute.AgentStatus;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.client.ComputeAgentClient;
import dev.arbor.client.ComputeSpecJson;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.client.ServiceClient;
import dev.arbor.testing.AgentProcess;
import dev.arbor.compute.testing.AgentSpecs;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

/**
 * Start time and resident memory of the daemons (issue 14): a safekeeper, the pageserver and the compute agent,
 * each a JVM of its own launched by the test harness ({@link StorageProcesses}, {@link AgentProcess}: the same
 * command, {@code -Xmx256m -XX:+UseSerialGC}, this JVM's classpath). For each: the time from spawning the JVM to
 * its {@code GET /metrics} answering 200, the CPU time it used until then, its VmRSS then, and its VmRSS after {@code --requests} rounds of
 * {@code GET /metrics} and a status call. The agent serves HTTP before it starts PostgreSQL, so it also gets the
 * time from spawn to phase Running (a compute started from a storage engine with 3 safekeepers, PostgreSQL
 * included; each start is the first of a new branch), and its RSS is then taken again (the agent's JVM only, not PostgreSQL's).
 */
final class DaemonStart {

  private DaemonStart() {}

  /** What one start of one process gave; times in ms, memory in KiB. */
  private record Sample(double toMetricsMs, double cpuMs, long rssStartedKib, long rssServedKib, double toRunningMs, long rssRunningKib) {}

  static void run(Options o) throws Exception {
    int repeat = o.integer("repeat", 5);
    int requests = o.integer("requests", 50);
    String loadBefore = loadAverage();
    Map<String, List<Sample>> samples = new LinkedHashMap<>();
    for (int i = 0; i < repeat; i++) {
      // A storage engine of its own each time: every process starts on an empty directory.
      try (var storage = new StorageProcesses(1)) {
        samples.computeIfAbsent("safekeeper", k -> new ArrayList<>()).add(storageDaemon(
            () -> storage.startSafekeeper("sk-0"), onePoll(storage.safekeeperUrls().get("sk-0")), () -> storage.safekeeperPid("sk-0"),
            requests));
        samples.computeIfAbsent("pageserver", k -> new ArrayList<>()).add(storageDaemon(
            storage::startPageserver, new PageserverClient(storage.pageserverUrl(), POLL, RetryPolicy.NONE), storage::pageserverPid,
            requests));
      }
    }
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-daemon-start-")) {
      TenantInfo tenant = storage.createTenant(15);
      for (int i = 0; i < repeat; i++) {
        // A branch of its own each time: the first start of a new branch, as `endpoint start` of a new branch is.
        TimelineInfo branch = storage.branch(tenant.tenantId(), tenant.rootTimelineId(), null);
        ComputeAgentSpec spec = AgentSpecs.readWrite(storage, tenant.tenantId(), branch.timelineId(), work.resolve("agent-" + i),
            List.of(), List.of());
        samples.computeIfAbsent("compute agent", k -> new ArrayList<>()).add(agent(spec, work.resolve("spec-" + i + ".json"), requests));
      }
    }

    System.out.printf("medians of %d starts (min-max in brackets); %d rounds of GET /metrics + status between the RSS columns%n",
        repeat, requests);
    System.out.println("| process | spawn to /metrics answering | its CPU time then | VmRSS then | VmRSS after the requests "
        + "| spawn to Running | VmRSS at Running |");
    System.out.println("|---|---|---|---|---|---|---|");
    samples.forEach((name, list) -> System.out.println("| " + name
        + " | " + ms(list.stream().map(Sample::toMetricsMs).toList())
        + " | " + ms(list.stream().map(Sample::cpuMs).toList())
        + " | " + mib(list.stream().map(s -> (double) s.rssStartedKib()).toList())
        + " | " + mib(list.stream().map(s -> (double) s.rssServedKib()).toList())
        + " | " + (list.getFirst().toRunningMs() > 0 ? ms(list.stream().map(Sample::toRunningMs).toList()) : "-")
        + " | " + (list.getFirst().rssRunningKib() > 0 ? mib(list.stream().map(s -> (double) s.rssRunningKib()).toList()) : "-")
        + " |"));
    System.out.println("machine: " + Machine.describe() + "; load average (1, 5, 15 min) before " + loadBefore + ", after "
        + loadAverage());
  }

  /** The first three fields of /proc/loadavg: how busy the machine was, for figures taken while other work runs. */
  private static String loadAverage() throws IOException {
    String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
    return f[0] + " " + f[1] + " " + f[2];
  }

  /** Clients of the measured processes: one try per call, so the polls below time the process, not retries. */
  private static final Duration POLL = Duration.ofSeconds(10);

  private static SafekeeperClient onePoll(String url) {
    return new SafekeeperClient(url, POLL, RetryPolicy.NONE);
  }

  private static Sample storageDaemon(Runnable start, ServiceClient client, LongSupplier pid, int requests) throws Exception {
    long t0 = System.nanoTime();
    start.run(); // returns once the process printed "listening on"
    awaitMetrics(client, () -> true);
    double toMetrics = (System.nanoTime() - t0) / 1e6;
    double cpu = cpuMs(pid.getAsLong());
    long started = rssKib(pid.getAsLong());
    serve(client, requests);
    return new Sample(toMetrics, cpu, started, rssKib(pid.getAsLong()), 0, 0);
  }

  private static Sample agent(ComputeAgentSpec spec, Path specFile, int requests) throws Exception {
    Files.writeString(specFile, ComputeSpecJson.toJson(spec));
    long t0 = System.nanoTime();
    AgentProcess agent = AgentProcess.launch(spec, List.of("--spec", specFile.toString()), Map.of());
    try {
      var client = ComputeAgentClient.at(spec.listenHost(), spec.httpPort(), POLL, RetryPolicy.NONE);
      awaitMetrics(client, () -> ProcessHandle.of(agent.pid()).isPresent());
      double toMetrics = (System.nanoTime() - t0) / 1e6;
      double cpu = cpuMs(agent.pid());
      long started = rssKib(agent.pid());
      awaitRunning(agent);
      double toRunning = (System.nanoTime() - t0) / 1e6;
      long running = rssKib(agent.pid());
      serve(client, requests);
      long served = rssKib(agent.pid());
      if (agent.sigterm() != 0) {
        throw new IllegalStateException("the agent did not stop cleanly; its output:\n" + agent.outputText());
      }
      return new Sample(toMetrics, cpu, started, served, toRunning, running);
    } catch (Exception | AssertionError e) {
      agent.close(); // stops it, and prints its output, where the failure is to be read
      throw e;
    }
  }

  /** Polls the agent's status every 10 ms until phase Running (AgentProcess.awaitRunning needs Awaitility, a test library). */
  private static void awaitRunning(AgentProcess agent) throws Exception {
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (true) {
      try {
        if (agent.status().phase() == AgentStatus.Phase.RUNNING) {
          return;
        }
      } catch (IOException notYet) {
        // answers once started; a refused spec ends the process, seen below
      }
      if (ProcessHandle.of(agent.pid()).isEmpty() || System.nanoTime() > deadline) {
        throw new IllegalStateException("the agent did not reach Running; its output:\n" + agent.outputText());
      }
      Thread.sleep(10);
    }
  }

  /** Polls {@code GET /metrics} every 2 ms until it answers 200. */
  private static void awaitMetrics(ServiceClient client, BooleanSupplier alive) throws Exception {
    long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
    while (true) {
      try {
        client.metrics();
        return;
      } catch (IOException | RuntimeException notYet) {
        // not listening yet
      }
      if (!alive.getAsBoolean() || System.nanoTime() > deadline) {
        throw new IllegalStateException(client.baseUrl() + "/metrics did not answer 200 within a minute");
      }
      Thread.sleep(2);
    }
  }

  /** {@code requests} rounds of a scrape and a status read. */
  private static void serve(ServiceClient client, int requests) throws Exception {
    for (int i = 0; i < requests; i++) {
      client.metrics();
      if (!client.isRunning()) {
        throw new IllegalStateException("the status route of " + client.baseUrl() + " did not answer");
      }
    }
  }

  /** VmRSS of a process, from /proc/PID/status. */
  static long rssKib(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IllegalStateException("no VmRSS in /proc/" + pid + "/status");
  }

  /**
   * CPU time (user and system, all threads) a process has used, from /proc in clock ticks (10 ms): on a machine
   * shared with other work it varies less than the wall time.
   */
  static double cpuMs(long pid) {
    return ProcessHandle.of(pid).flatMap(p -> p.info().totalCpuDuration()).orElseThrow().toNanos() / 1e6;
  }

  private static String ms(List<Double> values) {
    return String.format("%.0f ms (%.0f-%.0f)", ObjectStoreSides.percentile(values, 0.5), min(values), max(values));
  }

  private static String mib(List<Double> kib) {
    return String.format("%.1f MiB (%.1f-%.1f)", ObjectStoreSides.percentile(kib, 0.5) / 1024, min(kib) / 1024, max(kib) / 1024);
  }

  private static double min(List<Double> values) {
    return values.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
  }

  private static double max(List<Double> values) {
    return values.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
  }
}
