package dev.arbor.postgres;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.UUID;

/**
 * Crash-safe file replacement on a local filesystem. A file is written under a temporary name next
 * to its target, fsynced, renamed over the target, and the directory is fsynced: after a crash the
 * target holds its old content or all of the new, and once a call returns the new content survives
 * power loss. The rename is atomic only within one directory, hence the temporary file lives there.
 */
public final class DurableFiles {

  /** Temporary files end with this; a reader listing a directory skips them, an owner may remove leftovers. */
  public static final String TEMP_SUFFIX = ".arbor-tmp";

  private DurableFiles() {}

  /** Replaces {@code target} with {@code bytes} atomically and durably. */
  public static void write(Path target, byte[] bytes) throws IOException {
    Path tmp = temporarySibling(target);
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) {
          ch.write(buf);
        }
        ch.force(true);
      }
      moveIntoPlace(tmp, target);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** A fresh name in {@code target}'s directory for a file that {@link #moveIntoPlace} later renames. */
  public static Path temporarySibling(Path target) throws IOException {
    createDirectories(target.getParent());
    return target.resolveSibling(target.getFileName() + "." + UUID.randomUUID() + TEMP_SUFFIX);
  }

  /**
   * Renames an already fsynced {@code tmp} over {@code target} and fsyncs the directory, so the new
   * name is durable when this returns.
   */
  public static void moveIntoPlace(Path tmp, Path target) throws IOException {
    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    fsyncDirectory(target.getParent());
  }

  /**
   * Creates {@code dir} and its missing parents, and makes each new one durable by fsyncing its parent:
   * a file made durable inside a new directory is lost with that directory if the directory's own
   * entry never reached the disk.
   */
  public static Path createDirectories(Path dir) throws IOException {
    Deque<Path> missing = new ArrayDeque<>();
    for (Path p = dir.toAbsolutePath(); p != null && !Files.isDirectory(p); p = p.getParent()) {
      missing.push(p);
    }
    for (Path p : missing) {
      try {
        Files.createDirectory(p);
      } catch (FileAlreadyExistsException e) {
        if (!Files.isDirectory(p)) {
          throw e;
        }
      }
      fsyncDirectory(p.getParent());
    }
    return dir;
  }

  /** Makes the directory's entries (created, renamed, removed files) durable. */
  public static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }
}
