package dev.arbor.operator.endpoint;

import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointMode;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.function.Predicate;

/**
 * Which ReadWrite Endpoint of a Branch may run its compute, from recorded state alone. One that already runs a
 * compute of it (phase Running, Starting or Waking, {@code status.timelineId} the Branch's, its StatefulSet present)
 * keeps it, so that no other Endpoint's arrival evicts a working writer; otherwise the oldest (creation time, then
 * name). Endpoints being deleted and ReadOnly ones take no part.
 */
final class WriterElection {
  private static final Comparator<Endpoint> OLDEST = Comparator.comparing((Endpoint e) -> e.getMetadata().getCreationTimestamp())
      .thenComparing(e -> e.getMetadata().getName());

  private WriterElection() {}

  /**
   * The writer among {@code endpoint} (a ReadWrite Endpoint of the Branch) and {@code others} (Endpoints of the same
   * namespace; those of other Branches, ReadOnly or being deleted are left out here). {@code hasStatefulSet} says
   * whether an Endpoint's own StatefulSet exists.
   */
  static Endpoint writer(Endpoint endpoint, Collection<Endpoint> others, String branchTimelineId, Predicate<Endpoint> hasStatefulSet) {
    String name = endpoint.getMetadata().getName();
    List<Endpoint> candidates = new ArrayList<>(others.stream()
        .filter(e -> !e.getMetadata().getName().equals(name) && endpoint.getSpec().getBranchRef().equals(e.getSpec().getBranchRef())
            && e.getSpec().getMode() != EndpointMode.ReadOnly && e.getMetadata().getDeletionTimestamp() == null).toList());
    candidates.add(endpoint);
    return candidates.stream().filter(e -> runsCompute(e, branchTimelineId, hasStatefulSet)).min(OLDEST)
        .orElseGet(() -> candidates.stream().min(OLDEST).orElseThrow());
  }

  /** Per its recorded status, the Endpoint runs a compute of the Branch on this timeline, and that StatefulSet exists. */
  static boolean runsCompute(Endpoint e, String branchTimelineId, Predicate<Endpoint> hasStatefulSet) {
    EndpointPhase phase = e.getStatus() == null ? null : e.getStatus().getPhase();
    return (phase == EndpointPhase.Running || phase == EndpointPhase.Starting || phase == EndpointPhase.Waking)
        && branchTimelineId.equals(e.getStatus().getTimelineId()) && hasStatefulSet.test(e);
  }
}
