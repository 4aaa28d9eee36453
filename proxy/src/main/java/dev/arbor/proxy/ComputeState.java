package dev.arbor.proxy;

import java.net.InetSocketAddress;
import java.net.URI;

/** Where an Endpoint's compute is, as the proxy's {@link Computes} sees it when a client connects. */
public sealed interface ComputeState {

  /**
   * The compute runs (or its PostgreSQL is starting) at {@code postgres}; {@code agent} is its compute agent's
   * base URL (for the activity touch), or null when unknown.
   */
  record Running(InetSocketAddress postgres, URI agent) implements ComputeState {}

  /** The compute is being started (by this proxy's wake or by someone else): wait for it. */
  record Starting() implements ComputeState {}

  /** Suspended because it was idle: a client connection wakes it. */
  record Suspended() implements ComputeState {}

  /**
   * No compute, and a connection must not start one (suspended by a person, deleted, failed): the client gets
   * {@code reason} (and {@code hint}, or null) in an ErrorResponse.
   */
  record Refused(String reason, String hint) implements ComputeState {}
}
