package dev.arbor.operator.endpoint;

import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointWake;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.operator.kube.Durations;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Optional;

/**
 * The idle-suspend rules of an Endpoint, apart from any I/O: its effective suspend timeout, whether a compute
 * idle since its last activity is to be suspended and otherwise when to look again, and whether a wake request
 * applies to an Endpoint the operator suspended.
 */
final class IdleSuspend {
  /** The longest wait between two looks at a running compute's activity. */
  static final Duration MAX_POLL = Duration.ofSeconds(15);
  /** The shortest: the agent samples PostgreSQL once a second, so looking more often sees nothing new. */
  static final Duration MIN_POLL = Duration.ofSeconds(1);

  private IdleSuspend() {}

  /** What the operator concluded from one look at the compute's last activity. */
  record Verdict(boolean idle, Duration lookAgainIn) {
    static Verdict suspend() {
      return new Verdict(true, null);
    }

    static Verdict keepRunning(Duration lookAgainIn) {
      return new Verdict(false, lookAgainIn);
    }
  }

  /**
   * The suspend timeout the Endpoint sets, else its Project's {@code spec.endpointDefaults.suspendTimeout}; empty when
   * neither sets one. Zero (written {@code 0} or {@code 0s}) means never, as does empty.
   */
  static Optional<Duration> configured(Endpoint endpoint, Project project) {
    String own = endpoint.getSpec().getSuspendTimeout();
    if (own != null) {
      return Optional.of(Durations.parse(own));
    }
    var defaults = project.getSpec() == null ? null : project.getSpec().getEndpointDefaults();
    return defaults == null || defaults.getSuspendTimeout() == null ? Optional.empty()
        : Optional.of(Durations.parse(defaults.getSuspendTimeout()));
  }

  /** The effective timeout; {@link Duration#ZERO} for never. */
  static Duration timeout(Endpoint endpoint, Project project) {
    return configured(endpoint, project).orElse(Duration.ZERO);
  }

  /** How often a running compute is looked at: a third of the timeout, between {@link #MIN_POLL} and {@link #MAX_POLL}. */
  static Duration pollInterval(Duration timeout) {
    Duration third = timeout.dividedBy(3);
    return third.compareTo(MIN_POLL) < 0 ? MIN_POLL : third.compareTo(MAX_POLL) > 0 ? MAX_POLL : third;
  }

  /**
   * What {@code status.lastActive} should say after a look that found {@code lastActivity}: the recorded value while the
   * activity has moved less than half the timeout past it, else the new one (whole seconds). So an active compute's
   * status is written about twice per timeout, not at every look; a recorded value that is ahead (an agent started
   * again) is replaced. The idle decision reads the agent, not this field.
   */
  static String lastActiveToRecord(String recorded, Instant lastActivity, Duration timeout) {
    Instant last = lastActivity.truncatedTo(ChronoUnit.SECONDS);
    if (recorded != null) {
      Instant before = Instant.parse(recorded);
      if (!last.isBefore(before) && Duration.between(before, last).compareTo(timeout.dividedBy(2)) < 0) {
        return recorded;
      }
    }
    return last.toString();
  }

  /**
   * Idle once {@code timeout} has passed since the last activity (the clock restarts with each activity); otherwise
   * look again after the poll interval, or when the timeout would run out if that comes first.
   */
  static Verdict judge(Instant lastActivity, Instant now, Duration timeout) {
    Duration idleFor = Duration.between(lastActivity, now);
    if (idleFor.isNegative()) {
      idleFor = Duration.ZERO;
    }
    if (idleFor.compareTo(timeout) >= 0) {
      return Verdict.suspend();
    }
    Duration untilTimeout = timeout.minus(idleFor);
    Duration poll = pollInterval(timeout);
    return Verdict.keepRunning(untilTimeout.compareTo(poll) < 0 ? untilTimeout : poll);
  }

  /**
   * Whether the Endpoint's wake request applies to a suspend at {@code suspendedAt} (whole seconds, as the status
   * records it): a request at or after it. A request older than the suspend was for an earlier one.
   */
  static boolean wakeRequested(Endpoint endpoint, Instant suspendedAt) {
    return EndpointWake.requestedAt(endpoint).filter(at -> !at.isBefore(suspendedAt)).isPresent();
  }
}
