package dev.arbor.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Files of this repository that tests read, found from the build's root directory. */
public final class RepoFiles {
  private RepoFiles() {}

  /** The repository root: the {@code arbor.repo.root} property the build sets, or found upwards from the cwd. */
  public static Path root() {
    String prop = System.getProperty("arbor.repo.root");
    if (prop != null && !prop.isBlank()) {
      return Path.of(prop);
    }
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      if (Files.isExecutable(dir.resolve("mvnw")) && Files.isDirectory(dir.resolve("scripts"))) {
        return dir;
      }
    }
    throw new IllegalStateException("cannot find the Arbor repository root: run tests through ./mvnw or scripts/test");
  }

  public static String read(String relativePath) {
    try {
      return Files.readString(root().resolve(relativePath));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + relativePath + " in the repository", e);
    }
  }
}
