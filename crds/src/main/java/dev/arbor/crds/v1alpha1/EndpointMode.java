package dev.arbor.crds.v1alpha1;

/** How an Endpoint serves its Branch. */
public enum EndpointMode {
  /** The one writer of the Branch; at most one per Branch. */
  ReadWrite,
  /** A replica following the Branch's head, or with {@code spec.lsn} a static snapshot for time travel. */
  ReadOnly
}
