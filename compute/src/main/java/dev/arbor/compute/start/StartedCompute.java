package dev.arbor.compute.start;

import dev.arbor.postgres.PostgresServer;

/** A compute whose start sequence finished: PostgreSQL serving, read-write or read-only. */
public sealed interface StartedCompute extends AutoCloseable permits RunningCompute, RunningSnapshot {

  PostgresServer server();

  /** True when PostgreSQL is a hot standby that never promotes, so writes fail with its read-only error. */
  boolean readOnly();

  /** Fast shutdown; returns once PostgreSQL exited. */
  void stop();

  /** SIGKILL of PostgreSQL and all its processes. */
  void kill();

  @Override
  default void close() {
    stop();
  }
}
