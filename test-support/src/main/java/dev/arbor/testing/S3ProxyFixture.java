package dev.arbor.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A real S3 server for tests: S3Proxy (org.gaul:s3proxy, the jar-with-dependencies from Maven Central) run as
 * its own process on a free loopback port, with the filesystem backend in a temporary directory, as a user's
 * S3 would be. A bucket is a directory of that backend, so {@link #createBucket} needs no S3 client.
 *
 * <p>The jar comes from the build: a module that uses this fixture declares {@code maven-dependency-plugin}
 * in its {@code <build><plugins>}, which inherits the parent's {@code s3proxy} execution (a copy into
 * {@code target/s3proxy/s3proxy.jar}), and surefire passes its path as {@code arbor.s3proxy.jar}.
 *
 * <pre>{@code @RegisterExtension static final S3ProxyFixture s3 = new S3ProxyFixture();}</pre>
 */
public final class S3ProxyFixture implements ClassFixture {

  public static final String JAR_PROPERTY = "arbor.s3proxy.jar";
  public static final String ACCESS_KEY = "arbor-test-key";
  public static final String SECRET_KEY = "arbor-test-secret";
  public static final String REGION = "us-east-1";

  private final boolean authenticate;
  private TempDirectory dir;
  private Process process;
  private int port;

  /** S3Proxy that checks AWS SigV4 signatures made with {@link #ACCESS_KEY}/{@link #SECRET_KEY}. */
  public S3ProxyFixture() {
    this(true);
  }

  private S3ProxyFixture(boolean authenticate) {
    this.authenticate = authenticate;
  }

  /**
   * S3Proxy that accepts any request, signed or not: for a proxy in between that changes signed headers
   * (which a signature check would refuse).
   */
  public static S3ProxyFixture withoutAuthentication() {
    return new S3ProxyFixture(false);
  }

  /** The S3Proxy jar the build copied, or a failure that says how to get it. */
  public static Path jar() {
    String property = System.getProperty(JAR_PROPERTY);
    if (property == null || property.isBlank()) {
      throw new IllegalStateException("system property " + JAR_PROPERTY + " is not set: run the tests through ./mvnw, and in the "
          + "module's pom add maven-dependency-plugin to <build><plugins> (it copies org.gaul:s3proxy:jar-with-dependencies "
          + "into target/s3proxy) and set " + JAR_PROPERTY + " for surefire as storage-engine/pom.xml does");
    }
    Path jar = Path.of(property);
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException("S3Proxy jar " + jar + " is missing: build the module with ./mvnw (without -o the first time), "
          + "whose maven-dependency-plugin execution 's3proxy' copies it from Maven Central");
    }
    return jar;
  }

  @Override
  public S3ProxyFixture start() {
    Path jar = jar();
    dir = TempDirectory.create("arbor-s3proxy-");
    Path data = dir.resolve("data");
    Path log = dir.resolve("s3proxy.log");
    for (int attempt = 1; ; attempt++) {
      port = FreePort.pick();
      try {
        Files.createDirectories(data);
        Path conf = dir.resolve("s3proxy.conf");
        Files.writeString(conf, String.join("\n",
            "s3proxy.endpoint=http://127.0.0.1:" + port,
            "s3proxy.authorization=" + (authenticate ? "aws-v4" : "none"),
            "s3proxy.identity=" + ACCESS_KEY,
            "s3proxy.credential=" + SECRET_KEY,
            "jclouds.provider=filesystem-nio2",
            "jclouds.filesystem.basedir=" + data,
            ""));
        List<String> command = new ArrayList<>(List.of(javaBinary(), "-Xmx256m", "-XX:TieredStopAtLevel=1", "-jar", jar.toString(),
            "--properties", conf.toString()));
        process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot start S3Proxy from " + jar, e);
      }
      if (awaitListening(Duration.ofSeconds(60))) {
        return this;
      }
      String tail = tail(log);
      process.destroyForcibly();
      if (attempt == 3 || !tail.contains("Address already in use")) {
        close();
        throw new IllegalStateException("S3Proxy did not start on 127.0.0.1:" + port + "; its log ends with:\n" + tail);
      }
    }
  }

  private boolean awaitListening(Duration timeout) {
    Instant deadline = Instant.now().plus(timeout);
    while (Instant.now().isBefore(deadline) && process.isAlive()) {
      try (var socket = new Socket()) {
        socket.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return true;
      } catch (IOException notYet) {
        sleep(Duration.ofMillis(50));
      }
    }
    return false;
  }

  /** {@code http://127.0.0.1:PORT} */
  public String endpoint() {
    requireStarted();
    return "http://127.0.0.1:" + port;
  }

  public int port() {
    requireStarted();
    return port;
  }

  /** Creates an empty bucket (a directory of the filesystem backend); returns its name. */
  public String createBucket(String name) {
    requireStarted();
    try {
      Files.createDirectories(dir.resolve("data").resolve(name));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return name;
  }

  /** The objects of a bucket, as S3Proxy's filesystem backend holds them (object key → file). */
  public Path bucketDirectory(String bucket) {
    requireStarted();
    return dir.resolve("data").resolve(bucket);
  }

  /** The standard AWS environment variables that point a client at this server. */
  public Map<String, String> environment() {
    return Map.of(
        "AWS_ENDPOINT_URL", endpoint(),
        "AWS_REGION", REGION,
        "AWS_ACCESS_KEY_ID", ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY", SECRET_KEY);
  }

  private void requireStarted() {
    if (process == null) {
      throw new IllegalStateException("S3ProxyFixture is not started");
    }
  }

  @Override
  public void close() {
    if (process != null) {
      process.destroy();
      try {
        if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (dir != null) {
      dir.close();
      dir = null;
    }
  }

  private static String javaBinary() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
