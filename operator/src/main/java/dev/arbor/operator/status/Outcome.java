package dev.arbor.operator.status;

/**
 * Where a reconcile left an object, in kstatus terms: Ready, still working (Reconciling), or unable to go on
 * until a person changes something (Stalled). The reason is CamelCase; the message says what happened and,
 * when the object waits for a person, what to do.
 */
public record Outcome(State state, String reason, String message) {
  public enum State { READY, RECONCILING, STALLED }

  public static Outcome ready(String reason, String message) {
    return new Outcome(State.READY, reason, message);
  }

  public static Outcome reconciling(String reason, String message) {
    return new Outcome(State.RECONCILING, reason, message);
  }

  public static Outcome stalled(String reason, String message) {
    return new Outcome(State.STALLED, reason, message);
  }
}
