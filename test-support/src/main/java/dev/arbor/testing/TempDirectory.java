package dev.arbor.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A directory under {@code /tmp} (short paths: unix socket paths are limited to 107 bytes) that is
 * removed with everything in it on {@link #close()}. Mode 0711: others cannot list it but can pass
 * through, which the {@code postgres} OS user needs to reach data directories inside when tests run as root.
 */
public final class TempDirectory implements AutoCloseable {
  private final Path path;

  private TempDirectory(Path path) {
    this.path = path;
  }

  public static TempDirectory create(String prefix) {
    try {
      Path dir = Files.createTempDirectory(Path.of("/tmp"), prefix,
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x--x")));
      return new TempDirectory(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary directory in /tmp", e);
    }
  }

  public Path path() {
    return path;
  }

  public Path resolve(String name) {
    return path.resolve(name);
  }

  @Override
  public void close() {
    deleteRecursively(path);
  }

  /**
   * Deletes {@code dir} and everything in it. A file that appears while the walk runs (a process that was just
   * stopped, still writing on its way out: PostgreSQL writes pg_stat when it shuts down) makes a directory
   * non-empty (and one that goes makes the walk miss it): the walk is tried again, up to 5 times, 200 ms apart.
   */
  static void deleteRecursively(Path dir) {
    for (int attempt = 1; ; attempt++) {
      try {
        deleteOnce(dir);
        return;
      } catch (UncheckedIOException e) {
        boolean moving = e.getCause() instanceof DirectoryNotEmptyException || e.getCause() instanceof NoSuchFileException;
        if (!moving || attempt >= 5) {
          throw e;
        }
      }
      try {
        Thread.sleep(200);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new UncheckedIOException("interrupted while removing " + dir, new java.io.InterruptedIOException());
      }
    }
  }

  private static void deleteOnce(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException("cannot remove " + dir, e);
    }
  }
}
