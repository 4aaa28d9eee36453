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

  /** An object's bytes and a version that changes whenever the object is replaced with other bytes. */
  record Versioned(byte[] bytes, String version) {}

  /** The object with its version, for a later {@link #putIfVersion}; empty when there is none. */
  Optional<Versioned> getVersioned(String key) throws IOException;

  /**
   * Replaces the object only if it is still at {@code expectedVersion} (only if there is none, when null):
   * a compare-and-swap that holds across every process writing this store, so two writers that read the same
   * version cannot both write (S3: a conditional PUT with If-Match / If-None-Match). Returns false, having
   * written nothing, when another writer came first.
   */
  boolean putIfVersion(String key, byte[] bytes, String expectedVersion) throws IOException;

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
