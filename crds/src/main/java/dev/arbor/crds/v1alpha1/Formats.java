package dev.arbor.crds.v1alpha1;

/** Patterns the schema enforces on string fields; constants so that annotations can use them. */
public final class Formats {
  private Formats() {}

  /** A PostgreSQL LSN as PostgreSQL prints it: two hex halves of at most 32 bits each, e.g. {@code 0/16B5A50}. */
  public static final String LSN = "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$";

  /** A duration such as {@code 90s}, {@code 5m}, {@code 12h}, {@code 7d} or {@code 1d12h}. */
  public static final String DURATION = "^([0-9]+(s|m|h|d))+$";

  /** A {@link #DURATION}, or a bare {@code 0}, for settings where zero means "never". */
  public static final String DURATION_OR_ZERO = "^(0|([0-9]+(s|m|h|d))+)$";

  /** An unquoted PostgreSQL identifier (role or database name); at most 63 bytes, as NAMEDATALEN allows. */
  public static final String PG_IDENTIFIER = "^[a-z_][a-z0-9_]{0,62}$";

  /**
   * A time as RFC 3339 writes it, e.g. {@code 2026-12-07T14:00:00Z}: a string field the generator cannot give
   * {@code format: date-time} (it takes the format from the Java type), so a pattern checks it instead.
   */
  public static final String RFC3339_TIME = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$";
}
