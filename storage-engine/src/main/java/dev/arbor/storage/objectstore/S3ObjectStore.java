package dev.arbor.storage.objectstore;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.AwsSessionCredentials;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.retries.api.RetryStrategy;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Object storage in an S3 bucket under a key prefix, through aws-sdk-java-v2: AWS S3 or any S3-compatible
 * server (MinIO, Ceph RGW, S3Proxy) named by {@code AWS_ENDPOINT_URL}, addressed path-style unless
 * {@code ARBOR_S3_PATH_STYLE=false}.
 *
 * <p>Conditional writes carry the compare-and-swap of {@link #putIfAbsent} ({@code If-None-Match: *}) and
 * {@link #putIfVersion} ({@code If-Match: <ETag>}; the version is the ETag). A server that ignores those
 * headers would turn every CAS into a silent last-writer-wins race, so {@link #open} probes for them and
 * refuses such a server. {@link #open} also checks the endpoint, the credentials and the bucket, and
 * reports what is wrong as one {@link ObjectStoreConfigurationException} line.
 */
public final class S3ObjectStore implements ObjectStore, Closeable {
  private static final Logger log = LoggerFactory.getLogger(S3ObjectStore.class);

  /** Under the store's prefix; starts with '.', so never an object key nor listed. */
  static final String PROBE_PREFIX = ".arbor-probe/";

  /**
   * Where and how to reach the bucket.
   *
   * @param endpoint an S3-compatible server, or null for AWS S3
   * @param pathStyle whether the bucket goes in the path ({@code http://HOST/BUCKET/KEY}) rather than in the host
   *     name ({@code http://BUCKET.HOST/KEY}, virtual-hosted)
   * @param partSize putFile uploads a larger file in parts of this size (S3's minimum is 5 MiB)
   * @param listPageSize keys per ListObjectsV2 page (S3's maximum is 1000)
   */
  public record Settings(String bucket, String prefix, URI endpoint, boolean pathStyle, Region region,
                         AwsCredentialsProvider credentials, long partSize, int listPageSize, Duration callTimeout,
                         Duration attemptTimeout, int maxAttempts) {
    public static final long MIN_PART_SIZE = 5L << 20;
    public static final long DEFAULT_PART_SIZE = 16L << 20;
    /** {@code true} or {@code false}; unset: path-style with an endpoint, virtual-hosted without. */
    public static final String PATH_STYLE = "ARBOR_S3_PATH_STYLE";

    public Settings {
      if (partSize < MIN_PART_SIZE) {
        throw new IllegalArgumentException("S3 parts are at least 5 MiB, got " + partSize);
      }
      if (listPageSize < 1 || listPageSize > 1000) {
        throw new IllegalArgumentException("a ListObjectsV2 page holds 1 to 1000 keys, got " + listPageSize);
      }
    }

    /**
     * Settings for {@code s3://BUCKET[/PREFIX]} from the standard AWS variables in {@code env}:
     * {@code AWS_ENDPOINT_URL} (or {@code AWS_ENDPOINT_URL_S3}), {@code AWS_REGION} (us-east-1 when unset and
     * an endpoint is given), {@code AWS_ACCESS_KEY_ID}/{@code AWS_SECRET_ACCESS_KEY}/{@code AWS_SESSION_TOKEN};
     * without keys in {@code env}, the SDK's default credentials chain (profiles, web identity for
     * IRSA/workload identity, container and instance roles). Addressing: {@value #PATH_STYLE} ({@code true} or
     * {@code false}), by default path-style with an endpoint (S3-compatible servers rarely have DNS for
     * {@code BUCKET.HOST}) and virtual-hosted without (AWS S3's own).
     */
    public static Settings fromEnvironment(String location, Map<String, String> env) {
      if (!location.startsWith("s3://")) {
        throw new IllegalArgumentException("--object-store " + location + " is not an s3:// location");
      }
      String rest = location.substring("s3://".length());
      int slash = rest.indexOf('/');
      String bucket = slash < 0 ? rest : rest.substring(0, slash);
      String prefix = slash < 0 ? "" : rest.substring(slash + 1);
      if (bucket.isEmpty()) {
        throw new ObjectStoreConfigurationException("--object-store " + location + " names no bucket: write s3://BUCKET or s3://BUCKET/PREFIX");
      }
      if (!prefix.isEmpty() && !prefix.endsWith("/")) {
        prefix = prefix + "/";
      }
      if (!prefix.isEmpty()) {
        ObjectKeys.requireValid(prefix);
      }
      URI endpoint = endpoint(env);
      boolean pathStyle = pathStyle(env, endpoint);
      Region region = region(env, endpoint);
      String keyId = env.get("AWS_ACCESS_KEY_ID");
      String secret = env.get("AWS_SECRET_ACCESS_KEY");
      String token = env.get("AWS_SESSION_TOKEN");
      AwsCredentialsProvider credentials;
      if (present(keyId) && present(secret)) {
        credentials = StaticCredentialsProvider.create(present(token)
            ? AwsSessionCredentials.create(keyId, secret, token) : AwsBasicCredentials.create(keyId, secret));
      } else {
        credentials = DefaultCredentialsProvider.builder().build();
      }
      return new Settings(bucket, prefix, endpoint, pathStyle, region, credentials, DEFAULT_PART_SIZE, 1000,
          Duration.ofMinutes(5), Duration.ofSeconds(60), 5);
    }

    private static URI endpoint(Map<String, String> env) {
      String name = present(env.get("AWS_ENDPOINT_URL_S3")) ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL";
      String value = env.get(name);
      if (!present(value)) {
        return null;
      }
      try {
        URI uri = new URI(value);
        if (("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) && uri.getHost() != null) {
          return uri;
        }
      } catch (java.net.URISyntaxException bad) {
        // reported below
      }
      throw new ObjectStoreConfigurationException(name + "=" + value + " is not a URL: set it to the S3 server's http(s)://HOST:PORT");
    }

    private static boolean pathStyle(Map<String, String> env, URI endpoint) {
      String value = env.get(PATH_STYLE);
      if (!present(value)) {
        return endpoint != null;
      }
      return switch (value.strip()) {
        case "true" -> true;
        case "false" -> false;
        default -> throw new ObjectStoreConfigurationException(PATH_STYLE + "=" + value + " is neither true nor false: set it to true "
            + "(the bucket in the path, http://HOST/BUCKET/KEY) or false (in the host name, http://BUCKET.HOST/KEY), or unset it "
            + "(path-style with AWS_ENDPOINT_URL, virtual-hosted without)");
      };
    }

    private static Region region(Map<String, String> env, URI endpoint) {
      if (present(env.get("AWS_REGION"))) {
        return Region.of(env.get("AWS_REGION"));
      }
      if (endpoint != null) {
        return Region.US_EAST_1; // what S3-compatible servers expect in a signature when they have no regions
      }
      try {
        return new DefaultAwsRegionProviderChain().getRegion();
      } catch (SdkClientException none) {
        throw new ObjectStoreConfigurationException("no AWS region for the S3 object store: set AWS_REGION (e.g. AWS_REGION=us-east-1)");
      }
    }

    private static boolean present(String s) {
      return s != null && !s.isBlank();
    }

    public Settings withPartSize(long bytes) {
      return new Settings(bucket, prefix, endpoint, pathStyle, region, credentials, bytes, listPageSize, callTimeout, attemptTimeout,
          maxAttempts);
    }

    public Settings withListPageSize(int keys) {
      return new Settings(bucket, prefix, endpoint, pathStyle, region, credentials, partSize, keys, callTimeout, attemptTimeout,
          maxAttempts);
    }

    /** {@code s3://BUCKET/PREFIX}, as configured. */
    public String location() {
      return "s3://" + bucket + "/" + prefix;
    }

    /** The server, for messages: the endpoint and the variable that set it, or AWS S3 and the region. */
    String server() {
      return endpoint != null ? endpoint + " (AWS_ENDPOINT_URL)" : "AWS S3 in " + region + " (AWS_REGION)";
    }
  }

  private final Settings settings;
  private final SdkHttpClient http;
  /** Retries with backoff (the SDK's standard strategy): for every call whose retry cannot change its meaning. */
  private final S3Client s3;
  /**
   * Without SDK retries, for conditional writes: their retries are ours ({@link #conditionalPut}), because a
   * retry after an attempt whose answer was lost can meet the precondition that attempt itself broke.
   */
  private final S3Client conditional;

  private S3ObjectStore(Settings settings, SdkHttpClient http) {
    this.settings = settings;
    this.http = http;
    this.s3 = client(settings, http, AwsRetryStrategy.standardRetryStrategy().toBuilder().maxAttempts(settings.maxAttempts()).build());
    this.conditional = client(settings, http, AwsRetryStrategy.doNotRetry());
  }

  /** Opens the store with the HTTP client Arbor ships (docs/storage-engine.md says why this one). */
  public static S3ObjectStore open(Settings settings) {
    return open(settings, Apache5HttpClient.builder()
        .connectionTimeout(Duration.ofSeconds(10))
        .socketTimeout(Duration.ofSeconds(60))
        .build());
  }

  /**
   * Opens the store on {@code http} (closed with the store) once the bucket answers and the server has shown
   * that it honours conditional writes; otherwise throws {@link ObjectStoreConfigurationException}.
   */
  public static S3ObjectStore open(Settings settings, SdkHttpClient http) {
    var store = new S3ObjectStore(settings, http);
    try {
      store.verify();
    } catch (RuntimeException e) {
      store.close();
      throw e;
    }
    log.info("event=object_store_opened location={} server={} region={} path_style={} conditional_writes=verified",
        settings.location(), settings.endpoint() != null ? settings.endpoint() : "aws", settings.region(), settings.pathStyle());
    return store;
  }

  private static S3Client client(Settings settings, SdkHttpClient http, RetryStrategy retry) {
    var builder = S3Client.builder()
        .httpClient(http)
        .region(settings.region())
        .credentialsProvider(settings.credentials())
        // Since SDK 2.30 the client adds CRC checksums to every upload and validates them on download;
        // several S3-compatible servers reject or mangle those. Send them only where S3 requires one.
        .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
        .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
        .overrideConfiguration(ClientOverrideConfiguration.builder()
            .retryStrategy(retry)
            .apiCallTimeout(settings.callTimeout())
            .apiCallAttemptTimeout(settings.attemptTimeout())
            .build());
    if (settings.endpoint() != null) {
      builder.endpointOverride(settings.endpoint());
    }
    return builder.forcePathStyle(settings.pathStyle()).build();
  }

  public Settings settings() {
    return settings;
  }

  // ---- checks at open ----

  private void verify() {
    String where = settings.location() + " at " + settings.server();
    try {
      settings.credentials().resolveCredentials();
    } catch (SdkClientException none) {
      throw new ObjectStoreConfigurationException("object store " + where + ": no AWS credentials found: set AWS_ACCESS_KEY_ID and "
          + "AWS_SECRET_ACCESS_KEY (or a profile, or a web identity token for IRSA/workload identity)");
    }
    try {
      s3.listObjectsV2(b -> b.bucket(settings.bucket()).prefix(settings.prefix()).maxKeys(1));
    } catch (SdkException e) {
      throw new ObjectStoreConfigurationException("object store " + where + ": " + problem(e));
    }
    probeConditionalWrites(where);
  }

  /** What a failed first call says about the configuration, and the fix. */
  private String problem(SdkException e) {
    if (e instanceof S3Exception s) {
      String code = s.awsErrorDetails() != null && s.awsErrorDetails().errorCode() != null ? s.awsErrorDetails().errorCode() : "";
      return switch (code) {
        case "NoSuchBucket" -> "bucket '" + settings.bucket() + "' does not exist: create it (e.g. aws s3 mb s3://" + settings.bucket()
            + ") or name an existing bucket in --object-store";
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidSecurity" ->
            "the server refuses the credentials (" + code + "): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key this server knows";
        case "AccessDenied" -> "access denied to bucket '" + settings.bucket() + "': the credentials need s3:ListBucket, s3:GetObject, "
            + "s3:PutObject and s3:DeleteObject on it";
        default -> s.statusCode() == 404
            ? "bucket '" + settings.bucket() + "' not found (HTTP 404): create it or name an existing bucket in --object-store"
            : "the server answered HTTP " + s.statusCode() + (code.isEmpty() ? "" : " " + code)
              + ": check AWS_ENDPOINT_URL, AWS_REGION and the credentials";
      };
    }
    Throwable root = e;
    while (root.getCause() != null) {
      root = root.getCause();
    }
    return "unreachable (" + root.getMessage() + "): "
        + (settings.endpoint() != null ? "set AWS_ENDPOINT_URL to the URL of a running S3 server" : "check the network and AWS_REGION");
  }

  /**
   * A server that ignores If-None-Match or If-Match overwrites where Arbor relies on a refusal: two pageservers
   * would both win a timeline update. Writes a probe object, then two conditional PUTs that must both fail.
   */
  private void probeConditionalWrites(String where) {
    String probe = settings.prefix() + PROBE_PREFIX + UUID.randomUUID();
    try {
      String etag = s3.putObject(b -> b.bucket(settings.bucket()).key(probe), RequestBody.fromString("probe")).eTag();
      List<String> ignored = new ArrayList<>();
      if (conditionalPutAccepted(b -> b.bucket(settings.bucket()).key(probe).ifNoneMatch("*"))) {
        ignored.add("If-None-Match");
      }
      if (conditionalPutAccepted(b -> b.bucket(settings.bucket()).key(probe).ifMatch(etag + "-not-this-version"))) {
        ignored.add("If-Match");
      }
      if (!ignored.isEmpty()) {
        throw new ObjectStoreConfigurationException("object store " + where + ": the server ignores conditional writes ("
            + String.join(", ", ignored) + " on PUT), so concurrent writers would silently overwrite each other: use an S3 server "
            + "that honours them (e.g. AWS S3, S3Proxy >= 4.1)");
      }
    } catch (SdkException e) {
      throw new ObjectStoreConfigurationException("object store " + where + ": " + problem(e));
    } finally {
      try {
        s3.deleteObject(b -> b.bucket(settings.bucket()).key(probe));
      } catch (SdkException e) {
        log.warn("event=object_store_probe_not_deleted key={} error=\"{}\"", probe, e.getMessage());
      }
    }
  }

  /** Whether the server wrote despite a precondition that does not hold; a refusal of any kind is no. */
  private boolean conditionalPutAccepted(java.util.function.Consumer<PutObjectRequest.Builder> request) {
    try {
      s3.putObject(request, RequestBody.fromString("must not be written"));
      return true;
    } catch (S3Exception refused) {
      if (refused.statusCode() == 412) {
        return false;
      }
      throw refused; // e.g. 501 NotImplemented: reported as what the server said
    }
  }

  // ---- the ObjectStore contract ----

  @Override
  public void put(String key, byte[] bytes) throws IOException {
    String k = fullKey(key);
    call("put", k, () -> s3.putObject(b -> b.bucket(settings.bucket()).key(k), RequestBody.fromBytes(bytes)));
  }

  @Override
  public void putFile(String key, Path file) throws IOException {
    String k = fullKey(key);
    long size = Files.size(file);
    if (size <= settings.partSize()) {
      call("put", k, () -> s3.putObject(b -> b.bucket(settings.bucket()).key(k), RequestBody.fromFile(file)));
      return;
    }
    putMultipart(k, file, size);
  }

  /** Uploads the file part by part, each part streamed from its slice of the file (re-read on a retry). */
  private void putMultipart(String k, Path file, long size) throws IOException {
    String uploadId = call("create multipart upload", k,
        () -> s3.createMultipartUpload(b -> b.bucket(settings.bucket()).key(k)).uploadId());
    try {
      List<CompletedPart> parts = new ArrayList<>();
      for (long offset = 0; offset < size; offset += settings.partSize()) {
        int number = parts.size() + 1;
        long start = offset;
        long length = Math.min(settings.partSize(), size - offset);
        String etag = call("upload part " + number, k, () -> s3.uploadPart(
            b -> b.bucket(settings.bucket()).key(k).uploadId(uploadId).partNumber(number).contentLength(length),
            RequestBody.fromContentProvider(() -> slice(file, start, length), length, "application/octet-stream")).eTag());
        parts.add(CompletedPart.builder().partNumber(number).eTag(etag).build());
      }
      call("complete multipart upload", k, () -> s3.completeMultipartUpload(b -> b.bucket(settings.bucket()).key(k).uploadId(uploadId)
          .multipartUpload(CompletedMultipartUpload.builder().parts(parts).build())));
    } catch (IOException | RuntimeException e) {
      // An upload left open keeps its parts (and their storage cost) until a lifecycle rule removes them.
      try {
        s3.abortMultipartUpload(b -> b.bucket(settings.bucket()).key(k).uploadId(uploadId));
      } catch (SdkException abortFailed) {
        log.warn("event=multipart_upload_not_aborted key={} upload_id={} error=\"{}\"", k, uploadId, abortFailed.getMessage());
      }
      throw e;
    }
  }

  private static InputStream slice(Path file, long offset, long length) {
    try {
      FileChannel ch = FileChannel.open(file, StandardOpenOption.READ).position(offset);
      InputStream whole = Channels.newInputStream(ch);
      return new InputStream() {
        private long left = length;

        @Override
        public int read() throws IOException {
          if (left <= 0) {
            return -1;
          }
          int b = whole.read();
          if (b >= 0) {
            left--;
          }
          return b;
        }

        @Override
        public int read(byte[] buf, int off, int len) throws IOException {
          if (left <= 0) {
            return -1;
          }
          int n = whole.read(buf, off, (int) Math.min(len, left));
          if (n > 0) {
            left -= n;
          }
          return n;
        }

        @Override
        public void close() throws IOException {
          whole.close();
        }
      };
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("cannot read " + file, e);
    }
  }

  @Override
  public boolean putIfAbsent(String key, byte[] bytes) throws IOException {
    // The object of a key is always the same bytes (content-addressed), so a refusal after an attempt whose
    // answer was lost means the object is there, whoever wrote it: false is right either way.
    return conditionalPut(fullKey(key), bytes, b -> b.ifNoneMatch("*"), true, true);
  }

  @Override
  public Optional<Versioned> getVersioned(String key) throws IOException {
    String k = fullKey(key);
    Optional<ResponseInputStream<GetObjectResponse>> in = openObject(k);
    if (in.isEmpty()) {
      return Optional.empty();
    }
    try (var s = in.get()) {
      return Optional.of(new Versioned(s.readAllBytes(), s.response().eTag()));
    }
  }

  @Override
  public boolean putIfVersion(String key, byte[] bytes, String expectedVersion) throws IOException {
    if (expectedVersion == null) {
      return conditionalPut(fullKey(key), bytes, b -> b.ifNoneMatch("*"), false, false);
    }
    return conditionalPut(fullKey(key), bytes, b -> b.ifMatch(expectedVersion), false, false);
  }

  /**
   * One conditional PUT with our own retries. 412 PreconditionFailed is a refusal (false). 409
   * ConditionalRequestConflict (another conditional write to the key was in flight) wrote nothing: retried
   * when {@code retryConflicts}, a refusal otherwise. A failure without an answer (I/O error, timeout, 5xx)
   * may have written: retried, and if the retry is then refused, the outcome is unknown unless
   * {@code refusalIsSuccess}: an IOException rather than a false that could make a caller apply its change twice.
   */
  private boolean conditionalPut(String k, byte[] bytes, java.util.function.Consumer<PutObjectRequest.Builder> condition,
                                 boolean retryConflicts, boolean refusalIsSuccessAfterLostAnswer) throws IOException {
    boolean answerLost = false;
    for (int attempt = 1; ; attempt++) {
      SdkException failure;
      try {
        conditional.putObject(b -> condition.accept(b.bucket(settings.bucket()).key(k)), RequestBody.fromBytes(bytes));
        return true;
      } catch (S3Exception e) {
        if (e.statusCode() == 412) {
          if (answerLost && !refusalIsSuccessAfterLostAnswer) {
            throw new IOException("s3 conditional put " + k + ": an attempt failed without an answer and the retry found the condition "
                + "broken, possibly by that attempt: outcome unknown", e);
          }
          return false;
        }
        if (e.statusCode() == 409 && !retryConflicts) {
          return false;
        }
        if (e.statusCode() != 409 && e.statusCode() < 500) {
          throw failure("conditional put", k, e);
        }
        answerLost |= e.statusCode() >= 500;
        failure = e;
      } catch (SdkClientException e) {
        answerLost = true;
        failure = e;
      }
      if (attempt >= settings.maxAttempts()) {
        throw failure("conditional put", k, failure);
      }
      log.warn("event=object_store_retry operation=conditional_put key={} attempt={} error=\"{}\"", k, attempt, failure.getMessage());
      backoff(attempt);
    }
  }

  private static void backoff(int attempt) throws IOException {
    long capMillis = Math.min(5_000, 100L << Math.min(attempt, 10));
    try {
      Thread.sleep(java.util.concurrent.ThreadLocalRandom.current().nextLong(capMillis / 2, capMillis + 1));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted between retries");
    }
  }

  @Override
  public Optional<InputStream> get(String key) throws IOException {
    return openObject(fullKey(key)).map(s -> s);
  }

  private Optional<ResponseInputStream<GetObjectResponse>> openObject(String k) throws IOException {
    try {
      return Optional.of(s3.getObject(b -> b.bucket(settings.bucket()).key(k)));
    } catch (NoSuchKeyException missing) {
      return Optional.empty();
    } catch (SdkException e) {
      throw failure("get", k, e);
    }
  }

  @Override
  public boolean exists(String key) throws IOException {
    return size(key).isPresent();
  }

  @Override
  public Optional<Long> size(String key) throws IOException {
    String k = fullKey(key);
    try {
      return Optional.of(s3.headObject(b -> b.bucket(settings.bucket()).key(k)).contentLength());
    } catch (NoSuchKeyException missing) {
      return Optional.empty();
    } catch (S3Exception e) {
      if (e.statusCode() == 404) { // a HEAD answer has no body, hence no error code
        return Optional.empty();
      }
      throw failure("head", k, e);
    } catch (SdkException e) {
      throw failure("head", k, e);
    }
  }

  @Override
  public List<String> list(String prefix) throws IOException {
    String full = settings.prefix() + prefix;
    List<String> keys = new ArrayList<>();
    String token = null;
    do {
      String page = token;
      ListObjectsV2Response r = call("list", full, () -> s3.listObjectsV2(
          b -> b.bucket(settings.bucket()).prefix(full).maxKeys(settings.listPageSize()).continuationToken(page)));
      for (S3Object o : r.contents()) {
        String key = o.key().substring(settings.prefix().length());
        if (!key.startsWith(".")) { // the store's own probes
          keys.add(key);
        }
      }
      token = Boolean.TRUE.equals(r.isTruncated()) ? r.nextContinuationToken() : null;
    } while (token != null);
    keys.sort(null); // S3 orders by UTF-8 bytes; the contract orders as String does
    return keys;
  }

  @Override
  public void delete(String key) throws IOException {
    String k = fullKey(key);
    call("delete", k, () -> s3.deleteObject(b -> b.bucket(settings.bucket()).key(k)));
  }

  @Override
  public void close() {
    s3.close();
    conditional.close();
    http.close();
    if (settings.credentials() instanceof software.amazon.awssdk.utils.SdkAutoCloseable c) {
      c.close();
    }
  }

  private String fullKey(String key) {
    return settings.prefix() + ObjectKeys.requireValid(key);
  }

  @FunctionalInterface
  private interface S3Call<T> {
    T run();
  }

  private <T> T call(String operation, String k, S3Call<T> call) throws IOException {
    try {
      return call.run();
    } catch (SdkException e) {
      throw failure(operation, k, e);
    } catch (java.io.UncheckedIOException e) {
      throw e.getCause();
    } catch (IllegalStateException e) {
      // what the SDK throws when a request body is not the length it declared: a file changed while uploaded
      throw new IOException("s3 " + operation + " s3://" + settings.bucket() + "/" + k + ": " + e.getMessage(), e);
    }
  }

  private IOException failure(String operation, String k, SdkException e) {
    return new IOException("s3 " + operation + " s3://" + settings.bucket() + "/" + k + ": " + e.getMessage(), e);
  }

  @Override
  public String toString() {
    return settings.location();
  }
}
