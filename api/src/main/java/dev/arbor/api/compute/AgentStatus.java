package dev.arbor.api.compute;

import com.fasterxml.jackson.annotation.JsonValue;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.time.Instant;

/**
 * The compute agent's answer to {@code GET /status} (snake_case JSON, absent fields omitted).
 *
 * @param generation the read-write generation this compute streams under; absent for read_only
 * @param pgTli the PostgreSQL TLI of that generation; absent for read_only
 * @param lsn the snapshot's LSN; read_only only
 * @param lastActivity the last time anything kept the compute awake ({@link AgentActivity}) or a client connection was
 *     reported; absent until Running
 * @param currentLsn pg_current_wal_lsn(), or pg_last_wal_replay_lsn() on a read-only compute
 * @param startedAt when PostgreSQL was serving and roles and databases were applied
 * @param fenced true once a newer generation took over the timeline (read_write only)
 * @param error why the compute failed (phase Failed)
 */
public record AgentStatus(
    Phase phase,
    Mode mode,
    TenantId tenant,
    TimelineId timeline,
    Long generation,
    Integer pgTli,
    Lsn lsn,
    Instant lastActivity,
    Lsn currentLsn,
    Integer connections,
    Instant startedAt,
    Boolean fenced,
    String error) {

  /** The phases of an Endpoint's status, as the operator reports them. */
  public enum Phase {
    STARTING("Starting"),
    RUNNING("Running"),
    STOPPING("Stopping"),
    FAILED("Failed");

    private final String text;

    Phase(String text) {
      this.text = text;
    }

    @JsonValue
    public String text() {
      return text;
    }
  }
}
