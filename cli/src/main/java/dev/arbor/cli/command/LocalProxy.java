package dev.arbor.cli.command;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.compute.AgentActivity;
import dev.arbor.api.compute.AgentStatus;
import dev.arbor.cli.CliException;
import dev.arbor.cli.process.Daemons;
import dev.arbor.client.ServiceLaunch;
import dev.arbor.proxy.ComputeState;
import dev.arbor.proxy.Computes;
import dev.arbor.proxy.ProxyConfig;
import dev.arbor.proxy.ProxyServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Local mode's serverless half, a daemon of its own ({@code arbor proxy-daemon}, started by {@code up} and
 * {@code endpoint start}): the proxy listens on every endpoint's port, wakes a suspended endpoint when a client
 * connects (it starts the compute the way {@code endpoint start} does), and suspends a running endpoint whose
 * suspend timeout passed without activity. Endpoints are read from the home every {@link #SCAN}; the CLI and
 * this daemon change an endpoint only under its {@link EndpointLock}.
 *
 * <p>Activity: a client connection open through the proxy, or what the compute agent reports as its last
 * activity (client sessions, open transactions, logical replication, autovacuum). The decision is made again
 * just before the compute stops.
 */
final class LocalProxy implements Computes {
  static final String DAEMON = "proxy";
  static final Duration SCAN = Duration.ofMillis(200);
  static final Duration IDLE_CHECK = Duration.ofSeconds(1);
  private static final Logger log = LoggerFactory.getLogger(LocalProxy.class);

  /** The limit of wakes per endpoint and minute, as a system property. */
  static final String WAKES_PER_MINUTE = "arbor.proxy.wakes-per-minute";

  private final Installation inst;
  private final ProxyServer proxy;
  private final Map<String, Endpoints.EndpointInfo> known = new ConcurrentHashMap<>();
  private final Set<String> waking = ConcurrentHashMap.newKeySet();
  /** The compute process of each endpoint whose agent has said Running: clients may go in. */
  private final Map<String, Long> servingPid = new ConcurrentHashMap<>();
  private final Set<String> unbindable = ConcurrentHashMap.newKeySet();
  /** When the proxy last saw a client connection of an endpoint (open, or just made). */
  private final Map<String, Instant> lastProxyActivity = new ConcurrentHashMap<>();

  LocalProxy(Installation inst) {
    this.inst = inst;
    this.proxy = new ProxyServer(ProxyConfig.defaults().withWakesPerMinute(wakesPerMinute()), this, new SimpleMeterRegistry());
  }

  /**
   * The system property {@value #WAKES_PER_MINUTE} (which {@code arbor} passes on to its daemons), else the proxy's default: a
   * benchmark that wakes an endpoint every few seconds raises it.
   */
  private static int wakesPerMinute() {
    String text = System.getProperty(WAKES_PER_MINUTE);
    if (text == null) {
      return ProxyConfig.DEFAULT_WAKES_PER_MINUTE;
    }
    try {
      int value = Integer.parseInt(text.strip());
      if (value > 0) {
        return value;
      }
    } catch (NumberFormatException e) {
      // refused below
    }
    throw new CliException("-D" + WAKES_PER_MINUTE + "=" + text + " is not a positive number of wakes per minute");
  }

  /** Starts the daemon unless it runs, and waits until it listens on every endpoint's port. */
  static void ensureRunning(Installation inst) {
    var daemons = new Daemons(inst.home);
    if (daemons.pid(DAEMON).isEmpty()) {
      Path ready = readyFile(inst);
      try {
        Files.deleteIfExists(ready);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      daemons.start(DAEMON, Daemons.java(ServiceLaunch.CLI, List.of("proxy-daemon")), Duration.ofMinutes(1), () -> Files.exists(ready));
    }
    for (var e : Endpoints.all(inst)) {
      if (e.computePort() != null && !Endpoints.STOPPED.equals(e.state())) {
        awaitListening(e.port(), Duration.ofSeconds(10));
      }
    }
  }

  static boolean stop(Installation inst) {
    return new Daemons(inst.home).stop(DAEMON, Duration.ofSeconds(30));
  }

  private static Path readyFile(Installation inst) {
    return inst.home.pidFile(DAEMON).resolveSibling(DAEMON + ".ready");
  }

  private static void awaitListening(int port, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
        return;
      } catch (IOException notYet) {
        if (System.nanoTime() > deadline) {
          throw new CliException("the local proxy does not listen on port " + port + " (its log: logs/" + DAEMON + ".log)");
        }
        sleep(Duration.ofMillis(20));
      }
    }
  }

  /** Runs until the process is told to stop. */
  void run() {
    Runtime.getRuntime().addShutdownHook(new Thread(proxy::close));
    scan();
    try {
      Files.writeString(readyFile(inst), Long.toString(ProcessHandle.current().pid()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    log.info("event=proxy_ready endpoints={}", proxy.endpoints().size());
    long nextIdleCheck = System.nanoTime();
    while (true) {
      sleep(SCAN);
      try {
        scan();
        if (System.nanoTime() >= nextIdleCheck) {
          nextIdleCheck = System.nanoTime() + IDLE_CHECK.toNanos();
          suspendIdle();
        }
      } catch (RuntimeException e) {
        log.warn("event=proxy_pass_failed error=\"{}\"", e.toString());
      }
    }
  }

  /** Listens for every endpoint in the home, and stops listening for those that are gone. */
  private void scan() {
    Map<String, Endpoints.EndpointInfo> now = new HashMap<>();
    for (var e : Endpoints.all(inst)) {
      if (e.computePort() != null) {
        now.put(e.key(), e);
      }
    }
    known.keySet().retainAll(now.keySet());
    known.putAll(now);
    for (String key : proxy.endpoints()) {
      if (!now.containsKey(key)) {
        proxy.unlisten(key);
      }
    }
    for (var e : now.values()) {
      if (!proxy.endpoints().contains(e.key())) {
        try {
          proxy.listen(e.key(), new InetSocketAddress(InetAddress.getLoopbackAddress(), e.port()));
          unbindable.remove(e.key());
        } catch (IOException ex) {
          if (unbindable.add(e.key())) {
            log.warn("event=listen_failed endpoint={} port={} error=\"{}\"", e.key(), e.port(), ex.getMessage());
          }
        }
      }
    }
  }

  @Override
  public ComputeState state(String endpoint) {
    Endpoints.EndpointInfo e = known.get(endpoint);
    if (e == null) {
      return new ComputeState.Refused("there is no endpoint " + endpoint + " any more", "list them: ./arbor endpoint list");
    }
    if (Endpoints.STOPPED.equals(e.state())) {
      return new ComputeState.Refused("the endpoint of branch " + e.branch() + " (project " + e.project()
          + ") is stopped; connections do not wake it", "start it: ./arbor endpoint start " + e.branch() + " --project " + e.project());
    }
    Long pid = new Daemons(inst.home).pid(Endpoints.daemonName(e.project(), e.branch())).orElse(null);
    if (pid == null) {
      return waking.contains(endpoint) ? new ComputeState.Starting() : new ComputeState.Suspended();
    }
    // Clients go in once the agent says Running: while a compute starts, its PostgreSQL may already accept
    // connections (a hot standby replaying to the head) before the branch's data and roles are all there.
    if (!pid.equals(servingPid.get(endpoint))) {
      if (waking.contains(endpoint) || !agentRunning(e)) {
        return new ComputeState.Starting();
      }
      servingPid.put(endpoint, pid);
    }
    return new ComputeState.Running(new InetSocketAddress(InetAddress.getLoopbackAddress(), e.computePort()),
        URI.create("http://127.0.0.1:" + e.httpPort()));
  }

  private static boolean agentRunning(Endpoints.EndpointInfo e) {
    try {
      return Endpoints.agent(e).status().phase() == AgentStatus.Phase.RUNNING;
    } catch (IOException | ApiProblem notYet) {
      return false;
    }
  }

  @Override
  public void wake(String endpoint) throws WakeRefusedException {
    Endpoints.EndpointInfo e = known.get(endpoint);
    if (e == null) {
      throw new WakeRefusedException("there is no endpoint " + endpoint + " any more");
    }
    waking.add(endpoint);
    try (var lock = EndpointLock.take(inst, e.project(), e.branch())) {
      Endpoints.EndpointInfo current = Endpoints.info(inst, e.project(), e.branch()).orElse(null);
      if (current == null || Endpoints.STOPPED.equals(current.state())) {
        throw new WakeRefusedException("the endpoint of branch " + e.branch() + " was stopped; connections do not wake it");
      }
      if (Endpoints.computeRunning(inst, current)) {
        return;
      }
      log.info("event=endpoint_waking endpoint={}", endpoint);
      Endpoints.launch(inst, current, new PrintStream(OutputStream.nullOutputStream()));
      known.put(endpoint, current.with(Endpoints.RUNNING));
      lastProxyActivity.put(endpoint, Instant.now());
      log.info("event=endpoint_woken endpoint={}", endpoint);
    } catch (CliException | UncheckedIOException ex) {
      throw new WakeRefusedException("endpoint " + endpoint + " could not be started: " + ex.getMessage());
    } finally {
      waking.remove(endpoint);
    }
  }

  @Override
  public void connected(String endpoint, ComputeState.Running compute) {
    lastProxyActivity.put(endpoint, Instant.now());
    Endpoints.EndpointInfo e = known.get(endpoint);
    if (e == null) {
      return;
    }
    try {
      Endpoints.agent(e).touch(); // the agent's idle clock restarts, for whoever asks it
    } catch (IOException | ApiProblem unreachable) {
      log.debug("event=touch_failed endpoint={} error=\"{}\"", endpoint, unreachable.getMessage());
    }
  }

  /** Suspends each running endpoint whose suspend timeout passed without activity. */
  private void suspendIdle() {
    for (var e : known.values()) {
      Duration timeout = e.suspendAfter();
      if (timeout.isZero() || !Endpoints.RUNNING.equals(e.state()) || waking.contains(e.key()) || !Endpoints.computeRunning(inst, e)) {
        continue;
      }
      if (idleFor(e).compareTo(timeout) < 0) {
        continue;
      }
      // Again, just before stopping: PostgreSQL sampled now, and the proxy's connections.
      if (stillIdle(e, timeout)) {
        suspend(e, timeout);
      }
    }
  }

  /** How long the endpoint has been without activity; zero while it is active or its agent cannot say. */
  private Duration idleFor(Endpoints.EndpointInfo e) {
    Instant now = Instant.now();
    if (proxy.openConnections(e.key()) > 0) {
      lastProxyActivity.put(e.key(), now);
      return Duration.ZERO;
    }
    AgentStatus status;
    try {
      status = Endpoints.agent(e).status();
    } catch (IOException | ApiProblem unreachable) {
      return Duration.ZERO;
    }
    if (status.phase() != AgentStatus.Phase.RUNNING || status.lastActivity() == null) {
      return Duration.ZERO;
    }
    Instant last = status.lastActivity();
    Instant proxied = lastProxyActivity.get(e.key());
    if (proxied != null && proxied.isAfter(last)) {
      last = proxied;
    }
    return last.isAfter(now) ? Duration.ZERO : Duration.between(last, now);
  }

  /** The re-check: the agent samples PostgreSQL for this call ({@code GET /activity}). */
  private boolean stillIdle(Endpoints.EndpointInfo e, Duration timeout) {
    AgentActivity activity;
    try {
      activity = Endpoints.agent(e).activity();
    } catch (IOException | ApiProblem unreachable) {
      return false;
    }
    if (!activity.keptAwakeBy().isEmpty()) {
      log.info("event=endpoint_still_active endpoint={} kept_awake_by=\"{}\"", e.key(), String.join("; ", activity.keptAwakeBy()));
      return false;
    }
    Instant last = activity.lastActivity();
    Instant proxied = lastProxyActivity.get(e.key());
    if (last == null || proxy.openConnections(e.key()) > 0) {
      return false;
    }
    if (proxied != null && proxied.isAfter(last)) {
      last = proxied;
    }
    return Duration.between(last, activity.sampledAt()).compareTo(timeout) >= 0;
  }

  private void suspend(Endpoints.EndpointInfo e, Duration timeout) {
    try (var lock = EndpointLock.take(inst, e.project(), e.branch())) {
      Endpoints.EndpointInfo current = Endpoints.info(inst, e.project(), e.branch()).orElse(null);
      if (current == null || !Endpoints.RUNNING.equals(current.state())) {
        return;
      }
      Endpoints.save(inst, current.with(Endpoints.SUSPENDED));
      known.put(e.key(), current.with(Endpoints.SUSPENDED));
      proxy.closeIdleSuspended(e.key(), timeout);
      new Daemons(inst.home).stop(Endpoints.daemonName(e.project(), e.branch()), Duration.ofSeconds(90));
      log.info("event=endpoint_suspended endpoint={} idle_timeout_s={}", e.key(), timeout.toSeconds());
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
}
