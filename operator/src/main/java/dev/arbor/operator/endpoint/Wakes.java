package dev.arbor.operator.endpoint;

import dev.arbor.crds.v1alpha1.Endpoint;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which reads of an idle-suspended Endpoint's status are a wake to act on. Two proxy replicas each ask for a wake, and
 * the reconcile of the second request may still read the status from before the first one's write: that status is
 * not a new suspend to wake from, and acting on it again would say so twice (log and Event). So the operator keeps,
 * per Endpoint UID, the {@code suspendedAt} it last woke from, until a reconcile reads a status without one.
 */
final class Wakes {
  enum Decision {
    /** A wake request came after this suspend: start the compute, and say so. */
    WAKE,
    /** A stale read of a suspend this operator already woke from: the compute is starting; say nothing. */
    ALREADY_WOKEN,
    /** No wake request for this suspend. */
    STAY_SUSPENDED
  }

  private final Map<String, String> wokenFrom = new ConcurrentHashMap<>();

  Decision decide(Endpoint endpoint, String suspendedAt) {
    String uid = endpoint.getMetadata().getUid();
    if (suspendedAt.equals(wokenFrom.get(uid))) {
      return Decision.ALREADY_WOKEN;
    }
    if (!IdleSuspend.wakeRequested(endpoint, Instant.parse(suspendedAt))) {
      return Decision.STAY_SUSPENDED;
    }
    wokenFrom.put(uid, suspendedAt);
    return Decision.WAKE;
  }

  /** The Endpoint's status has no {@code suspendedAt} (the wake's write was read back): no stale read follows. */
  void settled(Endpoint endpoint) {
    wokenFrom.remove(endpoint.getMetadata().getUid());
  }
}
