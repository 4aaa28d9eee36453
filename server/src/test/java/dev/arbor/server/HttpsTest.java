package dev.arbor.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.client.HttpJson;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.CertificateAuthority;
import dev.arbor.client.tls.CertificateAuthority.Usage;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.client.tls.Pem;
import java.io.IOException;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HTTPS of the daemons' server and its clients (issue 16, "TLS"): a client that trusts the CA gets answers; plain HTTP
 * to the TLS port, a client of another CA and a host name the certificate does not name all fail; a certificate
 * renewed in place is served from the next connection on, without a restart, and a bad pair keeps the last good one.
 * A token is never put on a plain-HTTP request unless the caller allowed it.
 */
@SuppressWarnings("unchecked")
class HttpsTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(10);
  @TempDir
  Path dir;
  private final List<AutoCloseable> open = new java.util.ArrayList<>();
  private final AtomicInteger hellos = new AtomicInteger();

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : open) {
      c.close();
    }
  }

  private CertificateAuthority.Issued issue(CertificateAuthority ca, List<String> dns, List<String> ips, Path into) throws IOException {
    var issued = ca.issue("test-server", dns, ips, Set.of(Usage.SERVER), Duration.ofDays(1));
    issued.writeTo(into);
    return issued;
  }

  private HttpApi serve(ServerTls tls) throws IOException {
    HttpApi api = new HttpApi("test").route("GET", "/hello", r -> {
      hellos.incrementAndGet();
      return Response.ok(Map.of("hello", "tls"));
    }).serveTls(tls).start(new InetSocketAddress("127.0.0.1", 0));
    open.add(api);
    return api;
  }

  private static ServerTls tlsOf(Path certs) throws IOException {
    return ServerTls.fromFiles(certs.resolve(Pem.CERT), certs.resolve(Pem.KEY));
  }

  @Test
  void aClientOfTheCaIsAnsweredAndPlainHttpOrAnotherCaFails() throws Exception {
    var ca = CertificateAuthority.create("test-ca", Duration.ofDays(2));
    issue(ca, List.of("localhost"), List.of("127.0.0.1"), dir.resolve("server"));
    HttpApi api = serve(tlsOf(dir.resolve("server")));
    assertThat(api.scheme()).isEqualTo("https");
    var trusted = new HttpJson(TIMEOUT, TokenSource.NONE, ClientTls.trusting(dir.resolve("server/ca.crt")));

    assertThat(trusted.get("https://127.0.0.1:" + api.port() + "/hello", Map.class)).containsEntry("hello", "tls");
    assertThat(trusted.get("https://localhost:" + api.port() + "/hello", Map.class)).containsEntry("hello", "tls");

    assertThatThrownBy(() -> new HttpJson(TIMEOUT).get("http://127.0.0.1:" + api.port() + "/hello", Map.class))
        .as("plain HTTP to the TLS port").isInstanceOf(IOException.class);

    CertificateAuthority.create("another-ca", Duration.ofDays(2)).writeTo(dir.resolve("other"));
    var otherCa = new HttpJson(TIMEOUT, TokenSource.NONE, ClientTls.trusting(dir.resolve("other/ca.crt")));
    assertThatThrownBy(() -> otherCa.get("https://127.0.0.1:" + api.port() + "/hello", Map.class))
        .as("a client that trusts another CA").isInstanceOf(SSLHandshakeException.class);
    assertThatThrownBy(() -> new HttpJson(TIMEOUT).get("https://127.0.0.1:" + api.port() + "/hello", Map.class))
        .as("a client of the JDK's trust store").isInstanceOf(SSLHandshakeException.class);
    assertThat(hellos).as("only the trusted client's requests reached a route").hasValue(2);
  }

  @Test
  void aHostNameTheCertificateDoesNotNameFails() throws Exception {
    var ca = CertificateAuthority.create("test-ca", Duration.ofDays(2));
    issue(ca, List.of("localhost"), List.of(), dir.resolve("server")); // no IP address among its names
    HttpApi api = serve(tlsOf(dir.resolve("server")));
    var trusted = new HttpJson(TIMEOUT, TokenSource.NONE, ClientTls.trusting(dir.resolve("server/ca.crt")));

    assertThat(trusted.get("https://localhost:" + api.port() + "/hello", Map.class)).as("the name it has").containsEntry("hello", "tls");
    assertThatThrownBy(() -> trusted.get("https://127.0.0.1:" + api.port() + "/hello", Map.class))
        .as("an address it does not name").isInstanceOf(SSLHandshakeException.class)
        .hasMessageContaining("127.0.0.1");
  }

  @Test
  void aRenewedCertificateIsServedWithoutARestartAndABadPairKeepsTheLastGoodOne() throws Exception {
    var ca = CertificateAuthority.create("test-ca", Duration.ofDays(2));
    Path certs = dir.resolve("server");
    var first = issue(ca, List.of("localhost"), List.of("127.0.0.1"), certs);
    Path ca1 = certs.resolve(Pem.CA);
    var twoPorts = new TwoPortApi("test", "test", new InetSocketAddress("127.0.0.1", 0), new InetSocketAddress("127.0.0.1", 0),
        TwoPortApi.Port.BOTH, HttpApi.Authenticator.INSECURE, tlsOf(certs)).start();
    open.add(twoPorts);
    int compute = twoPorts.port();
    int management = Integer.parseInt(twoPorts.managementUrl().replaceAll(".*:", ""));
    assertThat(twoPorts.url()).startsWith("https://");
    assertThat(servedSerial(compute, ca1)).isEqualTo(first.certificate().getSerialNumber());
    assertThat(servedSerial(management, ca1)).as("the management listener").isEqualTo(first.certificate().getSerialNumber());

    // Renewed in place, as a process writing the files would: same paths, same inodes, new contents.
    var renewed = ca.issue("test-server", List.of("localhost"), List.of("127.0.0.1"), Set.of(Usage.SERVER), Duration.ofDays(1));
    renewed.writeTo(dir.resolve("renewed"));
    overwrite(dir.resolve("renewed"), certs);
    BigInteger next = renewed.certificate().getSerialNumber();
    await().atMost(Duration.ofSeconds(10)).until(() -> servedSerial(compute, ca1).equals(next) && servedSerial(management, ca1).equals(next));

    // A key that is not the certificate's: the renewed pair stays in service.
    var stray = ca.issue("stray", List.of("localhost"), List.of(), Set.of(Usage.SERVER), Duration.ofDays(1));
    Pem.writePrivateKey(dir.resolve("stray.key"), stray.key());
    Files.write(certs.resolve(Pem.KEY), Files.readAllBytes(dir.resolve("stray.key")));
    Thread.sleep(1500);
    assertThat(servedSerial(compute, ca1)).as("after a bad pair").isEqualTo(next);
    Files.writeString(certs.resolve(Pem.CERT), "not a certificate\n");
    Thread.sleep(1500);
    assertThat(servedSerial(compute, ca1)).as("after an unreadable certificate").isEqualTo(next);

    var third = ca.issue("test-server", List.of("localhost"), List.of("127.0.0.1"), Set.of(Usage.SERVER), Duration.ofDays(1));
    third.writeTo(dir.resolve("third"));
    overwrite(dir.resolve("third"), certs);
    await().atMost(Duration.ofSeconds(10)).until(() -> servedSerial(compute, ca1).equals(third.certificate().getSerialNumber()));
  }

  @Test
  void aTokenIsNeverSentOverPlainHttpUnlessTheCallerAllowedIt() throws Exception {
    HttpApi plain = serve(null);
    assertThat(plain.scheme()).isEqualTo("http");
    String url = "http://127.0.0.1:" + plain.port() + "/hello";
    assertThat(new HttpJson(TIMEOUT).get(url, Map.class)).as("without a token").containsEntry("hello", "tls");
    assertThatThrownBy(() -> new HttpJson(TIMEOUT, TokenSource.fixed("a-token")).get(url, Map.class))
        .isInstanceOf(HttpJson.PlainHttpRefused.class).hasMessageContaining("refusing to send a storage token over plain HTTP to " + url)
        .hasMessageNotContaining("a-token");
    assertThat(hellos).as("the refused call sent nothing").hasValue(1);
    assertThat(new HttpJson(TIMEOUT, TokenSource.fixed("a-token").allowPlainHttp()).get(url, Map.class))
        .as("allowed explicitly (development)").containsEntry("hello", "tls");
    assertThat(hellos).hasValue(2);
  }

  /** Writes the files of {@code from} over those of {@code to}, each truncated and rewritten in place. */
  private static void overwrite(Path from, Path to) throws IOException {
    for (String name : List.of(Pem.CERT, Pem.KEY)) {
      Files.write(to.resolve(name), Files.readAllBytes(from.resolve(name)));
    }
  }

  /** The serial of the certificate a new TLS connection (a context of its own: no session to resume) is served. */
  private static BigInteger servedSerial(int port, Path ca) throws IOException {
    try (var socket = (SSLSocket) ClientTls.trusting(ca).socketFactory().createSocket("127.0.0.1", port)) {
      socket.startHandshake();
      return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
    }
  }
}
