package dev.arbor.client.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.client.tls.CertificateAuthority.Usage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CA library against openssl, the reference every TLS peer of Arbor (curl, PostgreSQL's libpq, the JDK) agrees
 * with: openssl verifies the leaf against the CA and reads the extensions TLS needs; keys round-trip through PEM in
 * PKCS#8 and in SEC1, cert-manager's default encoding for ECDSA keys.
 */
class CertificateAuthorityTest {
  @TempDir
  Path dir;

  @Test
  void opensslVerifiesALeafAgainstItsCaAndReadsItsExtensions() throws Exception {
    var ca = CertificateAuthority.create("arbor-test-ca", Duration.ofDays(30));
    ca.writeTo(dir.resolve("ca"));
    var leaf = ca.issue("pageserver", List.of("pageserver.arbor.svc", "localhost"), List.of("127.0.0.1", "::1"),
        Set.of(Usage.SERVER, Usage.CLIENT), Duration.ofDays(7));
    leaf.writeTo(dir.resolve("leaf"));
    Path caCrt = dir.resolve("ca/ca.crt");
    Path crt = dir.resolve("leaf/tls.crt");

    assertThat(openssl("verify", "-CAfile", caCrt.toString(), crt.toString())).contains(crt + ": OK");
    var other = CertificateAuthority.create("another-ca", Duration.ofDays(30));
    other.writeTo(dir.resolve("other"));
    assertThat(opensslFails("verify", "-CAfile", dir.resolve("other/ca.crt").toString(), crt.toString()))
        .as("the control: another CA does not verify it").contains("unable to get local issuer certificate");

    String caText = openssl("x509", "-text", "-noout", "-in", caCrt.toString());
    assertThat(caText).contains("CA:TRUE", "Certificate Sign", "ASN1 OID: prime256v1", "ecdsa-with-SHA256", "Subject: CN = arbor-test-ca");
    String leafText = openssl("x509", "-text", "-noout", "-in", crt.toString());
    assertThat(leafText).contains("CA:FALSE", "Digital Signature", "TLS Web Server Authentication", "TLS Web Client Authentication",
        "DNS:pageserver.arbor.svc", "DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1", "ASN1 OID: prime256v1",
        "Issuer: CN = arbor-test-ca", "Subject: CN = pageserver");
    assertThat(leaf.certificate().getNotAfter().toInstant()).isBetween(Instant.now().plus(Duration.ofDays(7)).minusSeconds(60),
        Instant.now().plus(Duration.ofDays(7)));

    var serverOnly = ca.issue("sk-0", List.of("sk-0.arbor"), List.of(), Set.of(Usage.SERVER), Duration.ofDays(1));
    assertThat(serverOnly.certificate().getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1");
  }

  @Test
  void privateKeysAreWrittenForTheOwnerOnlyAndReadAsPkcs8OrSec1() throws Exception {
    var ca = CertificateAuthority.create("arbor-test-ca", Duration.ofDays(30));
    var leaf = ca.issue("safekeeper", List.of("localhost"), List.of(), Set.of(Usage.SERVER), Duration.ofDays(1));
    leaf.writeTo(dir);
    Path key = dir.resolve(Pem.KEY);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key))).isEqualTo("rw-------");
    assertThat(Files.readString(key)).startsWith("-----BEGIN PRIVATE KEY-----");
    assertThat(Pem.matches(Pem.readPrivateKey(key), leaf.certificate())).isTrue();
    assertThat(openssl("pkey", "-in", key.toString(), "-noout", "-text")).contains("prime256v1");

    Path sec1 = dir.resolve("sec1.key");
    openssl("ec", "-in", key.toString(), "-out", sec1.toString()); // what cert-manager writes for ECDSA by default
    assertThat(Files.readString(sec1)).startsWith("-----BEGIN EC PRIVATE KEY-----");
    assertThat(Pem.matches(Pem.readPrivateKey(sec1), leaf.certificate())).as("the SEC1 encoding of the same key").isTrue();

    var another = ca.issue("other", List.of("localhost"), List.of(), Set.of(Usage.SERVER), Duration.ofDays(1));
    assertThat(Pem.matches(another.key(), leaf.certificate())).as("the control: another key").isFalse();

    ca.writeTo(dir.resolve("ca"));
    var loaded = CertificateAuthority.load(dir.resolve("ca"));
    assertThat(loaded.certificate()).isEqualTo(ca.certificate());
    var issuedByLoaded = loaded.issue("again", List.of("localhost"), List.of(), Set.of(Usage.CLIENT), Duration.ofDays(1));
    issuedByLoaded.certificate().verify(ca.publicKey());
  }

  @Test
  void badInputIsRefusedNamingTheFieldAndTheFix() throws Exception {
    var ca = CertificateAuthority.create("arbor-test-ca", Duration.ofDays(1));
    assertThatThrownBy(() -> ca.issue("x", List.of("not a name!"), List.of(), Set.of(Usage.SERVER), Duration.ofHours(1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("dnsNames: 'not a name!' is not a DNS name");
    assertThatThrownBy(() -> ca.issue("x", List.of(), List.of("300.1.2.3"), Set.of(Usage.SERVER), Duration.ofHours(1)))
        .hasMessageContaining("ipAddresses: '300.1.2.3' is not an IPv4 or IPv6 address");
    assertThatThrownBy(() -> ca.issue("x", List.of(), List.of(), Set.of(Usage.SERVER), Duration.ofHours(1)))
        .hasMessageContaining("at least one DNS name or IP address");
    assertThatThrownBy(() -> ca.issue("x", List.of("a"), List.of(), Set.of(Usage.SERVER), Duration.ofDays(2)))
        .hasMessageContaining("ends after the CA's certificate");
    assertThatThrownBy(() -> ca.issue("x", List.of("a"), List.of(), Set.of(), Duration.ofDays(2))).hasMessageContaining("usages");

    Files.writeString(dir.resolve("empty.crt"), "nothing here\n");
    assertThatThrownBy(() -> Pem.readCertificates(dir.resolve("empty.crt"))).isInstanceOf(IOException.class)
        .hasMessageContaining(dir.resolve("empty.crt").toString());
    assertThatThrownBy(() -> Pem.readPrivateKey(dir.resolve("empty.crt"))).isInstanceOf(IOException.class)
        .hasMessageContaining("holds no private key");
    assertThatThrownBy(() -> Pem.readPrivateKey(dir.resolve("missing.key"))).isInstanceOf(IOException.class)
        .hasMessageContaining("the private key file does not exist");
    Path encrypted = dir.resolve("encrypted.key");
    ca.writeTo(dir.resolve("ca"));
    openssl("pkcs8", "-topk8", "-in", dir.resolve("ca/tls.key").toString(), "-out", encrypted.toString(), "-passout", "pass:secret");
    assertThatThrownBy(() -> Pem.readPrivateKey(encrypted)).hasMessageContaining("encrypted private key");
  }

  private static String openssl(String... args) throws IOException, InterruptedException {
    Run r = run(args);
    assertThat(r.exit).as("openssl %s: %s", String.join(" ", args), r.output).isZero();
    return r.output;
  }

  private static String opensslFails(String... args) throws IOException, InterruptedException {
    Run r = run(args);
    assertThat(r.exit).as("openssl %s: %s", String.join(" ", args), r.output).isNotZero();
    return r.output;
  }

  private record Run(int exit, String output) {}

  private static Run run(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("openssl"));
    command.addAll(List.of(args));
    Process p;
    try {
      p = new ProcessBuilder(command).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IllegalStateException("these tests check certificates with openssl, which is not on PATH: apt-get install openssl", e);
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    return new Run(p.exitValue(), out);
  }
}
