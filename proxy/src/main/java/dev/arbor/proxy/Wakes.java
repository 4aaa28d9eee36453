package dev.arbor.proxy;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds connections while their Endpoint's compute starts. However many clients wait for one Endpoint, its
 * compute is asked to wake once (a flight): the flight calls {@link Computes#wake} and lasts until the compute
 * is no longer Suspended, so clients that arrive meanwhile join it instead of waking again. Bounds: connections
 * held per Endpoint, wakes per Endpoint per minute, and each connection's own deadline.
 */
final class Wakes {
  private static final Logger log = LoggerFactory.getLogger(Wakes.class);
  private static final Duration POLL = Duration.ofMillis(25);

  private final Computes computes;
  private final ProxyConfig config;
  private final ConcurrentHashMap<String, CompletableFuture<Void>> flights = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, Deque<Long>> recentWakes = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, AtomicInteger> held = new ConcurrentHashMap<>();
  private final Counter wakesStarted;
  private final Counter wakesRefused;
  private final Counter wakesRateLimited;
  private final Timer wakeTime;
  private final AtomicInteger heldTotal = new AtomicInteger();

  Wakes(Computes computes, ProxyConfig config, MeterRegistry registry) {
    this.computes = computes;
    this.config = config;
    this.wakesStarted = Counter.builder("arbor_proxy_wakes").description("Wakes the proxy asked for").tag("result", "started").register(registry);
    this.wakesRefused = Counter.builder("arbor_proxy_wakes").tag("result", "refused").register(registry);
    this.wakesRateLimited = Counter.builder("arbor_proxy_wakes").tag("result", "rate_limited").register(registry);
    this.wakeTime = Timer.builder("arbor_proxy_wake_duration").description("From asking for a wake to a compute that runs")
        .publishPercentileHistogram().register(registry);
    registry.gauge("arbor_proxy_held_connections", heldTotal);
  }

  /** A connection refused before it reached a compute: what the client is told. */
  static final class Refusal extends Exception {
    final String sqlstate;
    final String hint;

    Refusal(String sqlstate, String message, String hint) {
      super(message);
      this.sqlstate = sqlstate;
      this.hint = hint;
    }
  }

  /**
   * The Endpoint's running compute, waking it first if it is suspended; holds the caller until then or until
   * {@code deadlineNanos}.
   */
  ComputeState.Running awaitRunning(String endpoint, long deadlineNanos) throws Refusal, InterruptedException {
    ComputeState state = computes.state(endpoint);
    if (state instanceof ComputeState.Running running) {
      return running;
    }
    AtomicInteger count = held.computeIfAbsent(endpoint, e -> new AtomicInteger());
    if (count.incrementAndGet() > config.maxHeldPerEndpoint()) {
      count.decrementAndGet();
      throw new Refusal(Wire.TOO_MANY_CONNECTIONS, "too many connections are waiting for endpoint " + endpoint
          + " to wake (limit " + config.maxHeldPerEndpoint() + ")", "retry in a few seconds");
    }
    heldTotal.incrementAndGet();
    CompletableFuture<Void> flight = null;
    try {
      while (true) {
        if (flight != null && flight.isCompletedExceptionally()) {
          throw new Refusal(Wire.CONNECTION_REJECTED, flight.exceptionNow().getMessage(), null);
        }
        switch (state) {
          case ComputeState.Running running -> {
            return running;
          }
          case ComputeState.Refused refused -> throw new Refusal(Wire.CONNECTION_REJECTED, refused.reason(), refused.hint());
          case ComputeState.Suspended s -> {
            // One wake per waiting connection at most, unless its wake succeeded and the compute was suspended again.
            if (flight == null || flight.isDone()) {
              flight = joinOrStartFlight(endpoint);
            }
          }
          case ComputeState.Starting s -> { }
        }
        if (System.nanoTime() > deadlineNanos) {
          throw new Refusal(Wire.CONNECTION_REJECTED, "endpoint " + endpoint + " did not start within "
              + config.wakeTimeout().toSeconds() + " s", "retry; if this persists, look at the Endpoint's status and its compute's log");
        }
        Thread.sleep(POLL);
        state = computes.state(endpoint);
      }
    } finally {
      count.decrementAndGet();
      heldTotal.decrementAndGet();
    }
  }

  /** The Endpoint's wake in flight, started by this call when there was none. */
  private CompletableFuture<Void> joinOrStartFlight(String endpoint) throws Refusal {
    CompletableFuture<Void> existing = flights.get(endpoint);
    if (existing != null && !existing.isDone()) {
      return existing;
    }
    var mine = new CompletableFuture<Void>();
    CompletableFuture<Void> current = flights.compute(endpoint, (e, f) -> f != null && !f.isDone() ? f : mine);
    if (current != mine) {
      return current;
    }
    if (!admitWake(endpoint)) {
      mine.complete(null);
      wakesRateLimited.increment();
      throw new Refusal(Wire.CONNECTION_REJECTED, "endpoint " + endpoint + " was woken " + config.wakesPerMinute()
          + " times in the last minute, the limit", "retry in a minute; raise the limit if this Endpoint's clients need it");
    }
    wakesStarted.increment();
    Thread.ofVirtual().name("wake-" + endpoint).start(() -> fly(endpoint, mine));
    return mine;
  }

  private boolean admitWake(String endpoint) {
    long now = System.nanoTime();
    Deque<Long> times = recentWakes.computeIfAbsent(endpoint, e -> new ArrayDeque<>());
    synchronized (times) {
      while (!times.isEmpty() && now - times.peekFirst() > Duration.ofMinutes(1).toNanos()) {
        times.pollFirst();
      }
      if (times.size() >= config.wakesPerMinute()) {
        return false;
      }
      times.addLast(now);
      return true;
    }
  }

  /** One wake: ask, then wait until the compute is no longer Suspended (or the wake timeout passed). */
  private void fly(String endpoint, CompletableFuture<Void> flight) {
    long t0 = System.nanoTime();
    log.info("event=wake_requested endpoint={}", endpoint);
    try {
      computes.wake(endpoint);
      long deadline = t0 + config.wakeTimeout().toNanos();
      while (System.nanoTime() < deadline && computes.state(endpoint) instanceof ComputeState.Suspended) {
        Thread.sleep(POLL);
      }
      flight.complete(null);
      wakeTime.record(Duration.ofNanos(System.nanoTime() - t0));
      log.info("event=wake_done endpoint={} seconds={}", endpoint, String.format("%.3f", (System.nanoTime() - t0) / 1e9));
    } catch (Computes.WakeRefusedException e) {
      wakesRefused.increment();
      log.warn("event=wake_refused endpoint={} reason=\"{}\"", endpoint, e.getMessage());
      flight.completeExceptionally(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      flight.completeExceptionally(e);
    } catch (RuntimeException e) {
      wakesRefused.increment();
      log.warn("event=wake_failed endpoint={} error=\"{}\"", endpoint, e.toString());
      flight.completeExceptionally(new Computes.WakeRefusedException("endpoint " + endpoint + " could not be woken: " + e.getMessage()));
    }
  }

  /** Wakes asked for so far, for tests and the benchmark. */
  long wakesStarted() {
    return (long) wakesStarted.count();
  }
}
