package dev.arbor.compute.agent;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.AgentStatus;
import dev.arbor.api.compute.AgentStatus.Phase;
import dev.arbor.server.HttpApi;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * The agent's gauges on its {@code GET /metrics} (beside the HTTP server's own): all read from one status taken
 * at the start of each scrape. A gauge whose value the agent does not know yet (the start duration, the LSN, the
 * generation, ...) is absent until it is known.
 */
final class AgentMetrics {
  private final MeterRegistry registry;
  private final Supplier<AgentStatus> status;
  private final Supplier<Duration> startDuration;
  private final Set<String> registered = ConcurrentHashMap.newKeySet();
  private volatile AgentStatus latest;

  private AgentMetrics(MeterRegistry registry, Supplier<AgentStatus> status, Supplier<Duration> startDuration) {
    this.registry = registry;
    this.status = status;
    this.startDuration = startDuration;
  }

  static void register(HttpApi http, ComputeAgentSpec spec, Supplier<AgentStatus> status, Supplier<Duration> startDuration) {
    var m = new AgentMetrics(http.metrics(), status, startDuration);
    m.latest = status.get();
    m.gauge("arbor_compute_up", "1 while PostgreSQL is running and serving (phase Running), else 0.",
        s -> s.phase() == Phase.RUNNING ? 1 : 0);
    for (Phase p : Phase.values()) {
      Gauge.builder("arbor_compute_phase", () -> m.latest.phase() == p ? 1 : 0)
          .description("1 for the compute's current phase, 0 for the others.").tag("phase", p.text()).register(m.registry);
    }
    // Micrometer names an info metric by its dotted name ending in ".info"; "arbor_compute_info" would lose the suffix.
    Gauge.builder("arbor.compute.info", () -> 1).description("The compute's identity; always 1.")
        .tag("mode", spec.mode().text()).tag("tenant", spec.tenantId().toString()).tag("timeline", spec.timelineId().toString())
        .tag("postgres_version", spec.postgresVersion().toString()).register(m.registry);
    http.beforeScrape(m::refresh);
  }

  /** Takes the status for this scrape, and registers the gauges whose value became known. */
  private void refresh() {
    AgentStatus s = status.get();
    latest = s;
    Duration started = startDuration.get();
    if (started != null) {
      gauge("arbor_compute_start_duration_seconds", "Time from the agent's start to PostgreSQL serving with roles and databases applied.",
          x -> started.toNanos() / 1e9);
    }
    if (s.currentLsn() != null) {
      gauge("arbor_compute_current_lsn_bytes", "pg_current_wal_lsn() (read-write) or pg_last_wal_replay_lsn() (read-only) as a byte position.",
          x -> x.currentLsn() == null ? Double.NaN : x.currentLsn().value());
    }
    if (s.connections() != null) {
      gauge("arbor_compute_connections", "Client connections to PostgreSQL, without the agent's own.",
          x -> x.connections() == null ? Double.NaN : x.connections());
    }
    if (s.lastActivity() != null) {
      gauge("arbor_compute_last_activity_timestamp_seconds",
          "When anything last kept the compute awake (GET /activity), in seconds since the epoch.",
          x -> x.lastActivity() == null ? Double.NaN : x.lastActivity().toEpochMilli() / 1e3);
    }
    if (s.generation() != null) {
      gauge("arbor_compute_generation", "The read-write generation this compute streams WAL under.",
          x -> x.generation() == null ? Double.NaN : x.generation());
      gauge("arbor_compute_pg_tli", "The PostgreSQL timeline ID of this generation.", x -> x.pgTli() == null ? Double.NaN : x.pgTli());
    }
    if (s.fenced() != null) {
      gauge("arbor_compute_fenced", "1 once a newer generation took over the timeline: commits can no longer be acknowledged.",
          x -> x.fenced() == null ? Double.NaN : x.fenced() ? 1 : 0);
    }
  }

  /** A gauge of the scrape's status, registered once. */
  private void gauge(String name, String help, ToDoubleFunction<AgentStatus> value) {
    if (registered.add(name)) {
      Gauge.builder(name, () -> value.applyAsDouble(latest)).description(help).register(registry);
    }
  }
}
