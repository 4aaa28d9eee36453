package dev.arbor.proxy;

import dev.arbor.api.compute.DurationText;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * arbor-proxy: the PostgreSQL endpoint clients connect to. Each Endpoint has a listening port of its own (its
 * connection string names that port, so psql, pgjdbc and pgbench need nothing else to be routed), and every
 * connection accepted there belongs to that Endpoint. A connection is set up by a {@link ClientSession} on a thread
 * of its own ({@link Wakes} holds it while a suspended compute starts); once the compute is ready for queries, a plain
 * connection's bytes move in {@link Relays}.
 */
public final class ProxyServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ProxyServer.class);

  private final ProxyConfig config;
  private final Computes computes;
  private final Wakes wakes;
  private final CancelKeys cancelKeys = new CancelKeys();
  private final Map<String, ServerSocketChannel> listeners = new ConcurrentHashMap<>();
  private final Map<String, Set<ClientSession>> sessions = new ConcurrentHashMap<>();
  private final AtomicInteger open = new AtomicInteger();
  private final AtomicInteger relaying = new AtomicInteger();
  private final Map<String, Long> lastTouch = new ConcurrentHashMap<>();
  private final MeterRegistry registry;
  private final Counter accepted;
  private final Counter established;
  private final Counter cancels;
  private final Counter cancelsForwarded;
  private final CancelForwarder cancelForwarder;
  private final Relays relays;

  public ProxyServer(ProxyConfig config, Computes computes, MeterRegistry registry) {
    this(config, computes, registry, null);
  }

  /**
   * A proxy that is one of several replicas: CancelRequests with keys it did not issue go to {@code
   * cancelForwarder} (null: they are dropped, as with a single proxy).
   */
  public ProxyServer(ProxyConfig config, Computes computes, MeterRegistry registry, CancelForwarder cancelForwarder) {
    this.config = config;
    this.computes = computes;
    this.cancelForwarder = cancelForwarder;
    this.registry = registry;
    this.wakes = new Wakes(computes, config, registry);
    try {
      this.relays = new Relays(Runtime.getRuntime().availableProcessors());
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot open the relay threads' selectors", e);
    }
    this.accepted = Counter.builder("arbor_proxy_connections").description("Client connections accepted").register(registry);
    this.established = Counter.builder("arbor_proxy_connections_established")
        .description("Client connections that reached a compute's ReadyForQuery").register(registry);
    this.cancels = Counter.builder("arbor_proxy_cancel_requests").description("CancelRequests sent on to a compute").register(registry);
    this.cancelsForwarded = Counter.builder("arbor_proxy_cancel_requests_forwarded")
        .description("CancelRequests with a key another replica issued, sent on to the peer replicas").register(registry);
    registry.gauge("arbor_proxy_open_connections", open);
    registry.gauge("arbor_proxy_relaying_connections", relaying);
  }

  /**
   * Starts accepting connections for {@code endpoint} on {@code address} (port 0 picks one); returns the bound
   * address.
   *
   * @throws IOException when the address cannot be bound (the message names it)
   */
  public InetSocketAddress listen(String endpoint, InetSocketAddress address) throws IOException {
    if (listeners.containsKey(endpoint)) {
      throw new IllegalStateException("the proxy already listens for endpoint " + endpoint);
    }
    // Channels, not ServerSocket: a connection's socket then stays in blocking mode after a read with a timeout (the
    // startup phase's), so each read of the relay is one read(2) rather than a read, a poll and a read again.
    var server = ServerSocketChannel.open();
    try {
      server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      server.bind(address, 512);
    } catch (IOException e) {
      server.close();
      throw new IOException("cannot listen on " + address + " for endpoint " + endpoint + ": " + e.getMessage(), e);
    }
    if (listeners.putIfAbsent(endpoint, server) != null) {
      server.close();
      throw new IllegalStateException("the proxy already listens for endpoint " + endpoint);
    }
    Thread.ofPlatform().daemon().name("accept-" + endpoint).start(() -> accept(endpoint, server));
    var bound = (InetSocketAddress) server.getLocalAddress();
    log.info("event=listening endpoint={} address={}", endpoint, bound);
    return bound;
  }

  /** Stops accepting connections for {@code endpoint}; its open connections go on. */
  public void unlisten(String endpoint) {
    ServerSocketChannel server = listeners.remove(endpoint);
    if (server != null) {
      try {
        server.close();
      } catch (IOException ignored) {
        // closing
      }
      log.info("event=stopped_listening endpoint={}", endpoint);
    }
  }

  public Set<String> endpoints() {
    return Set.copyOf(listeners.keySet());
  }

  private void accept(String endpoint, ServerSocketChannel server) {
    while (server.isOpen()) {
      Socket socket;
      try {
        socket = server.accept().socket();
      } catch (ClosedChannelException closed) {
        return;
      } catch (IOException e) {
        log.warn("event=accept_failed endpoint={} error=\"{}\"", endpoint, e.getMessage());
        continue;
      }
      accepted.increment();
      open.incrementAndGet();
      var session = new ClientSession(this, endpoint, socket);
      sessions.computeIfAbsent(endpoint, e -> ConcurrentHashMap.newKeySet()).add(session);
      // A platform thread per connection: it blocks on reads, and a platform thread wakes from a read with one hop
      // less than a virtual one (bench/run proxy-overhead); held connections cost a thread each while they wait.
      Thread.ofPlatform().daemon().name("client-" + endpoint).start(session);
    }
  }

  /**
   * Closes the connections of {@code endpoint} that reached its compute ({@code compute}, or any when null), each with a
   * FATAL ErrorResponse ({@code 57P01}) between two of the compute's messages that gives {@code reason} and {@code hint}
   * (or null): the compute is being suspended or stopped. Connections still being set up or held for a wake are left
   * alone: they wait for the compute, or wake it. Returns how many were closed.
   */
  public int closeConnections(String endpoint, InetSocketAddress compute, String reason, String hint) {
    int closed = 0;
    for (ClientSession s : List.copyOf(sessions.getOrDefault(endpoint, Set.of()))) {
      if (s.closeComputeSide(compute, reason, hint)) {
        closed++;
      }
    }
    if (closed > 0) {
      log.info("event=connections_closed endpoint={} count={} reason=\"{}\"", endpoint, closed, reason);
    }
    return closed;
  }

  /**
   * Closes the connections of {@code endpoint} because its compute was suspended after {@code idle} without activity
   * (null: unknown), with {@link #idleSuspendReason} and {@link #WAKE_HINT}; local mode and Kubernetes say the same.
   */
  public int closeIdleSuspended(String endpoint, Duration idle) {
    return closeConnections(endpoint, null, idleSuspendReason(endpoint, idle), WAKE_HINT);
  }

  /** What a client whose connection ended at an idle suspend can do. */
  public static final String WAKE_HINT = "reconnect to wake it: the proxy holds a new connection while the compute starts";

  /** Why connections end when {@code endpoint}'s compute is suspended after {@code idle} (null: unknown) without activity. */
  public static String idleSuspendReason(String endpoint, Duration idle) {
    return "endpoint " + endpoint + " was suspended after " + (idle == null ? "its suspend timeout" : DurationText.format(idle))
        + " without activity";
  }

  /** Client connections of {@code endpoint} open now (held, relaying, or being set up). */
  public int openConnections(String endpoint) {
    return sessions.getOrDefault(endpoint, Set.of()).size();
  }

  /** Wakes this proxy asked for since it started. */
  public long wakesRequested() {
    return wakes.wakesStarted();
  }

  public MeterRegistry registry() {
    return registry;
  }

  ProxyConfig config() {
    return config;
  }

  Wakes wakes() {
    return wakes;
  }

  CancelKeys cancelKeys() {
    return cancelKeys;
  }

  Relays relays() {
    return relays;
  }

  void established(ClientSession session, ComputeState.Running compute) {
    established.increment();
    relaying.incrementAndGet();
    // The compute learns of the connection for its idle clock; at most once a second per Endpoint.
    long now = System.nanoTime();
    Long last = lastTouch.get(session.endpoint());
    if (last == null || now - last > 1_000_000_000L) {
      lastTouch.put(session.endpoint(), now);
      Thread.ofVirtual().start(() -> computes.connected(session.endpoint(), compute));
    }
  }

  void refused(String endpoint, String why) {
    registry.counter("arbor_proxy_connections_refused", "reason", why).increment();
  }

  void ended(ClientSession session) {
    open.decrementAndGet();
    if (session.established()) {
      relaying.decrementAndGet();
    }
    Set<ClientSession> set = sessions.get(session.endpoint());
    if (set != null) {
      set.remove(session);
    }
  }

  /**
   * Sends a client's CancelRequest on to the compute whose backend the key names; a key this proxy did not issue
   * goes to the peer replicas when there is a {@link CancelForwarder}, else it is dropped.
   */
  void cancel(int pid, int secret, String peer) {
    if (cancelLocally(pid, secret, peer)) {
      return;
    }
    if (cancelForwarder == null) {
      log.info("event=cancel_unknown_key client={}", peer);
      return;
    }
    cancelsForwarded.increment();
    cancelForwarder.forward(pid, secret, peer);
  }

  /** Sends the CancelRequest to the compute when this proxy issued the key; false when it did not (never forwards). */
  boolean cancelLocally(int pid, int secret, String peer) {
    CancelKeys.Target target = cancelKeys.find(pid, secret);
    if (target == null) {
      return false;
    }
    cancels.increment();
    try (Socket s = new Socket()) {
      s.connect(target.compute(), 5_000);
      OutputStream out = s.getOutputStream();
      out.write(Wire.cancelRequest(target.pid(), target.secret()));
      out.flush();
      log.info("event=cancel_forwarded endpoint={} client={}", target.endpoint(), peer);
    } catch (IOException e) {
      log.warn("event=cancel_failed endpoint={} compute={} error=\"{}\"", target.endpoint(), target.compute(), e.getMessage());
    }
    return true;
  }

  @Override
  public void close() {
    List.copyOf(listeners.keySet()).forEach(this::unlisten);
    sessions.values().forEach(set -> List.copyOf(set).forEach(s -> s.closeWithReason("the proxy is shutting down", "reconnect")));
    relays.close();
  }
}
