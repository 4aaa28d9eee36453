package dev.arbor.operator.storage;

/**
 * The storage engine did not answer in time, refused the connection, answered 5xx, or has too many calls in
 * flight: an outage, expected to pass. Reconcilers let it propagate; the object keeps a Ready it had and says
 * Reconciling with reason StorageEngineUnavailable, and JOSDK retries with backoff.
 */
public final class StorageEngineUnavailableException extends RuntimeException {
  public StorageEngineUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
