package dev.arbor.storage;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.pageserver.CreateTenantRequest;
import dev.arbor.client.PageserverClient;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.S3ProxyFixture;
import dev.arbor.testing.TempDirectory;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The daemons as processes with {@code --object-store s3://...} and the standard AWS variables: a pageserver
 * writes its objects into the bucket, and a configuration that cannot work stops the start with one line.
 */
class StorageMainObjectStoreTest {

  @RegisterExtension
  static final S3ProxyFixture s3 = new S3ProxyFixture();
  static final String BUCKET = "arbor";

  private final TempDirectory dir = TempDirectory.create("arbor-main-s3-");
  private final List<Process> started = new ArrayList<>();

  @BeforeAll
  static void bucket() {
    s3.createBucket(BUCKET);
  }

  @AfterEach
  void stop() throws Exception {
    for (Process p : started) {
      p.destroy();
      if (!p.waitFor(20, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor();
      }
    }
    dir.close();
  }

  @Test
  void aPageserverOnAnS3StoreWritesItsObjectsIntoTheBucket() throws Exception {
    Process ps = start(s3.environment(), "pageserver", "--listen", "127.0.0.1:0", "--object-store", "s3://" + BUCKET + "/install-1",
        "--work-dir", dir.resolve("work").toString(), "--safekeepers", "http://127.0.0.1:9");
    var out = new BufferedReader(new InputStreamReader(ps.getInputStream(), StandardCharsets.UTF_8));
    String line = out.readLine();
    assertThat(line).as("pageserver stdout; stderr: %s", dir.resolve("stderr.log")).startsWith("listening on ");
    String url = line.substring("listening on ".length());

    String tenant = new PageserverClient(url, Duration.ofSeconds(120)).createTenant(CreateTenantRequest.withRandomId(15))
        .tenantId().toString();

    Path tenantDir = s3.bucketDirectory(BUCKET).resolve("install-1/tenants").resolve(tenant);
    assertThat(tenantDir.resolve("tenant.json")).as("written through S3Proxy into its filesystem backend").isRegularFile();
    try (var files = Files.walk(tenantDir)) {
      assertThat(files.filter(Files::isRegularFile).map(p -> tenantDir.relativize(p).toString()))
          .anyMatch(k -> k.matches("timelines/[0-9a-f]{32}/timeline\\.json"));
    }
  }

  @Test
  void anUnreachableEndpointStopsTheStartWithOneLine() throws Exception {
    Map<String, String> env = new HashMap<>(s3.environment());
    env.put("AWS_ENDPOINT_URL", "http://127.0.0.1:" + FreePort.pick());
    assertThat(failedStart(env, "s3://" + BUCKET + "/x"))
        .contains("at " + env.get("AWS_ENDPOINT_URL") + " (AWS_ENDPOINT_URL): unreachable (Connect to ", "set AWS_ENDPOINT_URL to");
  }

  @Test
  void wrongCredentialsStopTheStartWithOneLine() throws Exception {
    Map<String, String> env = new HashMap<>(s3.environment());
    env.put("AWS_ACCESS_KEY_ID", "nobody");
    assertThat(failedStart(env, "s3://" + BUCKET + "/x"))
        .contains("refuses the credentials (InvalidAccessKeyId)", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }

  @Test
  void aMissingBucketStopsTheStartWithOneLine() throws Exception {
    assertThat(failedStart(s3.environment(), "s3://missing-bucket/x"))
        .contains("bucket 'missing-bucket' does not exist: create it", "--object-store");
  }

  /** Starts a safekeeper that must refuse to start; returns its only line of stderr. */
  private String failedStart(Map<String, String> env, String objectStore) throws Exception {
    Process sk = start(env, "safekeeper", "--id", "sk-1", "--listen", "127.0.0.1:0", "--data-dir", dir.resolve("sk").toString(),
        "--object-store", objectStore);
    assertThat(sk.waitFor(60, TimeUnit.SECONDS)).as("the safekeeper stops by itself").isTrue();
    List<String> stderr = Files.readAllLines(dir.resolve("stderr.log"));
    assertThat(sk.exitValue()).as("stderr: %s", stderr).isEqualTo(2);
    assertThat(new String(sk.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).as("stdout").isEmpty();
    assertThat(stderr).as("one line, no stack trace").hasSize(1);
    assertThat(stderr.getFirst()).startsWith("safekeeper: object store " + objectStore);
    return stderr.getFirst();
  }

  private Process start(Map<String, String> env, String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), StorageMain.class.getName()));
    command.addAll(List.of(args));
    command.add("--insecure-no-auth"); // these tests are about the object store
    var builder = new ProcessBuilder(command).redirectError(dir.resolve("stderr.log").toFile());
    builder.environment().keySet().removeIf(k -> k.startsWith("AWS_"));
    builder.environment().putAll(env);
    Process p = builder.start();
    started.add(p);
    return p;
  }
}
