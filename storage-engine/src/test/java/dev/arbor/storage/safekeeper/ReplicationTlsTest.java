package dev.arbor.storage.safekeeper;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.TempDirectory;
import dev.arbor.testing.TestCertificates;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The safekeeper's TLS files as Kubernetes Secrets and cert-manager hold them (PEM; keys PKCS#8, SEC1 or PKCS#1), read
 * with {@code Pem} and handed to pgjdbc in memory; what cannot be used is refused naming the flag. The WAL receivers' use of them against a
 * real PostgreSQL is ComputeTlsTest's (compute module).
 */
class ReplicationTlsTest {
  private static TempDirectory dir;
  private static TestCertificates ca;

  @BeforeAll
  static void makeCa() {
    dir = TempDirectory.create("arbor-repl-tls-");
    ca = TestCertificates.ca(dir.path(), "test-ca");
  }

  @AfterAll
  static void removeCa() {
    dir.close();
  }

  @Test
  void ecKeysAsPkcs8OrSec1AndRsaKeysAsPkcs1AreRead() throws Exception {
    var ec = ca.issue("sk", "arbor_replication", "localhost");
    assertThat(Files.readString(ec.key())).startsWith("-----BEGIN PRIVATE KEY-----");
    new ReplicationTls(ec.cert(), ec.key(), ca.caCert()).checked();
    Path sec1 = ca.convertKey(ec, "traditional");
    assertThat(Files.readString(sec1)).startsWith("-----BEGIN EC PRIVATE KEY-----");
    var tls = new ReplicationTls(ec.cert(), sec1, ca.caCert()).checked();
    assertThat(tls.clientCommonName()).isEqualTo("arbor_replication");

    Path rsaDir = dir.resolve("rsa");
    Files.createDirectories(rsaDir);
    TestCertificates.openssl(rsaDir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "pkcs8.key", "-out", "rsa.crt",
        "-days", "1", "-subj", "/CN=arbor_replication");
    TestCertificates.openssl(rsaDir, "pkey", "-in", "pkcs8.key", "-traditional", "-out", "pkcs1.key");
    assertThat(Files.readString(rsaDir.resolve("pkcs1.key"))).startsWith("-----BEGIN RSA PRIVATE KEY-----");
    new ReplicationTls(rsaDir.resolve("rsa.crt"), rsaDir.resolve("pkcs1.key"), rsaDir.resolve("rsa.crt")).checked();
  }

  @Test
  void unusableFilesAreRefusedNamingTheFlag() throws Exception {
    var ec = ca.issue("sk2", "arbor_replication", "localhost");
    var other = ca.issue("other", "arbor_replication", "localhost");
    assertThatThrownBy(() -> new ReplicationTls(ec.cert(), other.key(), ca.caCert()).checked()).as("another certificate's key")
        .hasMessageContaining("--tls-key").hasMessageContaining("does not go with --tls-cert");
    Path encrypted = dir.resolve("encrypted.key");
    TestCertificates.openssl(dir.path(), "pkcs8", "-topk8", "-in", ec.key().toString(), "-passout", "pass:secret", "-out", encrypted.toString());
    assertThatThrownBy(() -> new ReplicationTls(ec.cert(), encrypted, ca.caCert()).checked())
        .hasMessageContaining("--tls-key").hasMessageContaining("encrypted");
    assertThatThrownBy(() -> new ReplicationTls(ec.cert(), ec.key(), dir.resolve("missing.crt")).checked())
        .hasMessageContaining("--tls-ca").hasMessageContaining("does not exist");
    assertThatThrownBy(() -> new ReplicationTls(ec.key(), ec.key(), ca.caCert()).checked())
        .hasMessageStartingWith("--tls-cert " + ec.key()).hasMessageContaining("certificate");
  }

  @Test
  void aSafekeeperWithoutAnIdentityRefusesToFollowOverTls() throws Exception {
    TenantId tenant = TenantId.random();
    TimelineId timeline = TimelineId.random();
    try (var data = TempDirectory.create("arbor-sk-notls-");
        Safekeeper sk = SafekeeperData.start("sk-0", data.resolve("data"), new LocalObjectStore(data.resolve("objects")))) {
      var client = SafekeeperData.client(sk);
      client.fence(tenant, timeline, new FenceRequest(1, null));
      var req = new FollowRequest(1, 1, Lsn.parse("0/1000000"), "localhost", 5432, "arbor_replication", "pw", "arbor_sk_0", List.of(), true);
      assertThatThrownBy(() -> client.follow(tenant, timeline, req)).isInstanceOfSatisfying(ApiProblem.class, p -> {
        assertThat(p.status()).isEqualTo(400);
        assertThat(p.field()).isEqualTo("tls");
        assertThat(p.getMessage()).contains("--tls-cert", "--tls-key", "--tls-ca");
      });
    }
  }
}
