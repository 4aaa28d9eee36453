package dev.arbor.crds.v1alpha1;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Optional;

/**
 * The wake contract between whoever holds a client connection (the proxy) and the operator: the waker sets
 * annotation {@value #REQUESTED_AT} on the Endpoint to the current instant (RFC 3339, e.g. {@code
 * 2026-12-07T11:30:00Z}). The operator starts an Endpoint it suspended for idleness when the annotation is later
 * than {@code status.suspendedAt}; an Endpoint suspended by {@code spec.suspended: true} is never started by it.
 */
public final class EndpointWake {
  private EndpointWake() {}

  /** The annotation a waker patches; its value is an RFC 3339 instant. */
  public static final String REQUESTED_AT = "arbor.dev/wake-requested-at";

  /** The instant of the Endpoint's wake request; empty when there is none or it is not an RFC 3339 instant. */
  public static Optional<Instant> requestedAt(Endpoint endpoint) {
    var annotations = endpoint.getMetadata().getAnnotations();
    String value = annotations == null ? null : annotations.get(REQUESTED_AT);
    if (value == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(Instant.parse(value.strip()));
    } catch (DateTimeParseException e) {
      return Optional.empty();
    }
  }
}
