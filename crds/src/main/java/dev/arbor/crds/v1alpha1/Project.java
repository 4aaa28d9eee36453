package dev.arbor.crds.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** A tenant: one PostgreSQL major version, a history window, declared roles and databases, and a root branch. */
@Group(Project.GROUP)
@Version(Project.VERSION)
@ShortNames("aproj")
@Categories("arbor")
// Without spec, the required fields and defaults inside it would never be checked or applied.
@ValidationRule(value = "has(self.spec)", fieldPath = ".spec", message = "spec is required: write spec: {} for a Project with the default PostgreSQL version, history window and branch name")
// The name is a label value (arbor.dev/project) on the Project's objects, and the root Branch is named
// <project>-<defaultBranch>, a Branch name, itself a label value.
@ValidationRule(value = "size(self.metadata.name) <= 63",
    message = "metadata.name must be at most 63 characters: it is the value of the label arbor.dev/project on the Project's objects")
@ValidationRule(value = "!has(self.spec) || !has(self.spec.defaultBranch) || size(self.metadata.name) + size(self.spec.defaultBranch) <= 62",
    message = "metadata.name and spec.defaultBranch must together be at most 62 characters: the root Branch is named "
        + "<project>-<defaultBranch>, and a Branch name is at most 63 characters; shorten either")
@AdditionalPrinterColumn(name = "Postgres", type = AdditionalPrinterColumn.Type.INTEGER, jsonPath = ".status.postgresVersion")
@AdditionalPrinterColumn(name = "Default Branch", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.defaultBranch")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class Project extends CustomResource<ProjectSpec, ProjectStatus> implements Namespaced {
  public static final String GROUP = "arbor.dev";
  public static final String VERSION = "v1alpha1";
}
