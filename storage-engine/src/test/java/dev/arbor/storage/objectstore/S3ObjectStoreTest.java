package dev.arbor.storage.objectstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.testing.FaultProxy;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.S3ProxyFixture;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract against a real S3 server (S3Proxy, its own process), plus what only S3 has: checks at open. */
class S3ObjectStoreTest extends ObjectStoreContractTest {

  @RegisterExtension
  static final S3ProxyFixture s3 = new S3ProxyFixture();
  static final String BUCKET = "contract";

  /** Each test its own prefix in one bucket: stores of different prefixes must not see each other. */
  private final String prefix = "test-" + UUID.randomUUID() + "/arbor";
  private final List<S3ObjectStore> opened = new ArrayList<>();

  @BeforeAll
  static void bucket() {
    s3.createBucket(BUCKET);
  }

  @AfterEach
  void closeStores() {
    opened.forEach(S3ObjectStore::close);
  }

  @Override
  ObjectStore store() {
    return open(s3.environment(), "s3://" + BUCKET + "/" + prefix);
  }

  private S3ObjectStore open(Map<String, String> env, String location) {
    var store = S3ObjectStore.open(S3ObjectStore.Settings.fromEnvironment(location, env)
        .withPartSize(PART_SIZE).withListPageSize(LIST_PAGE_SIZE));
    opened.add(store);
    return store;
  }

  /** A store on a new bucket {@code bucket} of {@code server}, reached through {@code proxy}, at prefix "arbor". */
  private S3ObjectStore openThrough(FaultProxy proxy, S3ProxyFixture server, String bucket) {
    server.createBucket(bucket);
    Map<String, String> env = new HashMap<>(server.environment());
    env.put("AWS_ENDPOINT_URL", proxy.url());
    return open(env, "s3://" + bucket + "/arbor");
  }

  @Test
  void objectsLiveUnderThePrefixAndStoresOfOtherPrefixesDoNotSeeThem() throws Exception {
    var mine = store();
    var other = open(s3.environment(), "s3://" + BUCKET + "/" + prefix + "-other/");
    mine.put("tenants/a/tenant.json", bytes("mine"));
    other.put("tenants/a/tenant.json", bytes("other"));
    assertThat(text(mine.getBytes("tenants/a/tenant.json").orElseThrow())).isEqualTo("mine");
    assertThat(mine.list("")).containsExactly("tenants/a/tenant.json");
    assertThat(Files.readString(s3.bucketDirectory(BUCKET).resolve(prefix).resolve("tenants/a/tenant.json"))).isEqualTo("mine");
    assertThat(mine.list("")).as("the probe objects of open are gone").containsExactly("tenants/a/tenant.json");
  }

  /**
   * Between the store and a real S3 server, a proxy drops the conditional headers, as a server without
   * conditional writes ignores them: the store must refuse to open rather than let CAS writes race.
   */
  @Test
  void refusesAServerThatIgnoresConditionalWrites() throws Exception {
    // The proxy changes signed headers: this S3Proxy does not check signatures.
    try (var server = S3ProxyFixture.withoutAuthentication().start();
         var ignoring = FaultProxy.start(server.endpoint()).dropRequestHeaders("If-None-Match", "If-Match");
         var faithful = FaultProxy.start(server.endpoint())) {
      server.createBucket("plain");
      Map<String, String> env = new HashMap<>(server.environment());

      env.put("AWS_ENDPOINT_URL", faithful.url());
      open(env, "s3://plain/arbor").put("tenants/a/tenant.json", bytes("{}")); // the same path, headers kept: fine

      env.put("AWS_ENDPOINT_URL", ignoring.url());
      assertThatThrownBy(() -> open(env, "s3://plain/arbor"))
          .isInstanceOf(ObjectStoreConfigurationException.class)
          .hasMessageContaining("ignores conditional writes (If-None-Match, If-Match on PUT)")
          .hasMessageContaining(ignoring.url() + " (AWS_ENDPOINT_URL)")
          .hasMessageNotContaining("\n");
    }
  }

