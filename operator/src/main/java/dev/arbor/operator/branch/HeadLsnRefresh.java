package dev.arbor.operator.branch;

import dev.arbor.crds.v1alpha1.Branch;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * When a Branch's {@code status.headLsn} is brought up to date. The head moves with every commit, so writing it
 * on each reconcile made every active Branch patch its status (an etcd write, and an event for everyone watching
 * Branches) once a minute or faster; it is a hint for people picking a {@code spec.parentLsn}, so it is written
 * when it is unset and then at most every {@link #INTERVAL} per Branch. The exact head is the storage engine's:
 * {@code GET /v1/tenant/{tenant}/timeline/{timeline}} ({@code last_durable_lsn}) or {@code arbor branch list}.
 * The times live in memory only: a restarted operator writes each head once more.
 */
final class HeadLsnRefresh {
  static final Duration INTERVAL = Duration.ofMinutes(5);

  /** Branch UID → when its head was last written. */
  private final Map<String, Instant> written = new ConcurrentHashMap<>();
  private volatile Instant pruned = Instant.EPOCH;

  /** Whether to write the Branch's head now; a yes counts as written. */
  boolean due(Branch branch, Instant now) {
    String uid = branch.getMetadata().getUid();
    Instant last = written.get(uid);
    boolean unset = branch.getStatus() == null || branch.getStatus().getHeadLsn() == null;
    if (!unset && last != null && now.isBefore(last.plus(INTERVAL))) {
      return false;
    }
    written.put(uid, now);
    if (now.isAfter(pruned.plus(INTERVAL))) {
      // An entry older than the interval says the same as none (due), so dropping it forgets deleted Branches.
      pruned = now;
      written.values().removeIf(t -> !now.isBefore(t.plus(INTERVAL)));
    }
    return true;
  }
}
