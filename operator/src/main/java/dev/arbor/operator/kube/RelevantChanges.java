package dev.arbor.operator.kube;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.operator.status.Conditions;
import java.util.Objects;
import java.util.function.Function;

/**
 * Update filters for informers that watch another object than their controller's primary: only changes that the
 * receiving side acts on pass. Without them every status write (a moving head LSN, a message) of a Branch woke
 * its relatives, its Project and its Endpoints, whose own writes woke it again (review item 5). Additions and
 * deletions always pass; these filter updates only.
 */
public final class RelevantChanges {
  private RelevantChanges() {}

  /**
   * What Branches waiting on a Branch (children, a parent holding its deletion) and Endpoints on it act on: its
   * Ready (status, reason, generation), its timeline, its deletion. Not its spec: no child or Endpoint reads the
   * spec of another Branch, and a spec edit is followed by the Branch's own reconcile, whose new Ready passes.
   */
  public static boolean ofBranchState(Branch before, Branch after) {
    return Conditions.readyChanged(before.getStatus(), after.getStatus())
        || differ(before, after, b -> b.getStatus() == null ? null : b.getStatus().getTimelineId())
        || differ(before, after, b -> b.getMetadata().getDeletionTimestamp());
  }

  /** What a Project acts on about its Branches: their state, and their spec and ownership (its root Branch's). */
  public static boolean ofBranchForProject(Branch before, Branch after) {
    return ofBranchState(before, after)
        || differ(before, after, b -> b.getMetadata().getGeneration())
        || differ(before, after, b -> b.getMetadata().getOwnerReferences());
  }

  /** What Branches and Endpoints act on about their Project: its spec, tenant, PostgreSQL version, Ready and deletion. */
  public static boolean ofProject(Project before, Project after) {
    return Conditions.readyChanged(before.getStatus(), after.getStatus())
        || differ(before, after, p -> p.getMetadata().getGeneration())
        || differ(before, after, p -> p.getMetadata().getDeletionTimestamp())
        || differ(before, after, p -> p.getStatus() == null ? null : p.getStatus().getTenantId())
        || differ(before, after, p -> p.getStatus() == null ? null : p.getStatus().getPostgresVersion());
  }

  /**
   * What the ReadWrite Endpoints of a Branch act on about one another (the writer election): the spec (a new
   * generation: branch, mode, {@code suspended}), the deletion, and the recorded phase and timeline. Not the rest of the
   * status: a running compute's {@code lastActive} moves with every look at its activity, and with two active
   * Endpoints on a Branch each such write woke the other, whose own write woke it back.
   */
  public static boolean ofSiblingEndpoint(Endpoint before, Endpoint after) {
    return differ(before, after, e -> e.getMetadata().getGeneration())
        || differ(before, after, e -> e.getMetadata().getDeletionTimestamp())
        || differ(before, after, e -> e.getStatus() == null ? null : e.getStatus().getPhase())
        || differ(before, after, e -> e.getStatus() == null ? null : e.getStatus().getTimelineId());
  }

  private static <T> boolean differ(T before, T after, Function<T, Object> field) {
    return !Objects.equals(field.apply(before), field.apply(after));
  }
}
