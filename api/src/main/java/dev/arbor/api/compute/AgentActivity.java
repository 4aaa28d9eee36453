package dev.arbor.api.compute;

import java.time.Instant;
import java.util.List;

/**
 * The compute agent's answer to {@code GET /activity} (snake_case JSON): PostgreSQL sampled for this request, the
 * re-check a suspender makes just before it scales the compute down.
 *
 * @param sampledAt when the agent sampled PostgreSQL for this answer
 * @param lastActivity the last time anything kept the compute awake (this sample included) or a client connection
 *     was reported through {@code POST /activity}
 * @param keptAwakeBy what keeps the compute awake now, one short sentence each (e.g. "2 client connections (app)");
 *     empty when it is idle
 */
public record AgentActivity(Instant sampledAt, Instant lastActivity, List<String> keptAwakeBy) {
  public AgentActivity {
    keptAwakeBy = keptAwakeBy == null ? List.of() : List.copyOf(keptAwakeBy);
  }
}
