package dev.arbor.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Arbor run from a checkout under a mode-0700 directory, such as root's home {@code /root}: when Arbor runs as
 * root, PostgreSQL runs as the {@code postgres} OS user, which cannot enter that directory. Neither the working
 * directory a PostgreSQL program inherits nor a data directory placed there may turn into a hang or an
 * unreadable error. As a normal user both directories are the user's own, and everything must simply work.
 */
class PostgresFromAPrivateDirectoryTest {
  private Path privateParent; // mode 0700, owned by whoever runs the test
  private Path reachable;     // under /tmp, where the server user can go

  @BeforeEach
  void setUp() throws IOException {
    privateParent = Files.createTempDirectory(Path.of("/tmp"), "arbor-0700-",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    reachable = Files.createTempDirectory(Path.of("/tmp"), "arbor-pg-",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx--x--x")));
  }

  @AfterEach
  void tearDown() {
    deleteRecursively(privateParent);
    deleteRecursively(reachable);
  }

  /**
   * A JVM whose working directory is a checkout under the 0700 directory (as Maven's is for a module of such a
   * checkout) runs initdb, starts PostgreSQL and asks psql a question; the answer must be psql's answer alone.
   */
  @Test
  void initdbStartAndPsqlWorkFromAWorkingDirectoryThePostgresUserCannotEnter() throws Exception {
    Path checkout = Files.createDirectories(privateParent.resolve("arbor"));
    List<String> cmd = List.of(ProcessHandle.current().info().command().orElse("java"), "-cp", System.getProperty("java.class.path"),
        StartFromHere.class.getName(), reachable.resolve("data").toString());
    Path err = reachable.resolve("probe.err");
    Process p = new ProcessBuilder(cmd).directory(checkout.toFile()).redirectError(err.toFile()).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(3, TimeUnit.MINUTES)) {
      p.destroyForcibly();
    }
    assertThat(p.exitValue()).as("probe exit; stdout:\n%s\nstderr:\n%s", out, Files.readString(err)).isZero();
    assertThat(out.lines().filter(l -> l.startsWith("answer=")).toList()).containsExactly("answer=42");
  }

  /**
   * A data directory PostgreSQL's user cannot reach is refused before initdb runs, in one line that names the
   * directory in the way and what to do. As a normal user the 0700 directory is the user's own: initdb works.
   */
  @Test
  void aDataDirectoryThePostgresUserCannotReachIsRefusedInOneLineNamingTheDirectoryInTheWay() throws Exception {
    Path dataDir = privateParent.resolve("arbor").resolve(".arbor").resolve("data");
    PostgresInstallation pg = PostgresInstallation.find(15);
    ServerUser user = ServerUser.current();
    if (!user.dropsPrivileges()) {
      Initdb.with(pg).run(dataDir);
      assertThat(dataDir.resolve("PG_VERSION")).exists();
      return;
    }
    assertThatThrownBy(() -> Initdb.with(pg).run(dataDir))
        .isInstanceOf(IOException.class)
        .satisfies(e -> assertThat(e.getMessage())
            .doesNotContain("\n")
            .contains("'" + user.name() + "'")
            .contains("cannot enter " + privateParent)
            .contains(dataDir.toString()));
    assertThat(privateParent).as("a directory Arbor did not create is never opened up")
        .satisfies(d -> assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(d))).isEqualTo("rwx------"));
  }

  /** The probe's JVM: initdb into args[0], start, one psql question, stop. */
  public static final class StartFromHere {
    public static void main(String[] args) throws Exception {
      PostgresInstallation pg = PostgresInstallation.find(15);
      Path dataDir = Path.of(args[0]);
      Initdb.with(pg).superuser("postgres").authLocal("trust").authHost("trust").run(dataDir);
      int port;
      try (var s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
        port = s.getLocalPort();
      }
      try (PostgresServer server = PostgresServer.builder(pg, dataDir).port(port).build().start()) {
        System.out.println("answer=" + server.psql("postgres", "postgres", "SELECT 40 + 2"));
      }
    }
  }

  private static void deleteRecursively(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot remove " + dir, e);
    }
  }
}
