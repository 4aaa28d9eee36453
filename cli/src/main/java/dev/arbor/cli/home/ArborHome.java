package dev.arbor.cli.home;

import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.client.auth.KeyDirectory;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.cli.CliException;
import dev.arbor.postgres.ServerUser;
import dev.arbor.postgres.DurableFiles;
import dev.arbor.client.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Where the local installation keeps everything: {@code $ARBOR_HOME}, by default {@code ./.arbor}.
 * <pre>
 * config.json            ports, safekeeper ids and the object store, fixed at the first `arbor up`
 * state.json             projects and branches by name (tenant and timeline ids)
 * objects/               object storage (the system of record), unless `arbor up --object-store` chose another
 * safekeepers/&lt;id&gt;/      safekeeper WAL
 * pageserver/            pageserver scratch space (initdb)                     *
 * endpoints/&lt;project&gt;/&lt;branch&gt;/   endpoint specs
 * endpoints/&lt;project&gt;/&lt;branch&gt;/compute/   compute work directories (PGDATA)  *
 * auth/                  the storage engine's keys (signing-key.jwk 0600, public-keys.jwks) and the pageserver's token
 * tls/                   the local CA and the storage daemons' certificate ({@link LocalCertificates})
 * endpoints/&lt;project&gt;/&lt;branch&gt;/storage.token   the endpoint's compute token (0600), re-minted at each start
 * run/&lt;name&gt;.pid         processes started in the background
 * logs/&lt;name&gt;.log        their output
 * </pre>
 * The starred directories belong to PostgreSQL's OS user and live under {@link #postgresRoot()}, which is
 * this home unless that user cannot enter it (Arbor runs as root under a private directory such as /root).
 */
public record ArborHome(Path root) {
  /** Where PostgreSQL's directories go when its OS user cannot enter the home (see {@link #postgresRoot()}). */
  public static final Path POSTGRES_BASE = Path.of("/var/lib/arbor");

  public static ArborHome resolve() {
    String env = System.getenv("ARBOR_HOME");
    Path root = env != null && !env.isBlank() ? Path.of(env) : Path.of(".arbor");
    return new ArborHome(root.toAbsolutePath().normalize());
  }

  /** The {@code iss} of the tokens of a local installation. */
  public static final String TOKEN_ISSUER = "arbor-local";
  /**
   * How long a token minted in local mode stays valid. Tokens are minted again at each {@code up} (the pageserver's)
   * and endpoint start (a compute's); re-minting before expiry while they run is not built yet (docs/security.md).
   */
  public static final java.time.Duration TOKEN_TTL = java.time.Duration.ofDays(365);

  /** The storage engine's keys of this installation, made by the first call (the first {@code up}) and kept. */
  public KeyDirectory keys() {
    try {
      return KeyDirectory.open(root.resolve("auth"), TOKEN_ISSUER, "local-1");
    } catch (IOException e) {
      throw new CliException("cannot read or create the storage engine's keys in " + root.resolve("auth") + ": " + e.getMessage());
    }
  }

  /** An admin token for this CLI process's own calls, minted now and never written down; sent over HTTPS only. */
  public TokenSource adminTokens() {
    return TokenSource.fixed(keys().mint(StorageGrant.of("arbor-cli", Scope.STORAGE_ADMIN), java.time.Duration.ofHours(1)));
  }

  /** The local CA and the storage daemons' certificate ({@code tls/}). */
  public LocalCertificates certificates() {
    return new LocalCertificates(root.resolve("tls"));
  }

  public Path objects() {
    return root.resolve("objects");
  }

  public Path safekeeper(String id) {
    return root.resolve("safekeepers").resolve(id);
  }

  /** The pageserver's work directory: initdb of new projects runs there, as PostgreSQL's OS user. */
  public Path pageserver() {
    return postgresRoot().resolve("pageserver");
  }

  /** The compute work directory of a branch's endpoint: its PGDATA, socket and PostgreSQL log. */
  public Path computeWorkDir(String project, String branch) {
    return computeWorkDirs(project).resolve(branch).resolve("compute");
  }

  /** The directory holding the compute work directories of a project's branches. */
  public Path computeWorkDirs(String project) {
    return postgresRoot().resolve("endpoints").resolve(project);
  }

  /**
   * Where the directories PostgreSQL's OS user must reach live. As a normal user, and as root when that user
   * ({@code postgres}) can enter this home, it is this home. As root under a directory it cannot enter (a
   * checkout in root's 0700 home), it is {@code /var/lib/arbor/<hash of this home's path>}: root-owned,
   * mode 0711 like the home, on disk (a PGDATA can be large), out of reach of other users' writes. Arbor
   * never opens up a directory it did not create, so it cannot make the home reachable instead.
   */
  public Path postgresRoot() {
    ServerUser user = ServerUser.current();
    try {
      if (!user.dropsPrivileges() || user.canEnter(root)) {
        return root;
      }
    } catch (IOException e) {
      throw new CliException("cannot tell whether PostgreSQL's OS user '" + user.name() + "' can enter " + root + ": " + e.getMessage());
    }
    return POSTGRES_BASE.resolve(HexFormat.of().formatHex(sha256(root.toString()), 0, 8));
  }

  /**
   * Creates {@link #postgresRoot()} where PostgreSQL's OS user can reach it. When it is not this home, it is
   * linked from {@code <home>/postgres} and records this home's path in its {@code arbor-home} file, so a
   * person finds one from the other.
   */
  public Path createPostgresRoot() {
    Path dir = postgresRoot();
    try {
      ServerUser.current().createReachable(dir);
      if (!dir.equals(root)) {
        Files.writeString(dir.resolve("arbor-home"), root + "\n");
        Path link = root.resolve("postgres");
        if (!Files.isSymbolicLink(link) || !Files.readSymbolicLink(link).equals(dir)) {
          Files.deleteIfExists(link);
          Files.createSymbolicLink(link, dir);
        }
      }
      return dir;
    } catch (IOException e) {
      throw new CliException("cannot create " + dir + " for PostgreSQL's directories: " + e.getMessage());
    }
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

  private static byte[] sha256(String text) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
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
