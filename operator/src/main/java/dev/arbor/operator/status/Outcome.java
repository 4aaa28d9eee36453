package dev.arbor.operator.status;

/**
 * Where a reconcile left an object, in kstatus terms: Ready, still working (Reconciling), or unable to go on
 * until a person changes something (Stalled). A transient failure (an outage of the storage engine or the API
 * server) is Retrying: the object stays Ready if it was (its compute keeps serving) and Reconciling says what is
 * retried. A deletion held until a person acts (a protected Branch, one with children) is Held: the object still
 * serves its data, so Ready stays True if it was, while Stalled says the hold. The reason is CamelCase; the message says what happened and, when the object waits for a person,
 * what to do.
 */
public record Outcome(State state, String reason, String message) {
  public enum State { READY, RECONCILING, RETRYING, STALLED, HELD }

  public static Outcome ready(String reason, String message) {
    return new Outcome(State.READY, reason, message);
  }

  public static Outcome reconciling(String reason, String message) {
    return new Outcome(State.RECONCILING, reason, message);
  }

  /** A transient failure, retried with backoff: Ready keeps its value (see {@link Conditions#apply}). */
  public static Outcome retrying(String reason, String message) {
    return new Outcome(State.RETRYING, reason, message);
  }

  public static Outcome stalled(String reason, String message) {
    return new Outcome(State.STALLED, reason, message);
  }

  /** A deletion that waits for a person: Stalled, and a Ready the object had stays (see {@link Conditions#apply}). */
  public static Outcome held(String reason, String message) {
    return new Outcome(State.HELD, reason, message);
  }
}
