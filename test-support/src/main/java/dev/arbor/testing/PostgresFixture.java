package dev.arbor.testing;

import dev.arbor.postgres.Initdb;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.postgres.PostgresServer;
import dev.arbor.postgres.ServerUser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A real PostgreSQL server for a test class: {@code initdb} into a fresh directory under /tmp, started on a
 * free loopback port with its unix socket in that directory, stopped and removed after the class even when
 * a test failed. Works as root (the server drops to the {@code postgres} OS user) and as a normal user.
 *
 * <pre>{@code @RegisterExtension static final PostgresFixture pg = new PostgresFixture();}</pre>
 *
 * Test servers trust loopback connections unless {@link #withPassword} is used; production computes use scram-sha-256.
 */
public final class PostgresFixture implements ClassFixture {

  /** The build host's PostgreSQL major version (Debian bookworm's postgresql-15). */
  public static final int DEFAULT_MAJOR = 15;
  public static final String SUPERUSER = "postgres";

  private final int majorVersion;
  private final Map<String, String> settings = new LinkedHashMap<>();
  private String password;
  private TempDirectory dir;
  private PostgresServer server;

  public PostgresFixture() {
    this(DEFAULT_MAJOR);
  }

  public PostgresFixture(int majorVersion) {
    this.majorVersion = majorVersion;
  }

  public PostgresFixture withSetting(String name, String value) {
    settings.put(name, value);
    return this;
  }

  /** Loopback connections authenticate with scram-sha-256, as on a compute: the superuser's password is {@code password}. */
  public PostgresFixture withPassword(String password) {
    this.password = password;
    return this;
  }

  @Override
  public PostgresFixture start() {
    PostgresInstallation installation = PostgresInstallation.find(majorVersion);
    dir = TempDirectory.create("arbor-pg-");
    try {
      Path dataDir = dir.resolve("data");
      ServerUser.current().handOver(dir.path()); // the server user must reach its data and socket dirs
      Initdb initdb = Initdb.with(installation).superuser(SUPERUSER).authLocal("trust");
      if (password == null) {
        initdb.authHost("trust");
      } else {
        Path passwordFile = dir.resolve("superuser-password");
        java.nio.file.Files.writeString(passwordFile, password + "\n");
        ServerUser.current().handOver(passwordFile);
        initdb.authHost("scram-sha-256").passwordFile(passwordFile);
      }
      initdb.run(dataDir);
      IOException last = null;
      for (int attempt = 0; attempt < 3; attempt++) { // another process may take the port we picked
        var builder = PostgresServer.builder(installation, dataDir).port(FreePort.pick());
        settings.forEach(builder::setting);
        try {
          server = builder.build().start();
          return this;
        } catch (IOException e) {
          last = e;
        }
      }
      throw last;
    } catch (IOException e) {
      close();
      throw new UncheckedIOException("cannot start a PostgreSQL " + majorVersion + " test server", e);
    }
  }

  public PostgresServer server() {
    if (server == null) {
      throw new IllegalStateException("the PostgreSQL fixture is not started");
    }
    return server;
  }

  public Connection connect() throws SQLException {
    return server().connect("postgres", SUPERUSER, null);
  }

  public Path directory() {
    return dir.path();
  }

  @Override
  public void close() {
    try {
      if (server != null) {
        server.stop();
      }
    } finally {
      server = null;
      if (dir != null) {
        dir.close();
        dir = null;
      }
    }
  }
}
