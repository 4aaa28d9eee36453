package dev.arbor.cli;

import static dev.arbor.cli.CliProcesses.psql;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.client.Json;
import dev.arbor.client.tls.CertificateAuthority;
import dev.arbor.client.tls.Pem;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Local mode's TLS (docs/security.md, "TLS"): the first {@code up} makes the home's CA and the daemons' certificate
 * (the names and usages the daemons need), later {@code up}s keep it while it has a third of its life or more, and an
 * {@code up} renews one that is near its end, which the running daemons then serve without a restart.
 */
class CliLocalTlsTest {
  @RegisterExtension
  final FreshArborHome home = new FreshArborHome("arbor-cli-tls-");

  @Test
  void upMakesTheCertificatesAndRenewsOneNearItsEndWithoutRestartingTheDaemons() throws Exception {
    var first = home.arbor().ok("up", "--safekeepers", "1");
    assertThat(first.err()).contains("issuing the storage engine's TLS certificate (90 days) ... ok");
    Path caDir = home.resolve("tls/ca");
    Path storage = home.resolve("tls/storage");
    X509Certificate issued = Pem.readCertificates(storage.resolve(Pem.CERT)).getFirst();
    assertThat(issued.getSubjectX500Principal().getName()).isEqualTo("CN=arbor_replication");
    assertThat(issued.getSubjectAlternativeNames().stream().map(n -> String.valueOf(n.get(1))).toList())
        .containsExactlyInAnyOrder("localhost", "127.0.0.1");
    assertThat(issued.getExtendedKeyUsage()).containsExactlyInAnyOrder("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"); // server, client
    assertThat(Duration.between(Instant.now(), issued.getNotAfter().toInstant()).toDays()).isBetween(89L, 90L);
    X509Certificate ca = Pem.readCertificates(caDir.resolve(Pem.CA)).getFirst();
    assertThat(Duration.between(Instant.now(), ca.getNotAfter().toInstant()).toDays()).isBetween(3649L, 3650L);
    assertThat(permissions(caDir)).as("the CA's directory").isEqualTo("rwx------");

    assertThat(home.arbor().ok("up").err()).as("a second up keeps a certificate with most of its life left")
        .doesNotContain("TLS certificate");
    assertThat(Pem.readCertificates(storage.resolve(Pem.CERT)).getFirst().getSerialNumber()).isEqualTo(issued.getSerialNumber());

    // A certificate near its end: 2 minutes left of a life of 7 (issued 5 minutes backdated), less than a third.
    var nearEnd = CertificateAuthority.load(caDir).issue("arbor_replication", List.of("localhost"), List.of("127.0.0.1"),
        Set.of(CertificateAuthority.Usage.SERVER, CertificateAuthority.Usage.CLIENT), Duration.ofMinutes(2));
    nearEnd.writeTo(storage);
    List<Integer> ports = daemonPorts();
    for (int port : ports) {
      awaitServed(port, caDir.resolve(Pem.CA), nearEnd.certificate().getSerialNumber());
    }
    String pids = pids();

    var renewing = home.arbor().ok("up");
    assertThat(renewing.err()).contains("renewing the storage engine's TLS certificate (90 days) ... ok");
    X509Certificate renewed = Pem.readCertificates(storage.resolve(Pem.CERT)).getFirst();
    assertThat(renewed.getSerialNumber()).isNotEqualTo(nearEnd.certificate().getSerialNumber());
    assertThat(Duration.between(Instant.now(), renewed.getNotAfter().toInstant()).toDays()).isBetween(89L, 90L);
    assertThat(Pem.readCertificates(caDir.resolve(Pem.CA)).getFirst()).as("the CA is kept").isEqualTo(ca);
    for (int port : ports) {
      awaitServed(port, caDir.resolve(Pem.CA), renewed.getSerialNumber());
    }
    assertThat(pids()).as("the daemons were not restarted").isEqualTo(pids);
    assertThat(psql(renewing.lastLine(), "SELECT 1")).isEqualTo("1");
  }

  private static String permissions(Path p) throws Exception {
    return java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
  }

  private List<Integer> daemonPorts() throws Exception {
    var config = Json.MAPPER.readTree(home.resolve("config.json").toFile());
    List<Integer> ports = new ArrayList<>(List.of(config.path("pageserver_port").asInt()));
    config.path("safekeepers").forEach(p -> ports.add(p.asInt()));
    return ports;
  }

  private String pids() throws Exception {
    return Files.readString(home.resolve("run/pageserver.pid")).strip() + "," + Files.readString(home.resolve("run/sk-0.pid")).strip();
  }

  /** Waits (up to 10 s; the daemons look at their files at most once a second) until {@code port} serves {@code serial}. */
  private static void awaitServed(int port, Path ca, BigInteger serial) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    BigInteger served = null;
    while (System.nanoTime() < deadline) {
      served = servedSerial(port, ca);
      if (serial.equals(served)) {
        return;
      }
      Thread.sleep(200);
    }
    assertThat(served).as("the serial of the certificate served on port " + port).isEqualTo(serial);
  }

  /** The serial a new TLS connection is served: a context of its own each time, so no session is resumed. */
  private static BigInteger servedSerial(int port, Path ca) throws Exception {
    KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
    trust.load(null, null);
    trust.setCertificateEntry("ca", Pem.readCertificates(ca).getFirst());
    var tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, tmf.getTrustManagers(), null);
    try (var socket = (SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port)) {
      socket.startHandshake();
      return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
    }
  }
}
