package dev.arbor.operator.project;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Project;

/** Naming rules that tie a Project to its root Branch. */
public final class Projects {
  private Projects() {}

  public static String defaultBranch(Project p) {
    String d = p.getSpec() == null ? null : p.getSpec().getDefaultBranch();
    return d == null ? "main" : d;
  }

  /** The root Branch object's name: {@code <project>-<defaultBranch>}. */
  public static String rootBranchName(Project p) {
    return p.getMetadata().getName() + "-" + defaultBranch(p);
  }

  /** The Project's root Branch: the right name and controlled by this very Project (same UID). */
  public static boolean isRootBranch(Branch b, Project p) {
    return b.getMetadata().getName().equals(rootBranchName(p)) && b.getMetadata().getOwnerReferences() != null
        && b.getMetadata().getOwnerReferences().stream()
        .anyMatch(o -> Boolean.TRUE.equals(o.getController()) && p.getMetadata().getUid().equals(o.getUid()));
  }

  /**
   * A Branch that a person declared as this Project's root (e.g. in Git, applied before the Project): the root's
   * name, {@code spec.projectRef} naming the Project, no branch point of its own and no controller yet. The Project
   * adopts it by adding its controller ownerReference.
   */
  public static boolean isAdoptableRoot(Branch b, Project p) {
    return b.getMetadata().getName().equals(rootBranchName(p)) && b.getSpec() != null
        && p.getMetadata().getName().equals(b.getSpec().getProjectRef()) && b.getSpec().getParent() == null
        && b.getSpec().getParentLsn() == null && b.getSpec().getParentTimestamp() == null && controller(b) == null;
  }

  /** Why a Branch of the root's name is neither this Project's root nor adoptable as it, with what to do. */
  public static String whyNotRoot(Branch b, Project p) {
    String name = b.getMetadata().getName();
    if (b.getSpec() == null || !p.getMetadata().getName().equals(b.getSpec().getProjectRef())) {
      return "Branch " + name + ", the name of this Project's root branch, belongs to Project "
          + (b.getSpec() == null ? null : b.getSpec().getProjectRef()) + " (spec.projectRef); delete or rename that Branch so that the"
          + " root branch can be created";
    }
    var owner = controller(b);
    if (owner != null) {
      return "Branch " + name + " is controlled by " + owner.getKind() + " " + owner.getName() + " (uid " + owner.getUid()
          + "), not by this Project; delete it so that the root branch can be created";
    }
    return "Branch " + name + " has a branch point (spec.parent, spec.parentLsn or spec.parentTimestamp), so it cannot be the root"
        + " branch; delete it (to declare the root branch yourself, give it only spec.projectRef)";
  }

  private static io.fabric8.kubernetes.api.model.OwnerReference controller(Branch b) {
    return b.getMetadata().getOwnerReferences() == null ? null : b.getMetadata().getOwnerReferences().stream()
        .filter(o -> Boolean.TRUE.equals(o.getController())).findFirst().orElse(null);
  }

  /** The Secret with the generated passwords of the Project's roles (one key per role). */
  public static String rolePasswordsSecret(String project) {
    return project + "-role-passwords";
  }
}
