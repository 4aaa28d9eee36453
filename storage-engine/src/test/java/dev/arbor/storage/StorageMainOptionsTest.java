package dev.arbor.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ApiProblem;
import dev.arbor.client.PageserverClient;
import dev.arbor.storage.pageserver.Pageserver;
import dev.arbor.testing.TempDirectory;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Options on the command line: byte counts ({@code --image-threshold}) and listen addresses. */
class StorageMainOptionsTest {

  @Test
  void byteCountsTakeBinaryUnits() {
    assertThat(StorageMain.bytes("268435456", "image-threshold")).isEqualTo(256L << 20);
    assertThat(StorageMain.bytes("256MiB", "image-threshold")).isEqualTo(256L << 20);
    assertThat(StorageMain.bytes("1GiB", "image-threshold")).isEqualTo(1L << 30);
    assertThat(StorageMain.bytes("0", "image-threshold")).isZero();
  }

  @Test
  void anythingElseNamesTheOptionAndTheSpelling() {
    for (String bad : new String[] {"256MB", "-1", "1.5GiB", "lots", ""}) {
      assertThatThrownBy(() -> StorageMain.bytes(bad, "image-threshold")).as(bad)
          .hasMessageContaining("--image-threshold").hasMessageContaining("256MiB");
    }
  }

  @Test
  void optionsComeAsNameValueOrNameEqualsValue() {
    assertThat(StorageMain.options("safekeeper", new String[] {"--id", "sk-0", "--listen=0.0.0.0:7676", "--data-dir", "/d",
        "--object-store=s3://b/p=q"})).containsEntry("id", "sk-0").containsEntry("listen", "0.0.0.0:7676")
        .containsEntry("data-dir", "/d").containsEntry("object-store", "s3://b/p=q");
  }

  @Test
  void anUnknownRepeatedOrValuelessOptionIsRefusedByName() {
    assertThatThrownBy(() -> StorageMain.options("safekeeper", new String[] {"--image-threshold=1GiB"}))
        .hasMessage("unknown option --image-threshold for the safekeeper; it takes --id, --listen, --management-listen, --data-dir, --object-store, "
            + "--auth-keys, --auth-issuer, --token-file, --tls-cert, --tls-key, --tls-ca");
    assertThatThrownBy(() -> StorageMain.options("pageserver", new String[] {"--listen", "a:1", "--listen=b:2"}))
        .hasMessage("--listen is given twice");
    assertThatThrownBy(() -> StorageMain.options("pageserver", new String[] {"--listen"})).hasMessage("--listen needs a value");
    assertThatThrownBy(() -> StorageMain.options("pageserver", new String[] {"listen", "a:1"}))
        .hasMessageContaining("expected --option value (or --option=value), got 'listen'");
  }

  @Test
  void withoutKeysTheStartIsRefusedUnlessTheInsecureFlagIsGiven() {
    assertThatThrownBy(() -> StorageMain.auth("safekeeper", java.util.Map.of(), false))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--auth-keys FILE").hasMessageContaining("--insecure-no-auth");
    assertThat(StorageMain.auth("safekeeper", java.util.Map.of(), true).inbound()).isSameAs(dev.arbor.server.HttpApi.Authenticator.INSECURE);
    assertThatThrownBy(() -> StorageMain.auth("pageserver", java.util.Map.of("auth-keys", "/k", "auth-issuer", "i"), true))
        .hasMessageContaining("cannot be given with --auth-keys");
    assertThatThrownBy(() -> StorageMain.auth("pageserver", java.util.Map.of("auth-keys", "/k", "auth-issuer", "i"), false))
        .hasMessageContaining("--token-file FILE is required");
    assertThatThrownBy(() -> StorageMain.auth("safekeeper", java.util.Map.of("auth-keys", "/no/such/keys.jwks", "auth-issuer", "i"), false))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cannot read the token key set /no/such/keys.jwks");
  }

  @Test
  void aListenAddressIsHostColonPortAndABadOneNamesItsOption() {
    assertThat(StorageMain.address("0.0.0.0:9899", "management-listen").getPort()).isEqualTo(9899);
    for (String bad : new String[] {"9899", "0.0.0.0:", "0.0.0.0:http", "0.0.0.0:70000"}) {
      assertThatThrownBy(() -> StorageMain.address(bad, "management-listen")).as(bad)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("--management-listen must be HOST:PORT").hasMessageContaining("'" + bad + "'");
    }
  }

  /**
   * With {@code --management-listen}, the first line on stdout is still the compute listener's URL (what the
   * CLI and the test harnesses read), and the management listener is an event line in the log.
   */
  @Test
  void aPageserverWithAManagementListenerPrintsItsComputeUrlAndLogsTheManagementOne() throws Exception {
    try (var dir = TempDirectory.create("arbor-main-listen-")) {
      Path stderr = dir.resolve("stderr.log");
      Process ps = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
          System.getProperty("java.class.path"), StorageMain.class.getName(), "pageserver", "--listen", "127.0.0.1:0",
          "--management-listen", "127.0.0.1:0", "--object-store", dir.resolve("objects").toString(),
          "--work-dir", dir.resolve("work").toString(), "--safekeepers", "http://127.0.0.1:9", "--insecure-no-auth")
          .redirectError(stderr.toFile()).start();
      try {
        var out = new BufferedReader(new InputStreamReader(ps.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        assertThat(line).as("first line on stdout; stderr: %s", stderr).matches("listening on http://127\\.0\\.0\\.1:\\d+");
        String computeUrl = line.substring("listening on ".length());
        Pattern event = Pattern.compile("event=http_listening component=pageserver listener=management address=127\\.0\\.0\\.1:(\\d+)");
        List<String> log = java.nio.file.Files.readAllLines(stderr);
        Matcher m = log.stream().map(event::matcher).filter(Matcher::find).findFirst().orElseThrow(() ->
            new AssertionError("no management listener event in the log: " + log));
        String managementUrl = "http://127.0.0.1:" + m.group(1);
        assertThat(managementUrl).isNotEqualTo(computeUrl);

        var management = new PageserverClient(managementUrl, Duration.ofSeconds(30));
        var compute = new PageserverClient(computeUrl, Duration.ofSeconds(30));
        assertThat(management.tenants()).isEmpty();
        assertThatThrownBy(compute::tenants).isInstanceOfSatisfying(ApiProblem.class, p -> {
          assertThat(p.status()).isEqualTo(404);
          assertThat(p.is(Pageserver.SERVED_ON_MANAGEMENT_PORT)).isTrue();
          assertThat(p.getMessage()).contains("management port");
        });
        assertThat(compute.isRunning()).isTrue();
        assertThat(management.isRunning()).isTrue();
      } finally {
        ps.destroy();
        if (!ps.waitFor(20, TimeUnit.SECONDS)) {
          ps.destroyForcibly().waitFor();
        }
      }
    }
  }
}
