package dev.arbor.cli;

import static dev.arbor.cli.CliProcesses.assertNoJavaIn;
import static dev.arbor.cli.CliProcesses.psql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.cli.CliProcesses.Result;
import dev.arbor.cli.home.ArborHome;
import dev.arbor.cli.home.LocalState;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.S3ProxyFixture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code ./arbor up --object-store s3://BUCKET/PREFIX} against a real S3 server on loopback (S3Proxy, its own
 * process): the local-mode scenario runs with its data in the bucket and none in the home, a later {@code up}
 * finds the server without {@code AWS_ENDPOINT_URL}/{@code AWS_REGION} (only the credentials, which are never
 * stored), and a setting that cannot work is one line.
 */
class CliOnS3EndToEndTest {

  @RegisterExtension
  static final S3ProxyFixture s3 = new S3ProxyFixture();

  @RegisterExtension
  final FreshArborHome home = new FreshArborHome("arbor-cli-s3-");

  /** What a later shell has: the credentials, not the endpoint or the region. */
  private static Map<String, String> credentialsOnly() {
    return Map.of("AWS_ACCESS_KEY_ID", S3ProxyFixture.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY", S3ProxyFixture.SECRET_KEY);
  }

  @Test
  void theLocalModeScenarioKeepsItsDataInTheBucketAndNoneInTheHome() throws Exception {
    String bucket = s3.createBucket("scenario");
    String store = "s3://" + bucket + "/dev/alice";
    Arbor later = home.arbor().with(credentialsOnly());

    CliEndToEndTest.upBranchDownUp(home.arbor().with(s3.environment()), List.of("--object-store", store), later);

    Path config = home.resolve("config.json");
    assertThat(Files.readString(config)).as("remembered: the store, its endpoint and region; never the credentials")
        .contains(store, s3.endpoint(), S3ProxyFixture.REGION)
        .doesNotContain(S3ProxyFixture.ACCESS_KEY).doesNotContain(S3ProxyFixture.SECRET_KEY);
    assertThat(later.ok("status").out()).contains("object store: " + store + " (AWS_ENDPOINT_URL " + s3.endpoint() + ", AWS_REGION "
        + S3ProxyFixture.REGION + ")");

    // A finished WAL segment (16 MiB; ~23 MiB of rows finish one) is offloaded into the bucket once a second.
    String mainUri = later.ok("connstr", "main").lastLine();
    psql(mainUri, "CREATE TABLE filler AS SELECT g, repeat(md5(g::text), 60) AS pad FROM generate_series(1, 12000) g");

    LocalState.Project project = new ArborHome(home.path()).state().project("default").orElseThrow();
    Path tenant = s3.bucketDirectory(bucket).resolve("dev/alice/tenants").resolve(project.tenantId());
    Path timeline = tenant.resolve("timelines").resolve(project.branches().get("main").timelineId());
    assertThat(tenant.resolve("tenant.json")).as("written through S3 under the prefix").isRegularFile();
    assertThat(timeline.resolve("timeline.json")).isRegularFile();
    assertThat(filesUnder(tenant.resolve("chunks"))).as("the image initdb made, in content-addressed chunks").isNotEmpty();
    Awaitility.await().atMost(Duration.ofSeconds(30))
        .untilAsserted(() -> assertThat(filesUnder(timeline.resolve("wal"))).anyMatch(k -> k.matches("[0-9A-F]{24}")));
    assertThat(filesUnder(home.resolve("objects"))).as("nothing in the embedded store").isEmpty();

    // Another object store for this home is refused, and nothing changes.
    String configBefore = Files.readString(config);
    Result moved = later.run("up", "--object-store", "s3://other");
    assertThat(moved.exit()).isEqualTo(1);
    assertThat(moved.errorLines()).singleElement().satisfies(line -> assertThat(line)
        .startsWith("arbor: ").contains("keeps its data in " + store).contains("s3://other").contains("Omit --object-store"));
    assertNoJavaIn(moved);
    assertThat(Files.readString(config)).isEqualTo(configBefore);
    assertThat(psql(later.ok("connstr", "main").lastLine(), "SELECT count(*) FROM items")).isEqualTo("200");
  }

  @Test
  void anUnreachableEndpointOnAFreshHomeIsOneLineAndTheFixedRetryIsRemembered() throws Exception {
    String bucket = s3.createBucket("unreachable");
    String store = "s3://" + bucket + "/x";
    String nowhere = "http://127.0.0.1:" + FreePort.pick();

    Result r = home.arbor().with(s3.environment()).with(Map.of("AWS_ENDPOINT_URL", nowhere)).run("up", "--safekeepers", "1", "--object-store", store);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.errorLines()).as("stderr:\n%s", r.err()).containsExactly("starting sk-0 ... failed", r.errorLines().getLast());
    assertThat(r.errorLines().getLast())
        .startsWith("arbor: sk-0 exited while starting: safekeeper: object store " + store)
        .contains(" at " + nowhere + " (AWS_ENDPOINT_URL): unreachable")
        .contains("set AWS_ENDPOINT_URL to")
        .contains(home.resolve("logs").toString());
    assertNoJavaIn(r);

    // The person sets the right endpoint and tries again: the installation is made with it, not the wrong one.
    home.arbor().with(s3.environment()).ok("up", "--safekeepers", "1", "--object-store", store);
    assertThat(Files.readString(home.resolve("config.json"))).contains(s3.endpoint()).doesNotContain(nowhere);
  }

  /** The files under {@code dir} (none if it does not exist), as paths relative to it. */
  private static List<String> filesUnder(Path dir) throws Exception {
    if (!Files.exists(dir)) {
      return List.of();
    }
    try (Stream<Path> files = Files.walk(dir)) {
      return files.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString()).toList();
    }
  }
}
