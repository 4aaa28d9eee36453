package dev.arbor.operator.storage;

/**
 * The storage engine could not be reached (or answered 5xx) after the configured attempts. Reconcilers let it
 * propagate: the object shows Ready=False with reason StorageEngineUnavailable and JOSDK retries with backoff.
 */
public final class StorageEngineUnavailableException extends RuntimeException {
  public StorageEngineUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
