package dev.arbor.storage.objectstore;

/**
 * The object store cannot be used as configured (unreachable endpoint, refused credentials, missing bucket, a
 * server without conditional writes). The message is one line that names the setting and the fix: a daemon
 * prints it and stops, without a stack trace.
 */
public final class ObjectStoreConfigurationException extends IllegalArgumentException {
  public ObjectStoreConfigurationException(String message) {
    super(message);
  }
}
