package dev.arbor.cli;

import dev.arbor.client.ServiceLaunch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.cli.CliProcesses.Result;
import dev.arbor.postgres.ServerUser;
import dev.arbor.testing.RepoFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code ./arbor up} from a checkout under a mode-0700 directory, as after {@code git clone} into root's home
 * {@code /root}: the real script, with its default {@code ARBOR_HOME} ({@code ./.arbor}), then a query through
 * the endpoint, then {@code ./arbor down}. As root, PostgreSQL runs as {@code postgres}, which cannot enter the
 * checkout, so its directories must live where it can (linked from {@code .arbor/postgres}); as a normal user
 * the checkout is the user's own and everything stays in {@code .arbor}. Both ways must work.
 *
 * <p>The checkout holds the script and its libraries, and a {@code cli/target/classpath.txt} naming this
 * build's classes: the script finds the build up to date and runs it, as after its own first build.
 */
class ArborFromAPrivateCheckoutTest {
  private Path privateParent;
  private Path checkout;

  @BeforeEach
  void setUp() throws IOException {
    privateParent = Files.createTempDirectory(Path.of("/tmp"), "arbor-0700-",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    checkout = Files.createDirectories(privateParent.resolve("arbor"));
    Path repo = RepoFiles.root();
    Files.copy(repo.resolve("arbor"), checkout.resolve("arbor"));
    Files.createDirectories(checkout.resolve("scripts/lib"));
    try (Stream<Path> libs = Files.list(repo.resolve("scripts/lib"))) {
      for (Path lib : libs.toList()) {
        Files.copy(lib, checkout.resolve("scripts/lib").resolve(lib.getFileName()));
      }
    }
    Path target = Files.createDirectories(checkout.resolve("cli/target/classes"));
    Files.writeString(target.resolveSibling("classpath.txt"), System.getProperty("java.class.path"));
    for (ServiceLaunch service : ServiceLaunch.values()) { // the services this build made, as if built here
      Path built = Files.createDirectories(checkout.resolve(service.module()).resolve("target"));
      Files.writeString(built.resolve("classpath.txt"), service.classpath());
    }
  }

  @AfterEach
  void tearDown() throws Exception {
    try {
      arbor("down");
    } finally {
      Path link = checkout.resolve(".arbor/postgres");
      if (Files.isSymbolicLink(link)) {
        deleteRecursively(Files.readSymbolicLink(link));
      }
      deleteRecursively(privateParent);
    }
  }

  @Test
  void upQueryDownFromACheckoutUnderA0700Directory() throws Exception {
    Result up = arbor("up", "--safekeepers", "1");
    assertThat(up.exit()).as("./arbor up; stderr:\n%s", up.err()).isZero();
    assertThat(up.err()).doesNotContain("Exception").doesNotContain("java.");
    String uri = up.lastLine();
    assertThat(uri).startsWith("postgresql://arbor:");

    assertThat(CliProcesses.psql(uri, "SELECT 40 + 2")).isEqualTo("42");

    Path home = checkout.resolve(".arbor");
    Path link = home.resolve("postgres");
    if (ServerUser.current().dropsPrivileges()) {
      assertThat(link).as("as root, PostgreSQL's directories are linked from the home").isSymbolicLink();
      Path postgresRoot = Files.readSymbolicLink(link);
      assertThat(postgresRoot.startsWith(privateParent)).as("%s is outside the 0700 directory", postgresRoot).isFalse();
      Path pgdata = postgresRoot.resolve("endpoints/default/main/compute/pgdata");
      assertThat(Files.getOwner(pgdata).getName()).as("owner of %s", pgdata).isNotEqualTo("root");
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(privateParent)))
          .as("a directory Arbor did not create is never opened up").isEqualTo("rwx------");
    } else {
      assertThat(link).doesNotExist();
      assertThat(home.resolve("endpoints/default/main/compute/pgdata")).isDirectory();
    }

    Result down = arbor("down");
    assertThat(down.exit()).as("./arbor down; stderr:\n%s", down.err()).isZero();
    assertThat(down.out() + down.err()).contains("stopped");
  }

  private Result arbor(String... args) throws IOException, InterruptedException {
    var pb = new ProcessBuilder(Stream.concat(Stream.of("./arbor"), Stream.of(args)).toList()).directory(checkout.toFile());
    pb.environment().remove("ARBOR_HOME"); // the script's default: ./.arbor in the checkout
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    return CliProcesses.run(pb, Duration.ofMinutes(10));
  }

  private static void deleteRecursively(Path dir) {
    if (!Files.exists(dir)) {
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
