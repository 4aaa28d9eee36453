package dev.arbor.storage.image;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/** Small PGDATA-shaped trees for tests that need files, not a server. */
final class FakePgdata {
  private FakePgdata() {}

  /** A directory that passes the writer's PG_VERSION check for PostgreSQL 15. */
  static Path create(Path dir) throws IOException {
    Files.createDirectories(dir);
    file(dir, "PG_VERSION", "15\n".getBytes(StandardCharsets.US_ASCII), 0600);
    return dir;
  }

  static void file(Path root, String path, byte[] content, int mode) throws IOException {
    Path file = root.resolve(path);
    Files.createDirectories(file.getParent());
    Files.write(file, content);
    Files.setPosixFilePermissions(file, PosixModes.toPermissions(mode));
  }

  static void directory(Path root, String path, int mode) throws IOException {
    Path dir = Files.createDirectories(root.resolve(path));
    Files.setPosixFilePermissions(dir, PosixModes.toPermissions(mode));
  }

  static String mode(Path path) throws IOException {
    return PosixFilePermissions.toString(Files.getPosixFilePermissions(path));
  }
}
