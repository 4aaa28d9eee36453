package dev.arbor.api;

/**
 * An error answered as RFC 9457 problem+json. {@code type} is a stable URI per kind of problem, {@code field}
 * names the offending input (JSON field or path/query parameter), and the detail says what to do.
 */
public class ApiProblem extends RuntimeException {
  public static final String TYPE_BASE = "https://arbor.dev/problems/";

  private final int status;
  private final String type;
  private final String title;
  private final String field;

  public ApiProblem(int status, String type, String title, String detail, String field) {
    super(detail);
    this.status = status;
    this.type = TYPE_BASE + type;
    this.title = title;
    this.field = field;
  }

  public static ApiProblem invalid(String field, String detail) {
    return new ApiProblem(400, ProblemTypes.INVALID_FIELD, "Invalid request field", detail, field);
  }

  public static ApiProblem notFound(String type, String field, String detail) {
    return new ApiProblem(404, type, "Not found", detail, field);
  }

  public static ApiProblem conflict(String type, String field, String detail) {
    return new ApiProblem(409, type, "Conflict", detail, field);
  }

  public static ApiProblem unavailable(String type, String detail) {
    return new ApiProblem(503, type, "Service unavailable", detail, null);
  }

  public int status() {
    return status;
  }

  /** The problem type's URI. */
  public String type() {
    return type;
  }

  /** Whether this is a problem of kind {@code shortType} (the type URI's last part, e.g. {@code stale-generation}). */
  public boolean is(String shortType) {
    return type.equals(TYPE_BASE + shortType);
  }

  public String title() {
    return title;
  }

  public String field() {
    return field;
  }
}
