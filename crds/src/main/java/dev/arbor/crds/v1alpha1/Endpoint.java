package dev.arbor.crds.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * A compute for a Branch: a PostgreSQL that serves it read-write, as a replica, or read-only at an LSN.
 *
 * <p>The plural {@code endpoints} is also the core {@code v1} Endpoints resource, which kubectl prefers for
 * {@code kubectl get endpoints}; hence the short name {@code aep} ({@code ep} is core's) and the category.
 */
@Group(Project.GROUP)
@Version(Project.VERSION)
@ShortNames("aep")
@Categories("arbor")
// Without spec, the required fields and defaults inside it would never be checked or applied.
@ValidationRule(value = "has(self.spec)", fieldPath = ".spec", message = "spec is required: an Endpoint needs at least spec.branchRef")
// The name is also the name of its Service (a DNS-1035 label) and of its StatefulSet, whose pods are labelled
// controller-revision-hash=<name>-<10-character hash>: a label value of at most 63 characters.
@ValidationRule(value = "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
    message = "metadata.name must be a DNS-1035 label (lower-case letters, digits and '-', starting with a letter, no dots): "
        + "the Endpoint's Service takes its name; e.g. shop-main-rw")
@ValidationRule(value = "size(self.metadata.name) <= 52",
    message = "metadata.name must be at most 52 characters: the Endpoint's StatefulSet labels its pods "
        + "controller-revision-hash=<name>-<10-character hash>, and a label value is at most 63 characters")
@AdditionalPrinterColumn(name = "Branch", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.branchRef")
@AdditionalPrinterColumn(name = "Mode", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.mode")
@AdditionalPrinterColumn(name = "Phase", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.phase")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class Endpoint extends CustomResource<EndpointSpec, EndpointStatus> implements Namespaced {}
