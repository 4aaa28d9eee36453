package dev.arbor.storage.objectstore;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The system of record: WAL segments, images, chunks and metadata, under keys laid out as in
 * ARCHITECTURE.md ({@code tenants/<tenant>/...}). Every write is atomic: a reader sees the previous
 * object or the whole new one, never a torn one. Keys use '/' as separator and never start with one.
 */
public interface ObjectStore {

  /** Stores {@code bytes} under {@code key}, replacing what was there. */
  void put(String key, byte[] bytes) throws IOException;

  /** Stores the content of {@code file} (streamed, not held in memory) under {@code key}. */
  void putFile(String key, Path file) throws IOException;

  /**
   * Stores {@code bytes} unless {@code key} exists. Returns whether it wrote. Used for content-addressed
   * objects, where an existing object already holds the same bytes, so retries are idempotent.
   */
  boolean putIfAbsent(String key, byte[] bytes) throws IOException;

  /** Opens the object for streaming, or empty when there is none. */
  Optional<InputStream> get(String key) throws IOException;

  default Optional<byte[]> getBytes(String key) throws IOException {
    Optional<InputStream> in = get(key);
    if (in.isEmpty()) {
      return Optional.empty();
    }
    try (InputStream s = in.get()) {
      return Optional.of(s.readAllBytes());
    }
  }

  boolean exists(String key) throws IOException;

  /** The size in bytes, or empty when there is no such object. */
  Optional<Long> size(String key) throws IOException;

  /** Every key that starts with {@code prefix}, in lexicographic order. */
  List<String> list(String prefix) throws IOException;

  /** Removes the object; removing a missing object is not an error. */
  void delete(String key) throws IOException;
}
