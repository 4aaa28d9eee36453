package dev.arbor.storage.objectstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.http.ExecutableHttpRequest;
import software.amazon.awssdk.http.HttpExecuteRequest;
import software.amazon.awssdk.http.HttpExecuteResponse;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.SdkHttpRequest;

/**
 * Path-style ({@code http://HOST/BUCKET/KEY}) or virtual-hosted ({@code http://BUCKET.HOST/KEY}) addressing:
 * {@code ARBOR_S3_PATH_STYLE} decides; unset, an endpoint means path-style and AWS S3 virtual-hosted.
 */
class S3AddressingTest {
  private static final String ENDPOINT = "http://localhost:9000";

  @Test
  void unsetItFollowsTheEndpoint() {
    assertThat(settings(Map.of("AWS_ENDPOINT_URL", ENDPOINT)).pathStyle()).as("an S3-compatible server").isTrue();
    assertThat(settings(Map.of()).pathStyle()).as("AWS S3").isFalse();
    assertThat(settings(Map.of("AWS_ENDPOINT_URL", ENDPOINT, S3ObjectStore.Settings.PATH_STYLE, " ")).pathStyle()).isTrue();
  }

  @Test
  void trueOrFalseOverridesTheDefault() {
    assertThat(settings(Map.of("AWS_ENDPOINT_URL", ENDPOINT, S3ObjectStore.Settings.PATH_STYLE, "false")).pathStyle()).isFalse();
    assertThat(settings(Map.of(S3ObjectStore.Settings.PATH_STYLE, "true")).pathStyle()).isTrue();
    assertThat(settings(Map.of("AWS_ENDPOINT_URL", ENDPOINT, S3ObjectStore.Settings.PATH_STYLE, "true")).pathStyle()).isTrue();
    assertThat(settings(Map.of(S3ObjectStore.Settings.PATH_STYLE, "false")).pathStyle()).isFalse();
  }

  @Test
  void anythingElseIsRefusedNamingTheVariableAndTheAllowedValues() {
    for (String bad : List.of("yes", "1", "TRUE", "path")) {
      assertThatThrownBy(() -> settings(Map.of("AWS_ENDPOINT_URL", ENDPOINT, S3ObjectStore.Settings.PATH_STYLE, bad))).as(bad)
          .isInstanceOf(ObjectStoreConfigurationException.class)
          .hasMessageStartingWith("ARBOR_S3_PATH_STYLE=" + bad + " is neither true nor false: set it to true")
          .hasMessageContaining("or false");
    }
  }

  /** The client addresses the bucket as the settings say (requests recorded on their way out, never sent). */
  @Test
  void theClientPutsTheBucketWhereTheSettingSays() {
    SdkHttpRequest pathStyle = firstRequest("true");
    assertThat(pathStyle.host()).isEqualTo("localhost");
    assertThat(pathStyle.encodedPath()).startsWith("/arbor");
    SdkHttpRequest virtualHosted = firstRequest("false");
    assertThat(virtualHosted.host()).isEqualTo("arbor.localhost");
    assertThat(virtualHosted.encodedPath()).doesNotStartWith("/arbor");
  }

  private static SdkHttpRequest firstRequest(String pathStyle) {
    var http = new RecordingHttpClient();
    var settings = settings(Map.of("AWS_ENDPOINT_URL", ENDPOINT, S3ObjectStore.Settings.PATH_STYLE, pathStyle));
    assertThatThrownBy(() -> S3ObjectStore.open(settings, http)).isInstanceOf(ObjectStoreConfigurationException.class)
        .hasMessageContaining("recorded, not sent");
    assertThat(http.requests).isNotEmpty();
    return http.requests.getFirst();
  }

  private static S3ObjectStore.Settings settings(Map<String, String> variables) {
    Map<String, String> env = new HashMap<>(Map.of("AWS_REGION", "us-east-1", "AWS_ACCESS_KEY_ID", "key", "AWS_SECRET_ACCESS_KEY", "secret"));
    env.putAll(variables);
    return S3ObjectStore.Settings.fromEnvironment("s3://arbor/install", env);
  }

  /** Records each request the SDK would send and fails it as an I/O error, so nothing leaves the JVM. */
  private static final class RecordingHttpClient implements SdkHttpClient {
    final List<SdkHttpRequest> requests = new CopyOnWriteArrayList<>();

    @Override
    public ExecutableHttpRequest prepareRequest(HttpExecuteRequest request) {
      requests.add(request.httpRequest());
      return new ExecutableHttpRequest() {
        @Override
        public HttpExecuteResponse call() throws IOException {
          throw new IOException("recorded, not sent");
        }

        @Override
        public void abort() {}
      };
    }

    @Override
    public void close() {}
  }
}
