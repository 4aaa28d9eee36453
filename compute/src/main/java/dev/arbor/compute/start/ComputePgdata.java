package dev.arbor.compute.start;

import dev.arbor.api.pageserver.Basebackup;
import dev.arbor.client.auth.AuthHeaderFile;
import dev.arbor.api.pageserver.BasebackupRequest;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.postgres.ServerUser;
import dev.arbor.api.ApiProblem;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PGDATA of a compute, read-write or read-only: an empty directory filled from a pageserver basebackup,
 * then configured. The start sequences decide what goes into it; this class knows how.
 */
final class ComputePgdata {
  private static final Logger log = LoggerFactory.getLogger(ComputePgdata.class);
  static final String COMPUTE_CONF = "arbor-compute.conf";
  /** A file in every PGDATA a compute start made: the next start in that work_dir may remove it. */
  static final String MARKER = "ARBOR_COMPUTE_PGDATA";
  private static final int COPY_BUFFER = 256 * 1024;

  /**
   * Defaults the spec's settings may override.
   *
   * <ul>
   *   <li>{@code fsync = off}: a commit is durable once a majority of safekeepers flushed it (docs/compute-agent.md,
   *       "fsync off"), so syncing local files only costs time: the end-of-recovery checkpoint of a start, and every
   *       local WAL flush after it. A PGDATA is reused only after a clean stop synced it ({@link KeptPgdata}).
   *   <li>Not {@code max_wal_size}: a start from an image replays from the last checkpoint before it, so closer
   *       checkpoints would bound that replay after a crash, but {@code max_wal_size = 128MB} cost 21% of pgbench
   *       TPS here (2851 → 2239; docs/storage-engine.md, "Images from WAL"). PostgreSQL's default stays.
   * </ul>
   */
  static final Map<String, String> DEFAULTS = Map.of("fsync", "off");

  private final ComputeSpec spec;
  /** PostgreSQL's TLS files when the spec has them; null: no TLS. */
  private final ServerTls tls;

  ComputePgdata(ComputeSpec spec) {
    this.spec = spec;
    this.tls = spec.tls() == null ? null : new ServerTls(spec.tls(), spec.workDir());
  }

  /** Has PostgreSQL serve renewed TLS files as they come; nothing to do without TLS. */
  ServerTls.Watch watchTls(dev.arbor.postgres.PostgresServer server) {
    return tls == null ? ServerTls.Watch.NONE : tls.watch(server);
  }

  Path dir() {
    return spec.dataDir();
  }

  /**
   * Refuses, changing nothing, a work_dir whose PGDATA a start may neither use nor replace (see
   * {@link #removeStalePgdata}): a start checks this before its election fences the compute that may be using it.
   */
  void checkReplaceable() throws IOException {
    spec.createWorkDir();
    if (!isEmptyOrMissing(dir())) {
      refuseForeignOrLive(dir());
    }
  }

