package dev.arbor.crds.v1alpha1;

/**
 * How a compute pod is found and reached, shared by the operator that makes it and the proxy that dials it: the
 * label that names its Endpoint, and the names of its container ports.
 */
public final class ComputePods {
  private ComputePods() {}

  /** Label on a compute's pods (and its other objects): the name of its Endpoint, in the Endpoint's namespace. */
  public static final String ENDPOINT_LABEL = "arbor.dev/endpoint";
  /** Container port of the compute's PostgreSQL. */
  public static final String POSTGRES_PORT = "postgres";
  /** Container port of the compute agent's HTTP API. */
  public static final String HTTP_PORT = "http";
}
