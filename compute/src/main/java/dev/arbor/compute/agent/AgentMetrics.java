package dev.arbor.compute.agent;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.AgentStatus;
import dev.arbor.api.compute.AgentStatus.Phase;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;

/**
 * The agent's {@code GET /metrics} in the Prometheus text exposition format (version 0.0.4): a HELP and a
 * TYPE line per metric family, then its samples. Everything is a gauge read from the latest status.
 */
final class AgentMetrics {

  private final StringBuilder text = new StringBuilder();

  private AgentMetrics() {}

  static String render(AgentStatus s, ComputeAgentSpec spec, Duration startDuration) {
    var m = new AgentMetrics();
    m.gauge("arbor_compute_up", "1 while PostgreSQL is running and serving (phase Running), else 0.",
        s.phase() == Phase.RUNNING ? 1 : 0);
    m.family("arbor_compute_phase", "1 for the compute's current phase, 0 for the others.");
    for (Phase p : Phase.values()) {
      m.sample("arbor_compute_phase", Map.of("phase", p.text()), p == s.phase() ? 1 : 0);
    }
    m.family("arbor_compute_info", "The compute's identity; always 1.");
    m.sample("arbor_compute_info", Map.of("mode", spec.mode().text(), "tenant", spec.tenantId().toString(),
        "timeline", spec.timelineId().toString(), "postgres_version", spec.postgresVersion().toString()), 1);
    if (startDuration != null) {
      m.gauge("arbor_compute_start_duration_seconds", "Time from the agent's start to PostgreSQL serving with roles and databases applied.",
          startDuration.toNanos() / 1e9);
    }
    if (s.currentLsn() != null) {
      m.gauge("arbor_compute_current_lsn_bytes", "pg_current_wal_lsn() (read-write) or pg_last_wal_replay_lsn() (read-only) as a byte position.",
          Long.toUnsignedString(s.currentLsn().value()));
    }
    if (s.connections() != null) {
      m.gauge("arbor_compute_connections", "Client connections to PostgreSQL, without the agent's own.", s.connections());
    }
    if (s.lastActivity() != null) {
      m.gauge("arbor_compute_last_activity_timestamp_seconds", "When a client last did anything, in seconds since the epoch.",
          s.lastActivity().toEpochMilli() / 1e3);
    }
    if (s.generation() != null) {
      m.gauge("arbor_compute_generation", "The read-write generation this compute streams WAL under.", s.generation());
      m.gauge("arbor_compute_pg_tli", "The PostgreSQL timeline ID of this generation.", s.pgTli());
    }
    if (s.fenced() != null) {
      m.gauge("arbor_compute_fenced", "1 once a newer generation took over the timeline: commits can no longer be acknowledged.",
          s.fenced() ? 1 : 0);
    }
    return m.text.toString();
  }

  private void gauge(String name, String help, Object value) {
    family(name, help);
    sample(name, Map.of(), value);
  }

  private void family(String name, String help) {
    text.append("# HELP ").append(name).append(' ').append(help.replace("\\", "\\\\").replace("\n", "\\n")).append('\n');
    text.append("# TYPE ").append(name).append(" gauge\n");
  }

  private void sample(String name, Map<String, String> labels, Object value) {
    text.append(name);
    if (!labels.isEmpty()) {
      text.append('{');
      String sep = "";
      for (var e : new TreeMap<>(labels).entrySet()) {
        text.append(sep).append(e.getKey()).append("=\"")
            .append(e.getValue().replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")).append('"');
        sep = ",";
      }
      text.append('}');
    }
    text.append(' ').append(value).append('\n');
  }
}