  private static boolean isEmptyOrMissing(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return true;
    }
    try (var s = Files.list(dir)) {
      return s.findAny().isEmpty();
    }
  }

  /** A compute starts from storage into an empty directory, never on top of an older PGDATA. */
  void prepareEmpty() throws IOException {
    Path dataDir = dir();
    spec.createWorkDir();
    if (!isEmptyOrMissing(dataDir)) {
      removeStalePgdata(dataDir);
    }
    // Only PGDATA itself is 0700: parents created here must stay traversable by the server's user.
    Files.createDirectories(dataDir.toAbsolutePath().getParent());
    if (!Files.exists(dataDir)) {
      Files.createDirectory(dataDir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }
    Files.setPosixFilePermissions(dataDir, PosixFilePermissions.fromString("rwx------"));
    Files.writeString(dataDir.resolve(MARKER), "This PGDATA was made by an Arbor compute start. The next start on this "
        + "work_dir removes it, unless a clean stop of the same timeline left it and nothing happened on the timeline since.\n");
    ServerUser.current().handOver(spec.workDir());
  }

  /**
   * A PGDATA left by an earlier start in this work_dir (a pod's container restarted, its emptyDir kept) is
   * removed: nothing in it is needed, the WAL is on the safekeepers. Anything else is refused: a
   * directory without the marker may be somebody's data, and one with a live postmaster is in use.
   */
  private static void removeStalePgdata(Path dataDir) throws IOException {
    refuseForeignOrLive(dataDir);
    deleteTree(dataDir, false);
    log.info("event=stale_pgdata_removed data_dir={}", dataDir);
  }

  /** Deletes {@code root} and everything below it, or with {@code keepRoot} only what is below it. */
  static void deleteTree(Path root, boolean keepRoot) throws IOException {
    try (var paths = Files.walk(root)) {
      for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
        if (!keepRoot || !p.equals(root)) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  private static void refuseForeignOrLive(Path dataDir) {
    if (!Files.exists(dataDir.resolve(MARKER))) {
      throw new ComputeStartException("PGDATA " + dataDir + " is not empty and was not made by an Arbor compute: a compute "
          + "starts from storage into an empty directory (remove it, or point work_dir elsewhere)");
    }
    OptionalLong postmaster = livePostmaster(dataDir);
    if (postmaster.isPresent()) {
      throw new ComputeStartException("PGDATA " + dataDir + " is in use by a running PostgreSQL (pid " + postmaster.getAsLong()
          + "): stop that compute first");
    }
  }

  /** The pid in postmaster.pid, when a process with that pid is running PostgreSQL. */
  private static OptionalLong livePostmaster(Path dataDir) {
    try {
      String first = Files.readAllLines(dataDir.resolve("postmaster.pid")).getFirst().strip();
      long pid = Long.parseLong(first);
      return ProcessHandle.of(pid)
          .filter(ProcessHandle::isAlive)
          .filter(h -> h.pid() != ProcessHandle.current().pid())
          .filter(h -> h.info().command().map(c -> c.contains("postgres")).orElse(true))
          .map(h -> OptionalLong.of(pid)).orElse(OptionalLong.empty());
    } catch (IOException | RuntimeException e) {
      return OptionalLong.empty(); // no or unreadable postmaster.pid: PostgreSQL is not running there
    }
  }

  /**
   * Streams the spec's timeline's basebackup straight into {@code tar -x} running as the PostgreSQL user;
   * returns the bytes received. One try, connecting within 10 s; an interrupt between two reads aborts the transfer.
   */
  long extractBasebackup(BasebackupRequest request) throws IOException {
    var pageserver = new PageserverClient(spec.pageserverUrl(), Duration.ofSeconds(10), RetryPolicy.NONE, spec.storageTokens(),
        spec.storageTls());
    String source = spec.pageserverUrl() + " (timeline " + spec.timeline() + ", " + request + ")";
    InputStream body;
    try {
      body = pageserver.basebackup(spec.tenant(), spec.timeline(), request);
    } catch (ApiProblem p) {
      throw new ComputeStartException("the pageserver refused the basebackup from " + source + " with HTTP " + p.status() + ": "
          + p.getMessage(), p);
    } catch (IOException e) {
      throw new ComputeStartException("cannot reach the pageserver for the basebackup (" + source + "): " + ComputeStartException.describe(e), e);
    }
    Process tar = ServerUser.current().processBuilder(List.of("tar", "-x", "-f", "-", "-C", dir().toString()))
        .redirectErrorStream(true).start();
    long received = 0;
    try (InputStream in = body; OutputStream out = tar.getOutputStream()) {
      byte[] buffer = new byte[COPY_BUFFER];
      for (int n; (n = in.read(buffer)) >= 0; ) {
        if (Thread.currentThread().isInterrupted()) {
          throw new IOException("interrupted fetching the basebackup from " + source);
        }
        out.write(buffer, 0, n);
        received += n;
      }
    } catch (IOException e) {
      awaitExit(tar);
      if (!tar.isAlive()) { // tar stopped reading: what it said is the reason, not the broken pipe
        String said = new String(tar.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        throw new ComputeStartException("extracting the basebackup into " + dir() + " failed (tar exit " + tar.exitValue() + "): "
            + said);
      }
      tar.destroyForcibly();
      throw e;
    }
    String output = new String(tar.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!tar.waitFor(5, TimeUnit.MINUTES) || tar.exitValue() != 0) {
        throw new ComputeStartException("extracting the basebackup into " + dir() + " failed: " + output.strip());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while extracting the basebackup", e);
    }
    writeStorageAuth();
    return received;
  }

  /**
   * The header restore_command sends to the storage engine (Basebackup.STORAGE_AUTH_FILE), from the compute's token now,
   * and the CA bundle it trusts (Basebackup.STORAGE_CA_FILE). A token is never handed to a restore_command whose URL
   * is plain HTTP, unless the compute's tokens may go there ({@code storage_insecure_http}).
   */
  private void writeStorageAuth() throws IOException {
    Path ca = dir().resolve(Basebackup.STORAGE_CA_FILE);
    if (spec.storageTls().caBundle() != null) {
      Files.copy(spec.storageTls().caBundle(), ca, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      ServerUser.current().handOver(ca);
    } else {
      Files.deleteIfExists(ca);
    }
    Path file = dir().resolve(Basebackup.STORAGE_AUTH_FILE);
    Path recoveryWal = dir().resolve(Basebackup.RECOVERY_WAL);
    if (!spec.storageTokens().plainHttpAllowed() && Files.exists(recoveryWal)) {
      String walUrl = dev.arbor.client.Json.read(Files.readAllBytes(recoveryWal), Basebackup.RecoveryWal.class).walUrl();
      if (walUrl != null && walUrl.startsWith("http://") && spec.storageTokens().token().isPresent()) {
        throw new ComputeStartException("the basebackup's restore_command fetches WAL from " + walUrl + " over plain HTTP, and the "
            + "compute would send its storage token there; give the pageserver an https:// --advertise URL (--tls-cert), or, for "
            + "development only, set storage_insecure_http");
      }
    }
    if (AuthHeaderFile.write(file, spec.storageTokens())) {
      ServerUser.current().handOver(file);
    }
  }

  /**
   * Writes {@value #COMPUTE_CONF} — {@link #DEFAULTS} the spec does not set, the start
   * sequence's {@code managed} parameters, then the spec's own
   * {@code settings} (which never name a managed one, see {@link dev.arbor.api.compute.ManagedParameters#NAMES}) — includes
   * it and the basebackup's recovery configuration from postgresql.conf, and writes pg_hba.conf.
   *
   * @param replication whether the safekeepers' replication role may connect (read-write computes only)
   */
  void configure(String purpose, Map<String, String> managed, Map<String, String> settings, boolean replication) throws IOException {
    StringBuilder conf = new StringBuilder("# written by the Arbor compute start sequence: " + purpose + "\n");
    DEFAULTS.forEach((k, v) -> {
      if (!settings.containsKey(k)) {
        conf.append(k).append(" = ").append(quote(v)).append('\n');
      }
    });
    managed.forEach((k, v) -> conf.append(k).append(" = ").append(quote(v)).append('\n'));
    if (tls != null) {
      tls.install();
      tls.settings().forEach((k, v) -> conf.append(k).append(" = ").append(quote(v)).append('\n'));
    }
    settings.forEach((k, v) -> conf.append(k).append(" = ").append(quote(v)).append('\n'));
    Files.writeString(dir().resolve(COMPUTE_CONF), conf.toString());

    Path main = dir().resolve("postgresql.conf");
    // arbor-recovery.conf comes with the basebackup (restore_command, TLI to follow); it only matters while
    // recovery.signal or standby.signal is present.
    String include = "\ninclude_if_exists = 'arbor-recovery.conf'\ninclude_if_exists = '" + COMPUTE_CONF + "'\n";
    if (!Files.readString(main).contains(COMPUTE_CONF)) {
      Files.writeString(main, include, StandardOpenOption.APPEND);
    }
    StringBuilder hba = new StringBuilder("""
        # written by the Arbor compute start sequence
        # the unix socket lives in a directory only the compute can reach
        local   all          all                                  trust
        """);
    if (replication && tls != null) {
      // Over TLS only, with a client certificate of the spec's CA whose common name is the role (verify-full), and the
      // role's password. There is no plain replication line: a connection without TLS finds no entry and is refused.
      hba.append("""
          hostssl replication  %1$s  0.0.0.0/0   scram-sha-256  clientcert=verify-full
          hostssl replication  %1$s  ::0/0       scram-sha-256  clientcert=verify-full
          """.formatted(ComputeStart.REPLICATION_ROLE));
    } else if (replication) {
      hba.append("""
          host    replication  %1$s  0.0.0.0/0   scram-sha-256
          host    replication  %1$s  ::0/0       scram-sha-256
          """.formatted(ComputeStart.REPLICATION_ROLE));
    }
    // The superuser only over the socket: whoever reaches the port (through the Service, or a tenant's role that
    // learnt a password) must never become the compute's owner. It has no password either (ComputeStart).
    hba.append("""
        host    all          %1$s           0.0.0.0/0   reject
        host    all          %1$s           ::0/0       reject
        host    all          all                0.0.0.0/0   scram-sha-256
        host    all          all                ::0/0       scram-sha-256
        """.formatted(ComputeStart.SUPERUSER));
    Files.writeString(dir().resolve("pg_hba.conf"), hba.toString());
    // Only these: the basebackup was extracted as the server's user, and WAL may be arriving meanwhile.
    for (String written : List.of(COMPUTE_CONF, "postgresql.conf", "pg_hba.conf")) {
      ServerUser.current().handOver(dir().resolve(written));
    }
  }

  /** A process that stopped reading its input exits soon; one that was cut off may not. */
  private static void awaitExit(Process process) {
    try {
      process.waitFor(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Any parameter value may be written as a quoted string in postgresql.conf. */
  private static String quote(String value) {
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'";
  }
}
