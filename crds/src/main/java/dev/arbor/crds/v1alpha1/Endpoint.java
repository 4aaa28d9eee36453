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
@AdditionalPrinterColumn(name = "Branch", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.branchRef")
@AdditionalPrinterColumn(name = "Mode", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".spec.mode")
@AdditionalPrinterColumn(name = "Phase", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.phase")
@AdditionalPrinterColumn(name = "Ready", type = AdditionalPrinterColumn.Type.STRING, jsonPath = ".status.conditions[?(@.type==\"Ready\")].status")
@AdditionalPrinterColumn(name = "Age", type = AdditionalPrinterColumn.Type.DATE, jsonPath = ".metadata.creationTimestamp")
public class Endpoint extends CustomResource<EndpointSpec, EndpointStatus> implements Namespaced {}
