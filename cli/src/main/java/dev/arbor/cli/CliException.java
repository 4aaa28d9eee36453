package dev.arbor.cli;

/** An error the user can act on: printed to stderr as is (no stack trace), exit code 1. */
public class CliException extends RuntimeException {
  public CliException(String message) {
    super(message);
  }

  public CliException(String message, Throwable cause) {
    super(message, cause);
  }
}
