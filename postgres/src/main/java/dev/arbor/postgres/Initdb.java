package dev.arbor.postgres;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Creates a new PostgreSQL cluster (a PGDATA) with the binaries of one installation. */
public final class Initdb {

  private final PostgresInstallation installation;
  private String superuser = "postgres";
  private String authLocal = "trust";
  private String authHost = "scram-sha-256";
  private Path passwordFile;

  private Initdb(PostgresInstallation installation) {
    this.installation = installation;
  }

  public static Initdb with(PostgresInstallation installation) {
    return new Initdb(installation);
  }

  public Initdb superuser(String name) {
    this.superuser = name;
    return this;
  }

  /** Authentication for unix-socket connections ({@code trust}, {@code scram-sha-256}, ...). */
  public Initdb authLocal(String method) {
    this.authLocal = method;
    return this;
  }

  /** Authentication for TCP connections. */
  public Initdb authHost(String method) {
    this.authHost = method;
    return this;
  }

  /** A file whose first line is the superuser's password. */
  public Initdb passwordFile(Path file) {
    this.passwordFile = file;
    return this;
  }

  /**
   * Runs initdb into {@code dataDir}, which must not exist or be empty. Its parent is handed to the
   * server user first, so this works as root and as a normal user.
   */
  public void run(Path dataDir) throws IOException {
    Files.createDirectories(dataDir);
    ServerUser user = ServerUser.current();
    user.handOver(dataDir);
    List<String> cmd = new ArrayList<>(List.of(installation.binary("initdb").toString(),
        "--pgdata=" + dataDir, "--username=" + superuser, "--encoding=UTF8", "--locale=C",
        "--auth-local=" + authLocal, "--auth-host=" + authHost, "--data-checksums", "--no-instructions"));
    if (passwordFile != null) {
      user.handOver(passwordFile);
      cmd.add("--pwfile=" + passwordFile);
    }
    Process p = new ProcessBuilder(user.wrap(cmd)).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IOException("initdb did not finish within 5 minutes");
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running initdb", e);
    }
    if (p.exitValue() != 0) {
      throw new IOException("initdb into " + dataDir + " failed (exit " + p.exitValue() + "):\n" + output.strip());
    }
  }
}
