package dev.arbor.proxy;

import dev.arbor.postgres.PostgresServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Computes for proxy tests: each endpoint is a real PostgreSQL server that a wake starts in the background. The
 * state is Running as soon as the postmaster process exists, so the proxy meets "the database system is starting
 * up" and refused connections, as it does with a real compute.
 */
final class TestComputes implements Computes {
  private final Map<String, PostgresServer> servers = new ConcurrentHashMap<>();
  private final Map<String, String> refused = new ConcurrentHashMap<>();
  private final Map<String, Boolean> wakeDoesNothing = new ConcurrentHashMap<>();
  private final Map<String, Boolean> starting = new ConcurrentHashMap<>();
  private final Map<String, String> wakeFailure = new ConcurrentHashMap<>();
  final AtomicInteger wakes = new AtomicInteger();
  final AtomicInteger touches = new AtomicInteger();

  TestComputes add(String endpoint, PostgresServer server) {
    servers.put(endpoint, server);
    return this;
  }

  void refuse(String endpoint, String reason) {
    refused.put(endpoint, reason);
  }

  void allow(String endpoint) {
    refused.remove(endpoint);
  }

  /** Wakes of {@code endpoint} are accepted and start nothing (a compute that never comes up). */
  void breakWakes(String endpoint) {
    wakeDoesNothing.put(endpoint, true);
  }

  @Override
  public ComputeState state(String endpoint) {
    String reason = refused.get(endpoint);
    if (reason != null) {
      return new ComputeState.Refused(reason, "see the test");
    }
    PostgresServer server = servers.get(endpoint);
    if (server == null) {
      return new ComputeState.Refused("there is no endpoint " + endpoint, "check the connection string");
    }
    if (server.isRunning()) {
      return new ComputeState.Running(new InetSocketAddress("127.0.0.1", server.port()), null);
    }
    return starting.containsKey(endpoint) ? new ComputeState.Starting() : new ComputeState.Suspended();
  }

  /** Wakes of {@code endpoint} fail with {@code message}. */
  void failWakes(String endpoint, String message) {
    wakeFailure.put(endpoint, message);
  }

  @Override
  public void wake(String endpoint) throws WakeRefusedException {
    wakes.incrementAndGet();
    if (wakeFailure.containsKey(endpoint)) {
      throw new WakeRefusedException(wakeFailure.get(endpoint));
    }
    if (wakeDoesNothing.containsKey(endpoint)) {
      return;
    }
    starting.put(endpoint, true);
    Thread.ofVirtual().start(() -> {
      try {
        servers.get(endpoint).start();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } finally {
        starting.remove(endpoint);
      }
    });
  }

  @Override
  public void connected(String endpoint, ComputeState.Running compute) {
    touches.incrementAndGet();
  }
}
