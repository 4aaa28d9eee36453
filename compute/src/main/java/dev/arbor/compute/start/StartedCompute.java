package dev.arbor.compute.start;

import dev.arbor.postgres.PostgresServer;
import java.util.Set;

/** A compute whose start sequence finished: PostgreSQL serving, read-write or read-only. */
public sealed interface StartedCompute extends AutoCloseable permits RunningCompute, RunningSnapshot {

  PostgresServer server();

  /** True when PostgreSQL is a hot standby that never promotes, so writes fail with its read-only error. */
  boolean readOnly();

  /**
   * Backend pids of sessions the compute runs on its own (e.g. the {@link SlotTrimmer}'s), which are never client
   * activity.
   */
  default Set<Integer> ownSessionPids() {
    return Set.of();
  }

  /** Fast shutdown; returns once PostgreSQL exited. */
  void stop();

  /** SIGKILL of PostgreSQL and all its processes. */
  void kill();

  @Override
  default void close() {
    stop();
  }
}
