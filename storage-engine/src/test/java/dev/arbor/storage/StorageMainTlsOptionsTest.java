package dev.arbor.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.auth.StorageGrant;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.CertificateAuthority;
import dev.arbor.client.tls.CertificateAuthority.Usage;
import dev.arbor.client.tls.Pem;
import dev.arbor.server.HttpApi;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --tls-cert}, {@code --tls-key}, {@code --tls-ca} and {@code --insecure-no-tls}: a component that checks or
 * sends tokens serves HTTPS unless told explicitly not to, and every file that cannot be used is refused with one
 * line naming its flag and the fix.
 */
class StorageMainTlsOptionsTest {
  /** Checks tokens: anything but {@link HttpApi.Authenticator#INSECURE}. */
  private static final StorageAuth TOKENS_ON = new StorageAuth(authorization -> (StorageGrant) null, TokenSource.fixed("t"));
  private static final StorageAuth TOKENS_OFF = StorageAuth.INSECURE;

  @TempDir
  Path dir;
  private Path cert;
  private Path key;
  private Path ca;

  @BeforeEach
  void certificates() throws Exception {
    var authority = CertificateAuthority.create("test-ca", Duration.ofDays(2));
    authority.issue("storage", List.of("localhost"), List.of("127.0.0.1"), Set.of(Usage.SERVER), Duration.ofDays(1)).writeTo(dir);
    cert = dir.resolve(Pem.CERT);
    key = dir.resolve(Pem.KEY);
    ca = dir.resolve(Pem.CA);
  }

  private Map<String, String> tls(String... more) {
    Map<String, String> opts = new HashMap<>(Map.of("tls-cert", cert.toString(), "tls-key", key.toString(), "tls-ca", ca.toString()));
    for (int i = 0; i < more.length; i += 2) {
      if (more[i + 1] == null) {
        opts.remove(more[i]);
      } else {
        opts.put(more[i], more[i + 1]);
      }
    }
    return opts;
  }

  @Test
  void withTheThreeFilesTheComponentServesHttpsAndItsCallsTrustTheCa() {
    StorageAuth auth = StorageMain.withTls("safekeeper", tls(), TOKENS_ON, false);
    assertThat(auth.serverTls()).isNotNull();
    assertThat(auth.serverTls().certificate().getSubjectX500Principal().getName()).isEqualTo("CN=storage");
    assertThat(auth.clientTls().caBundle()).isEqualTo(ca);
    assertThat(auth.outbound().plainHttpAllowed()).as("its token goes over HTTPS only").isFalse();
    assertThat(StorageMain.withTls("pageserver", tls("safekeepers", "https://127.0.0.1:1,https://127.0.0.1:2"), TOKENS_ON, false)
        .serverTls()).isNotNull();
  }

  @Test
  void aSafekeepersServingCertificateIsAlsoItsReplicationIdentity() {
    StorageMain.withTls("safekeeper", tls(), TOKENS_ON, false);
    var identity = StorageMain.replicationTls(tls());
    assertThat(identity).as("the files it serves HTTPS with, and the CA it checks computes against").isNotNull();
    assertThat(identity.certFile()).isEqualTo(cert);
    assertThat(identity.keyFile()).isEqualTo(key);
    assertThat(identity.caFile()).isEqualTo(ca);
    assertThat(StorageMain.replicationTls(Map.of())).as("without them computes are followed in the clear only").isNull();
    assertThat(StorageMain.replicationTls(Map.of("tls-ca", ca.toString()))).as("a CA alone is no identity").isNull();
  }

  @Test
  void tokensOverPlainHttpNeedTheExplicitDevelopmentFlag() {
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", Map.of(), TOKENS_ON, false))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("--tls-cert FILE, --tls-key FILE and --tls-ca FILE are required with --auth-keys or --token-file: tokens go over "
            + "HTTPS only; to let them go over plain HTTP, for development only, give --insecure-no-tls");
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", Map.of("token-file", "/t"), TOKENS_OFF, false))
        .as("a token sent, none checked").hasMessageContaining("--insecure-no-tls");

    StorageAuth plain = StorageMain.withTls("safekeeper", Map.of(), TOKENS_ON, true);
    assertThat(plain.serverTls()).isNull();
    assertThat(plain.outbound().plainHttpAllowed()).isTrue();

    StorageAuth noTokens = StorageMain.withTls("safekeeper", Map.of(), TOKENS_OFF, false);
    assertThat(noTokens.serverTls()).as("--insecure-no-auth alone: plain HTTP, as before").isNull();
    assertThat(noTokens.outbound().plainHttpAllowed()).isFalse();
  }

  @Test
  void flagsThatDoNotGoTogetherAreRefused() {
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", tls("tls-key", null), TOKENS_ON, false))
        .hasMessageContaining("--tls-cert FILE and --tls-key FILE go together");
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", tls("tls-cert", null), TOKENS_ON, false))
        .hasMessageContaining("--tls-cert FILE and --tls-key FILE go together");
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", tls(), TOKENS_ON, true))
        .hasMessage("--insecure-no-tls serves plain HTTP; it cannot be given with --tls-cert and --tls-key");
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", tls("tls-ca", null), TOKENS_ON, false))
        .hasMessageContaining("--tls-ca FILE is required with --tls-cert");
    assertThatThrownBy(() -> StorageMain.withTls("pageserver", tls("safekeepers", "https://127.0.0.1:1,http://127.0.0.1:2"), TOKENS_ON,
        false)).hasMessage("--safekeepers http://127.0.0.1:2: with --tls-cert the storage engine speaks HTTPS; give its https:// URL");
    assertThatThrownBy(() -> StorageMain.withTls("pageserver", tls("safekeepers", "https://127.0.0.1:1", "advertise",
        "http://127.0.0.1:3"), TOKENS_ON, false)).hasMessageContaining("--advertise http://127.0.0.1:3");
  }

  @Test
  void aFileThatCannotBeUsedIsNamedWithItsFlag() throws Exception {
    Path missing = dir.resolve("missing.crt");
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", tls("tls-cert", missing.toString()), TOKENS_ON, false))
        .hasMessageStartingWith("--tls-cert " + missing + ": ").hasMessageContaining("does not exist")
        .hasMessageContaining("a cert-manager Secret's tls.crt");
    Path garbage = dir.resolve("garbage");
    Files.writeString(garbage, "garbage\n");
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", tls("tls-key", garbage.toString()), TOKENS_ON, false))
        .hasMessageStartingWith("--tls-key " + garbage + ": ").hasMessageContaining("holds no private key");
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", tls("tls-ca", garbage.toString()), TOKENS_ON, false))
        .hasMessageStartingWith("--tls-ca " + garbage + ": ").hasMessageContaining("does not hold PEM certificates");

    var other = CertificateAuthority.create("other", Duration.ofDays(1));
    Path otherKey = dir.resolve("other.key");
    Pem.writePrivateKey(otherKey, other.issue("x", List.of("localhost"), List.of(), Set.of(Usage.SERVER), Duration.ofHours(1)).key());
    assertThatThrownBy(() -> StorageMain.withTls("safekeeper", tls("tls-key", otherKey.toString()), TOKENS_ON, false))
        .hasMessage("--tls-key " + otherKey + " is not the private key of the certificate in --tls-cert " + cert
            + "; give the key that was issued with that certificate");
  }
}
