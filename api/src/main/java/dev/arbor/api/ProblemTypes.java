package dev.arbor.api;

/**
 * Problem types (RFC 9457) that callers act on, by their short name: the {@code type} URI is
 * {@link ApiProblem#TYPE_BASE} followed by the name, and {@link ApiProblem#is} compares against these.
 */
public final class ProblemTypes {
  private ProblemTypes() {}

  /** A management route (create, list, delete, tenant-naming metrics) asked on a compute port. */
  public static final String SERVED_ON_MANAGEMENT_PORT = "served-on-management-port";
  /** A compute route asked on a management port. */
  public static final String SERVED_ON_COMPUTE_PORT = "served-on-compute-port";
}
