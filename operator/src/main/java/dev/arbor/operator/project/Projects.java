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

  /** The Secret with the generated passwords of the Project's roles (one key per role). */
  public static String rolePasswordsSecret(String project) {
    return project + "-role-passwords";
  }
}
