/**
 * The Arbor Kubernetes API, {@code arbor.dev/v1alpha1}: {@link dev.arbor.crds.v1alpha1.Project},
 * {@link dev.arbor.crds.v1alpha1.Branch} and {@link dev.arbor.crds.v1alpha1.Endpoint}.
 *
 * <p>These classes are the source of the CRD YAML (fabric8 crd-generator). Validation lives in the schema
 * they generate — required fields, patterns, enums, defaults and CEL rules — so that the API server rejects a
 * bad manifest before any reconciler sees it, and defaults are visible in the stored object instead of being
 * patched in by the operator (which would fight GitOps tools).
 */
package dev.arbor.crds.v1alpha1;
