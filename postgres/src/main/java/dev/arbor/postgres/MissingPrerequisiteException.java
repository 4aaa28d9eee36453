package dev.arbor.postgres;

/**
 * Something Arbor needs on this machine is not there. The message says what is missing and the
 * command that provides it; callers show it as is, without a stack trace.
 */
public class MissingPrerequisiteException extends RuntimeException {
  public MissingPrerequisiteException(String message) {
    super(message);
  }
}
