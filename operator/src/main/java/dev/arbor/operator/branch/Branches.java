package dev.arbor.operator.branch;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.operator.kube.Durations;
import dev.arbor.operator.project.Projects;
import java.time.Instant;
import java.util.Optional;

/** Reading a Branch's spec: its parent and its expiry. */
public final class Branches {
  private Branches() {}

  /** The parent's name: spec.parent, or the Project's root branch (null for the root itself). */
  public static String parentName(Branch b, Project project) {
    if (b.getSpec().getParent() != null) {
      return b.getSpec().getParent();
    }
    return Projects.isRootBranch(b, project) ? null : Projects.rootBranchName(project);
  }

  /** When the Branch expires: spec.expiresAt, or creation + spec.ttl; empty for a Branch that does not expire. */
  public static Optional<Instant> expiry(Branch b) {
    if (b.getSpec().getExpiresAt() != null) {
      return Optional.of(b.getSpec().getExpiresAt().toInstant());
    }
    if (b.getSpec().getTtl() != null && b.getMetadata().getCreationTimestamp() != null) {
      return Optional.of(Instant.parse(b.getMetadata().getCreationTimestamp()).plus(Durations.parse(b.getSpec().getTtl())));
    }
    return Optional.empty();
  }
}
