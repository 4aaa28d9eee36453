package dev.arbor.cli.home;

import dev.arbor.cli.CliException;
import dev.arbor.storage.fs.DurableFiles;
import dev.arbor.storage.json.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;

/**
 * Where the local installation keeps everything: {@code $ARBOR_HOME}, by default {@code ./.arbor}.
 * <pre>
 * config.json            ports and safekeeper ids, fixed at the first `arbor up`
 * state.json             projects and branches by name (tenant and timeline ids)
 * objects/               object storage (the system of record)
 * safekeepers/&lt;id&gt;/      safekeeper WAL
 * pageserver/            pageserver scratch space
 * endpoints/&lt;project&gt;/&lt;branch&gt;/   compute work directories and specs
 * run/&lt;name&gt;.pid         processes started in the background
 * logs/&lt;name&gt;.log        their output
 * </pre>
 */
public record ArborHome(Path root) {

  public static ArborHome resolve() {
    String env = System.getenv("ARBOR_HOME");
    Path root = env != null && !env.isBlank() ? Path.of(env) : Path.of(".arbor");
    return new ArborHome(root.toAbsolutePath().normalize());
  }

  public Path objects() {
    return root.resolve("objects");
  }

  public Path safekeeper(String id) {
    return root.resolve("safekeepers").resolve(id);
  }

  public Path pageserver() {
    return root.resolve("pageserver");
  }

  public Path endpoint(String project, String branch) {
    return root.resolve("endpoints").resolve(project).resolve(branch);
  }

  public Path endpoints() {
    return root.resolve("endpoints");
  }

  public Path pidFile(String name) {
    return root.resolve("run").resolve(name + ".pid");
  }

  public Path log(String name) {
    return root.resolve("logs").resolve(name + ".log");
  }

  public Optional<LocalConfig> config() {
    return read(root.resolve("config.json"), LocalConfig.class);
  }

  public void saveConfig(LocalConfig config) {
    write(root.resolve("config.json"), config);
  }

  public LocalState state() {
    return read(root.resolve("state.json"), LocalState.class).orElse(LocalState.empty());
  }

  public void saveState(LocalState state) {
    write(root.resolve("state.json"), state);
  }

  /** Creates the home directory; 0711 so the postgres OS user can reach data directories inside when run as root. */
  public void create() {
    try {
      Files.createDirectories(root);
      Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwx--x--x"));
    } catch (IOException e) {
      throw new CliException("cannot create " + root + ": " + e.getMessage() + " (set ARBOR_HOME to a writable directory)");
    }
  }

  private static <T> Optional<T> read(Path file, Class<T> type) {
    try {
      return Files.exists(file) ? Optional.of(Json.read(Files.readAllBytes(file), type)) : Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file, e);
    }
  }

  private static void write(Path file, Object value) {
    try {
      Files.createDirectories(file.getParent());
      DurableFiles.write(file, Json.write(value));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
