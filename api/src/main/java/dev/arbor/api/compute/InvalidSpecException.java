package dev.arbor.api.compute;

import java.util.List;
import java.util.stream.Collectors;

/** A compute spec the agent cannot run; each error names the field (JSON path) and says how to fix it. */
public final class InvalidSpecException extends RuntimeException {

  /** One problem with one field: {@code field} is a JSON path such as {@code roles[1].password_file}. */
  public record FieldError(String field, String message) {
    @Override
    public String toString() {
      return field + ": " + message;
    }
  }

  private final List<FieldError> errors;

  public InvalidSpecException(List<FieldError> errors) {
    super("invalid compute spec: " + errors.stream().map(FieldError::toString).collect(Collectors.joining("; ")));
    this.errors = List.copyOf(errors);
  }

  public static InvalidSpecException of(String field, String message) {
    return new InvalidSpecException(List.of(new FieldError(field, message)));
  }

  public List<FieldError> errors() {
    return errors;
  }
}
