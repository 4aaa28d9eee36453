package dev.arbor.compute.start;

/** A compute could not start; the message says which step failed and why. */
public class ComputeStartException extends RuntimeException {
  public ComputeStartException(String message) {
    super(message);
  }

  public ComputeStartException(String message, Throwable cause) {
    super(message, cause);
  }
}
