package dev.arbor.compute.start;

/** A compute could not start; the message says which step failed and why. */
public class ComputeStartException extends RuntimeException {
  public ComputeStartException(String message) {
    super(message);
  }

  public ComputeStartException(String message, Throwable cause) {
    super(message, cause);
  }

  /**
   * A failure and its causes in words, for messages that must not carry a stack trace (the JDK's connect
   * failures often have no message of their own, only a class name).
   */
  public static String describe(Throwable e) {
    var parts = new java.util.LinkedHashSet<String>();
    for (Throwable t = e; t != null && parts.size() < 5; t = t.getCause()) {
      parts.add(t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage());
    }
    return String.join(": ", parts);
  }

  /** Sleeps between polls of a start; an interrupt aborts the start. */
  static void pause(java.time.Duration d) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ComputeStartException("interrupted", e);
    }
  }
}
