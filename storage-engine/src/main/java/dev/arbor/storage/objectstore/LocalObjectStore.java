package dev.arbor.storage.objectstore;

import dev.arbor.postgres.DurableFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.FileVisitResult;
import java.nio.file.NoSuchFileException;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Object storage on a local filesystem (the default). An object is a file under the root, replaced
 * through {@link DurableFiles}, so a crash leaves the old object or the new one.
 */
public final class LocalObjectStore implements ObjectStore {

  /** Not an object key: keys never start with '.', and listings skip it. */
  private static final String CAS_LOCK = ".conditional-writes.lock";

  private final Path root;
  /**
   * The OS lock is held per process, and a JVM refuses a second lock on the same file: one thread of this
   * process at a time, across every store instance on this root.
   */
  private static final java.util.concurrent.ConcurrentHashMap<Path, java.util.concurrent.locks.ReentrantLock> CAS_LOCKS =
      new java.util.concurrent.ConcurrentHashMap<>();
  private final java.util.concurrent.locks.ReentrantLock casLock;

  public LocalObjectStore(Path root) throws IOException {
    this.root = root.toAbsolutePath().normalize();
    Files.createDirectories(this.root);
    this.casLock = CAS_LOCKS.computeIfAbsent(this.root.toRealPath(), r -> new java.util.concurrent.locks.ReentrantLock());
    // Created with the store, not by the first conditional write: a write never leaves a new file behind.
    if (!Files.exists(this.root.resolve(CAS_LOCK))) {
      try {
        Files.createFile(this.root.resolve(CAS_LOCK));
      } catch (FileAlreadyExistsException raced) {
        // another store instance on this root made it
      }
    }
  }

  public Path root() {
    return root;
  }

  @Override
  public void put(String key, byte[] bytes) throws IOException {
    DurableFiles.write(pathOf(key), bytes);
  }

  @Override
  public void putFile(String key, Path file) throws IOException {
    Path target = pathOf(key);
    Path tmp = DurableFiles.temporarySibling(target);
    try {
      Files.copy(file, tmp);
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
        ch.force(true);
      }
      DurableFiles.moveIntoPlace(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  @Override
  public boolean putIfAbsent(String key, byte[] bytes) throws IOException {
    Path target = pathOf(key);
    if (Files.exists(target)) {
      return false;
    }
    Path tmp = DurableFiles.temporarySibling(target);
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        var buf = java.nio.ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
      try {
        // A hard link fails when the target exists: the no-replace rename a filesystem offers.
        Files.createLink(target, tmp);
      } catch (FileAlreadyExistsException e) {
        return false;
      }
      DurableFiles.fsyncDirectory(target.getParent());
      return true;
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  @Override
  public Optional<Versioned> getVersioned(String key) throws IOException {
    return getBytes(key).map(b -> new Versioned(b, versionOf(b)));
  }

  /** Compares and writes under a lock on {@link #CAS_LOCK} in the root: an OS file lock, for other processes. */
  @Override
  public boolean putIfVersion(String key, byte[] bytes, String expectedVersion) throws IOException {
    Path target = pathOf(key);
    casLock.lock();
    try (FileChannel lockFile = FileChannel.open(root.resolve(CAS_LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
         FileLock held = lockFile.lock()) {
      String current;
      try {
        current = versionOf(Files.readAllBytes(target));
      } catch (NoSuchFileException e) {
        current = null;
      }
      if (!java.util.Objects.equals(current, expectedVersion)) {
        return false;
      }
      DurableFiles.write(target, bytes);
      return true;
    } finally {
      casLock.unlock();
    }
  }

  /** Content-derived, as an S3 ETag of a single-part upload is: equal bytes are the same version. */
  private static String versionOf(byte[] bytes) {
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JDK", e);
    }
  }

  @Override
  public Optional<InputStream> get(String key) throws IOException {
    try {
      return Optional.of(Files.newInputStream(pathOf(key)));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  @Override
  public boolean exists(String key) {
    return Files.isRegularFile(pathOf(key));
  }

  @Override
  public Optional<Long> size(String key) throws IOException {
    try {
      return Optional.of(Files.size(pathOf(key)));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    // Walk only the deepest directory the prefix names, not the whole store.
    int slash = prefix.lastIndexOf('/');
    Path start = slash < 0 ? root : root.resolve(prefix.substring(0, slash));
    if (!Files.isDirectory(start)) {
      return List.of();
    }
    List<String> keys = new ArrayList<>();
    // Objects come and go while we walk (a put renames its temporary file, a delete removes a file):
    // one that vanished is simply not listed, as in an S3 listing taken a moment earlier or later.
    Files.walkFileTree(start, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
        String key = root.relativize(file).toString();
        if (attrs.isRegularFile() && key.startsWith(prefix) && !key.endsWith(DurableFiles.TEMP_SUFFIX) && !key.equals(CAS_LOCK)) {
          keys.add(key);
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
        if (e instanceof NoSuchFileException) {
          return FileVisitResult.CONTINUE;
        }
        throw e;
      }
    });
    keys.sort(null);
    return keys;
  }

  @Override
  public void delete(String key) throws IOException {
    Files.deleteIfExists(pathOf(key));
  }

  private Path pathOf(String key) {
    if (key.endsWith(DurableFiles.TEMP_SUFFIX)) {
      throw new IllegalArgumentException("invalid object key '" + key + "'");
    }
    return root.resolve(ObjectKeys.requireValid(key));
  }
}
