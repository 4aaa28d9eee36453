package dev.arbor.storage.objectstore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The one spelling of {@code --object-store}: {@code s3://BUCKET[/PREFIX]} (with the standard AWS environment
 * variables, see {@link S3ObjectStore.Settings#fromEnvironment}) or a filesystem path.
 */
public final class ObjectStores {
  private ObjectStores() {}

  /** Opens the store named by {@code location}, reading AWS settings from this process's environment. */
  public static ObjectStore open(String location) {
    return open(location, System.getenv());
  }

  /**
   * Opens the store named by {@code location}; an S3 store is checked before it is returned. Throws
   * {@link ObjectStoreConfigurationException} (one line: the setting and the fix) when it cannot be used.
   */
  public static ObjectStore open(String location, Map<String, String> env) {
    if (location.startsWith("s3://")) {
      return S3ObjectStore.open(S3ObjectStore.Settings.fromEnvironment(location, env));
    }
    if (location.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*")) {
      throw new ObjectStoreConfigurationException("--object-store " + location + ": only s3://BUCKET/PREFIX or a filesystem path");
    }
    try {
      return new LocalObjectStore(Path.of(location));
    } catch (IOException e) {
      throw new ObjectStoreConfigurationException("--object-store " + location + ": cannot use the directory (" + e.getMessage()
          + "): name a directory this user can create and write");
    } catch (UncheckedIOException e) {
      throw new ObjectStoreConfigurationException("--object-store " + location + ": " + e.getMessage());
    }
  }
}
