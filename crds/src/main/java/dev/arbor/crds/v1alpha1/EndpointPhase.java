package dev.arbor.crds.v1alpha1;

/** Where an Endpoint's compute is in its life. */
public enum EndpointPhase {
  Starting, Running, Suspended, Waking, Failed
}
