package dev.arbor.postgres;

import java.io.IOException;

/**
 * A directory meant for PostgreSQL lies where its OS user cannot go (Arbor runs as root, PostgreSQL as
 * {@code postgres}, and a directory on the way is private). The message names the directory in the way and
 * what to do; callers show it as is.
 */
public class UnreachableDirectoryException extends IOException {
  public UnreachableDirectoryException(String message) {
    super(message);
  }
}
