package dev.arbor.api;

/**
 * Every problem type (RFC 9457) that Arbor's servers answer, by its short name: the {@code type} URI is
 * {@link ApiProblem#TYPE_BASE} followed by the name, and {@link ApiProblem#is} compares against these. Each
 * service's OpenAPI document lists the types it can answer (the enum of its Problem schema's {@code type}).
 */
public final class ProblemTypes {
  private ProblemTypes() {}

  // Any server (the HTTP server they share).

  /** A request field, path or query parameter, or body that is malformed or out of range; {@code field} names it. */
  public static final String INVALID_FIELD = "invalid-field";
  /** No route has this path. */
  public static final String NO_SUCH_ROUTE = "no-such-route";
  /** The path exists, the method does not; the {@code Allow} header lists the ones that do. */
  public static final String METHOD_NOT_ALLOWED = "method-not-allowed";
  /** A bug or an unexpected failure (status 500); the server's log has the details. */
  public static final String INTERNAL = "internal";
  /** A management route (create, list, delete, tenant-naming metrics) asked on a compute port. */
  public static final String SERVED_ON_MANAGEMENT_PORT = "served-on-management-port";
  /** A compute route asked on a management port. */
  public static final String SERVED_ON_COMPUTE_PORT = "served-on-compute-port";
  /** No token, or one that is not valid (signature, key, audience, issuer, expiry); status 401. */
  public static final String UNAUTHENTICATED = "unauthenticated";
  /** A valid token whose scope, tenant or timeline does not reach this route; status 403. */
  public static final String FORBIDDEN = "forbidden";

  // The pageserver.

  public static final String TENANT_NOT_FOUND = "tenant-not-found";
  /** The tenant exists with another PostgreSQL version. */
  public static final String TENANT_EXISTS = "tenant-exists";
  public static final String TIMELINE_NOT_FOUND = "timeline-not-found";
  /** The timeline exists with another ancestry. */
  public static final String TIMELINE_EXISTS = "timeline-exists";
  /** The timeline's deletion started. */
  public static final String TIMELINE_DELETING = "timeline-deleting";
  /** Deleting a timeline that child branches still depend on. */
  public static final String TIMELINE_HAS_CHILDREN = "timeline-has-children";
  /** Deleting a tenant's root timeline (delete the tenant instead). */
  public static final String ROOT_TIMELINE = "root-timeline";
  /** An LSN outside the timeline's WAL. */
  public static final String LSN_OUT_OF_RANGE = "lsn-out-of-range";
  /** A generation the pageserver never reserved. */
  public static final String GENERATION_NOT_FOUND = "generation-not-found";
  /** Too little WAL after the newest image to make another. */
  public static final String NO_NEW_WAL = "no-new-wal";
  /** A WAL file that is not in the timeline's WAL: for restore_command, the end of WAL. */
  public static final String WAL_NOT_FOUND = "wal-not-found";
  /** A WAL file that exists but that no source can serve now; ask again. */
  public static final String WAL_UNAVAILABLE = "wal-unavailable";
  /** Too few safekeepers answered. */
  public static final String SAFEKEEPERS_UNAVAILABLE = "safekeepers-unavailable";

  // The pageserver and the safekeepers.

  /** A generation not above the highest one accepted: the compute of it was fenced off. */
  public static final String STALE_GENERATION = "stale-generation";

  // The safekeepers.

  /** A safekeeper asked to follow a generation it has not accepted yet: fence it with that generation first. */
  public static final String FENCE_REQUIRED = "fence-required";
  /** A safekeeper that holds no WAL of a timeline with history: it accepted the generation but refuses the vote. */
  public static final String TIMELINE_MISSING_HERE = "timeline-missing-here";
  /** A safekeeper whose timeline directory vanished or was replaced while it ran: restart it. */
  public static final String TIMELINE_STORAGE_LOST = "timeline-storage-lost";
  /** A safekeeper that could not load the timeline when it started (quarantined): repair or move it away. */
  public static final String TIMELINE_UNAVAILABLE = "timeline-unavailable";

  // The compute agent.

  /** The compute is not Running (starting, stopping, failed), so PostgreSQL cannot be asked; its status says why. */
  public static final String COMPUTE_NOT_RUNNING = "compute-not-running";
}
