package dev.arbor.postgres;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The server binaries of one PostgreSQL major version. A tenant records its major version, and every
 * {@code initdb} and server of that tenant uses the installation found here for it.
 *
 * <p>Lookup order for major version N: the system property {@code arbor.postgres.N.bin}, the
 * environment variable {@code ARBOR_PGN_BIN}, then Debian's {@code /usr/lib/postgresql/N/bin}.
 */
public record PostgresInstallation(int majorVersion, Path binDir) {

  private static final List<String> REQUIRED = List.of("postgres", "initdb", "pg_ctl", "pg_controldata");

  public static PostgresInstallation find(int majorVersion) {
    List<Path> candidates = new ArrayList<>();
    Optional.ofNullable(System.getProperty("arbor.postgres." + majorVersion + ".bin")).map(Path::of).ifPresent(candidates::add);
    Optional.ofNullable(System.getenv("ARBOR_PG" + majorVersion + "_BIN")).map(Path::of).ifPresent(candidates::add);
    candidates.add(Path.of("/usr/lib/postgresql", Integer.toString(majorVersion), "bin"));
    for (Path dir : candidates) {
      if (REQUIRED.stream().allMatch(b -> Files.isExecutable(dir.resolve(b)))) {
        var installation = new PostgresInstallation(majorVersion, dir);
        installation.checkVersion();
        return installation;
      }
    }
    throw new MissingPrerequisiteException(
        "PostgreSQL " + majorVersion + " server binaries not found (looked in " + candidates + "). "
            + "Install them with 'apt-get install postgresql-" + majorVersion + "' (Debian), "
            + "or point ARBOR_PG" + majorVersion + "_BIN at a directory holding postgres, initdb and pg_ctl.");
  }

  public Path binary(String name) {
    return binDir.resolve(name);
  }

  /** The output of {@code postgres --version}, e.g. {@code postgres (PostgreSQL) 15.18 (Debian ...)}. */
  public String version() {
    try {
      Process p = new ProcessBuilder(binary("postgres").toString(), "--version").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IllegalStateException(binary("postgres") + " --version failed: " + out);
      }
      return out;
    } catch (IOException e) {
      throw new IllegalStateException("cannot run " + binary("postgres") + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running postgres --version", e);
    }
  }

  private void checkVersion() {
    String version = version();
    if (!version.contains("(PostgreSQL) " + majorVersion + ".")) {
      throw new MissingPrerequisiteException("expected PostgreSQL " + majorVersion + " in " + binDir
          + " but it reports '" + version + "'");
    }
  }
}