  /**
   * The file shrinks after the upload began (its size was read, its first part not yet): a part comes up
   * short, putFile fails, and the multipart upload is aborted rather than left holding parts.
   */
  @Test
  void aFailedMultipartUploadIsAborted() throws Exception {
    try (var server = S3ProxyFixture.withoutAuthentication().start();
         var slow = FaultProxy.start(server.endpoint())) { // unsigned: the proxy rewrites the signed Host header
      var store = openThrough(slow, server, "parts");
      java.nio.file.Path file = scratch.resolve("shrinking");
      try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE_NEW,
          java.nio.file.StandardOpenOption.WRITE)) {
        ch.write(java.nio.ByteBuffer.wrap(new byte[(int) (2 * PART_SIZE + 1)]));
      }
      slow.inject("/parts/arbor/tenants/a/chunks/big", FaultProxy.Fault.delay(java.time.Duration.ofMillis(1500)), 1);
      var shrink = Thread.ofVirtual().start(() -> {
        try {
          Thread.sleep(500); // inside the delayed CreateMultipartUpload
          try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(PART_SIZE / 2);
          }
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      });
      assertThatThrownBy(() -> store.putFile("tenants/a/chunks/big", file)).isInstanceOf(java.io.IOException.class);
      shrink.join();
      assertThat(slow.faults("/parts/arbor/tenants/a/chunks/big")).as("the upload started with the file at full size").isEqualTo(1);
      assertThat(store.exists("tenants/a/chunks/big")).isFalse();
      try (var client = software.amazon.awssdk.services.s3.S3Client.builder()
          .endpointOverride(java.net.URI.create(server.endpoint())).forcePathStyle(true)
          .region(software.amazon.awssdk.regions.Region.US_EAST_1)
          .credentialsProvider(software.amazon.awssdk.auth.credentials.StaticCredentialsProvider.create(
              software.amazon.awssdk.auth.credentials.AwsBasicCredentials.create(S3ProxyFixture.ACCESS_KEY, S3ProxyFixture.SECRET_KEY)))
          .httpClient(software.amazon.awssdk.http.apache5.Apache5HttpClient.create())
          .build()) {
        assertThat(client.listMultipartUploads(b -> b.bucket("parts")).uploads()).as("no upload left open").isEmpty();
      }
    }
  }

  /**
   * A conditional PUT that the server carries out but whose answer is lost, then retried: the retry meets the
   * precondition that the first attempt broke. For a compare-and-swap that is an unknown outcome, never a
   * lost race (a caller would re-apply its change on top of its own write); for a content-addressed
   * putIfAbsent it is simply "already there".
   */
  @Test
  void aConditionalWriteWhoseAnswerIsLostIsNeverReportedAsALostRace() throws Exception {
    try (var server = S3ProxyFixture.withoutAuthentication().start();
         var lossy = FaultProxy.start(server.endpoint())) { // unsigned: the proxy rewrites the signed Host header
      var store = openThrough(lossy, server, "lossy");
      String key = "tenants/a/timelines/t/timeline.json";
      store.put(key, bytes("v1"));
      String v1 = store.getVersioned(key).orElseThrow().version();

      lossy.inject("/lossy/arbor/" + key, FaultProxy.Fault.dropAnswer(), 1);
      assertThatThrownBy(() -> store.putIfVersion(key, bytes("v2"), v1))
          .isInstanceOf(java.io.IOException.class).hasMessageContaining("outcome unknown");
      assertThat(text(store.getBytes(key).orElseThrow())).as("the first attempt did write").isEqualTo("v2");

      lossy.inject("/lossy/arbor/tenants/a/chunks/c", FaultProxy.Fault.dropAnswer(), 1);
      assertThat(store.putIfAbsent("tenants/a/chunks/c", bytes("chunk"))).isFalse();
      assertThat(text(store.getBytes("tenants/a/chunks/c").orElseThrow())).isEqualTo("chunk");
      assertThat(lossy.faults("/lossy/arbor/tenants/a/chunks/c")).isEqualTo(1);
    }
  }

  @Test
  void anUnreachableEndpointIsOneLineNamingAwsEndpointUrl() {
    Map<String, String> env = new HashMap<>(s3.environment());
    env.put("AWS_ENDPOINT_URL", "http://127.0.0.1:" + FreePort.pick());
    assertThatThrownBy(() -> open(env, "s3://" + BUCKET + "/arbor"))
        .isInstanceOf(ObjectStoreConfigurationException.class)
        .hasMessageContaining("at " + env.get("AWS_ENDPOINT_URL") + " (AWS_ENDPOINT_URL): unreachable (Connect to ")
        .hasMessageContaining("set AWS_ENDPOINT_URL to the URL of a running S3 server")
        .hasMessageNotContaining("\n");
  }

  @Test
  void wrongCredentialsAreOneLineNamingTheKeyVariables() {
    Map<String, String> env = new HashMap<>(s3.environment());
    env.put("AWS_SECRET_ACCESS_KEY", "not-the-secret");
    assertThatThrownBy(() -> open(env, "s3://" + BUCKET + "/arbor"))
        .isInstanceOf(ObjectStoreConfigurationException.class)
        .hasMessageContaining("refuses the credentials (SignatureDoesNotMatch)")
        .hasMessageContaining("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        .hasMessageNotContaining("\n");
  }

  @Test
  void aMissingBucketIsOneLineNamingTheBucket() {
    assertThatThrownBy(() -> open(s3.environment(), "s3://no-such-bucket/arbor"))
        .isInstanceOf(ObjectStoreConfigurationException.class)
        .hasMessageContaining("bucket 'no-such-bucket' does not exist: create it")
        .hasMessageNotContaining("\n");
  }
}
