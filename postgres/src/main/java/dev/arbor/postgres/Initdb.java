package dev.arbor.postgres;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

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
   * Runs initdb into {@code dataDir}, which must not exist or be empty. It is created where the server user
   * can reach it and handed to that user first, so this works as root and as a normal user.
   */
  public void run(Path dataDir) throws IOException {
    ServerUser user = ServerUser.current();
    Path dir = user.createReachable(dataDir);
    user.handOver(dir);
    List<String> cmd = new ArrayList<>(List.of(installation.binary("initdb").toString(),
        "--pgdata=" + dir, "--username=" + superuser, "--encoding=UTF8", "--locale=C",
        "--auth-local=" + authLocal, "--auth-host=" + authHost, "--data-checksums", "--no-instructions"));
    if (passwordFile != null) {
      user.handOver(passwordFile);
      cmd.add("--pwfile=" + passwordFile.toAbsolutePath());
    }
    ServerUser.Output out = user.run(cmd, Duration.ofMinutes(5));
    if (out.exitCode() != 0) {
      // initdb says what went wrong on stderr ("initdb: error: ..."); stdout is its progress report.
      throw new IOException("initdb into " + dir + " failed (exit " + out.exitCode() + "): " + out.stderrLine());
    }
  }
}
