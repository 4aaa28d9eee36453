package dev.arbor.cli.home;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The local installation's fixed layout: chosen at the first {@code arbor up} and kept, because branches and
 * computes refer to the storage engine by these addresses, and its data lives in that object store.
 *
 * @param safekeepers safekeeper id → port
 * @param objectStore where the system of record lives; null: the embedded default, {@code objects/} in the home
 */
public record LocalConfig(int formatVersion, int pageserverPort, Map<String, Integer> safekeepers, ObjectStore objectStore) {
  public static final int FORMAT_VERSION = 1;

  /**
   * An object store other than the embedded one: {@code url} as the daemons take it ({@code s3://BUCKET/PREFIX}
   * or an absolute directory), and for S3 the endpoint and region the first {@code up} found in
   * {@code AWS_ENDPOINT_URL} and {@code AWS_REGION}, used whenever a later {@code up} runs without them.
   * Credentials are never stored: they come from the AWS default chain each time.
   */
  public record ObjectStore(String url, String endpoint, String region) {
    @com.fasterxml.jackson.annotation.JsonIgnore
    public boolean isS3() {
      return url.startsWith("s3://");
    }
  }

  public LocalConfig {
    safekeepers = new LinkedHashMap<>(safekeepers);
  }

  public LocalConfig(int formatVersion, int pageserverPort, Map<String, Integer> safekeepers) {
    this(formatVersion, pageserverPort, safekeepers, null);
  }

  public String pageserverUrl() {
    return "https://127.0.0.1:" + pageserverPort;
  }

  public Map<String, String> safekeeperUrls() {
    Map<String, String> out = new LinkedHashMap<>();
    safekeepers.forEach((id, port) -> out.put(id, "https://127.0.0.1:" + port));
    return out;
  }

  /** What the daemons get as {@code --object-store}. */
  public String objectStoreArgument(ArborHome home) {
    return objectStore == null ? home.objects().toString() : objectStore.url();
  }
}
