package dev.arbor.crds.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.Plural;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** A timeline of a Project, branched from a parent Branch at an LSN or a point in time. */
@Group(Project.GROUP)
@Version(Project.VERSION)
@Plural("branches")
@ShortNames("abr")
@Categories("arbor")
// Without spec, the required fields and defaults inside it would never be checked or applied.
@ValidationRule(value = "has(self.spec)", fieldPath = ".spec", message = "spec is required: a Branch needs at least spec.projectRef")
@ValidationRule(value = "size(self.metadata.name) <= 63",
    message = "metadata.name must be at most 63 characters: it is the value of the label arbor.dev/branch on the objects of its Endpoints")
@AdditionalPrinterColumn(name = "Project", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.projectRef")
@AdditionalPrinterColumn(name = "Parent", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.parent")
@AdditionalPrinterColumn(name = "LSN", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.lsn")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class Branch extends CustomResource<BranchSpec, BranchStatus> implements Namespaced {}
