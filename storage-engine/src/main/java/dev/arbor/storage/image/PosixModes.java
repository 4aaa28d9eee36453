package dev.arbor.storage.image;

import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;

/** Permission bits as the integer tar and manifests record ({@code 0600}) and as Java's permission sets. */
final class PosixModes {

  // PosixFilePermission declares OWNER_READ first and OTHERS_EXECUTE last: bit 8 down to bit 0.
  private static final PosixFilePermission[] BITS = PosixFilePermission.values();

  private PosixModes() {}

  static int toMode(Set<PosixFilePermission> permissions) {
    int mode = 0;
    for (PosixFilePermission p : permissions) {
      mode |= 1 << (BITS.length - 1 - p.ordinal());
    }
    return mode;
  }

  static Set<PosixFilePermission> toPermissions(int mode) {
    Set<PosixFilePermission> permissions = EnumSet.noneOf(PosixFilePermission.class);
    for (PosixFilePermission p : BITS) {
      if ((mode & (1 << (BITS.length - 1 - p.ordinal()))) != 0) {
        permissions.add(p);
      }
    }
    return permissions;
  }
}
