package dev.arbor.client.tls;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * A file read again when it changes: its modification time, size or inode (a file replaced by a rename, as
 * Kubernetes updates a mounted Secret, has a new inode and may keep time and size). {@link #changed()} looks at the
 * file at most once per {@link #CHECK_INTERVAL_NANOS}, so a caller on a hot path (every TLS handshake) pays a clock
 * read, not a {@code stat}.
 */
public final class WatchedFile {
  static final long CHECK_INTERVAL_NANOS = 1_000_000_000L;

  private final Path file;
  private Object stamp;
  private long checkedAt;

  public WatchedFile(Path file) {
    this.file = file;
  }

  public Path path() {
    return file;
  }

  /** Records the file as it is now: what {@link #changed()} compares with. */
  public synchronized void markRead() {
    stamp = stampNow();
    checkedAt = System.nanoTime();
  }

  /** Whether the file differs from when it was last {@link #markRead()}; false when looked at less than a second ago. */
  public synchronized boolean changed() {
    long now = System.nanoTime();
    if (now - checkedAt < CHECK_INTERVAL_NANOS) {
      return false;
    }
    checkedAt = now;
    return !java.util.Objects.equals(stamp, stampNow());
  }

  /** The current stamp, so that a failed read is not retried (and logged) again until the file changes once more. */
  public synchronized void acceptCurrent() {
    stamp = stampNow();
  }

  private Object stampNow() {
    try {
      BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
      // fileKey: device and inode on Linux, as TokenVerifier compares its key set file
      return java.util.List.of(a.lastModifiedTime(), a.size(), String.valueOf(a.fileKey()));
    } catch (IOException gone) {
      return "missing";
    }
  }
}
