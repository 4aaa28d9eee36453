package dev.arbor.storage;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.client.HttpJson;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.client.tls.Pem;
import dev.arbor.testing.StorageProcesses;
import java.io.IOException;
import java.math.BigInteger;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.Test;

/**
 * The pageserver and a safekeeper as processes with {@code --tls-cert}, {@code --tls-key} and {@code --tls-ca} (issue 16,
 * "TLS"): every port serves HTTPS, the pageserver's own calls to the safekeeper go over it with its token, plain HTTP to
 * a TLS port fails, a certificate renewed in the files is served on every port without a restart, and a bad pair keeps
 * the last good one with one {@code event=tls_reload_failed} line per daemon and no stack trace.
 */
class StorageTlsTest {

  @Test
  void everyPortServesHttpsAndARenewedCertificateWithoutARestart() throws Exception {
    try (var storage = new StorageProcesses(1).withTls().withManagementListener().start()) {
      assertThat(storage.pageserverUrl()).startsWith("https://");
      TenantInfo tenant = storage.createTenant(15);
      // A branch and its deletion: the pageserver asks the safekeeper for the end of WAL and deletes its copy there.
      TimelineInfo branch = storage.branch(tenant.tenantId(), tenant.rootTimelineId(), null);
      storage.pageserver().deleteTimeline(tenant.tenantId(), branch.timelineId());
      assertThat(storage.timelines(tenant.tenantId())).extracting(TimelineInfo::timelineId).containsExactly(tenant.rootTimelineId());
      assertThat(log(storage, "pageserver")).doesNotContain("safekeeper_delete_failed", "SSLHandshakeException", "PlainHttpRefused");

      String plain = storage.pageserverUrl().replace("https://", "http://") + "/v1/status";
      assertThatThrownBy(() -> new HttpJson(Duration.ofSeconds(10)).get(plain, Map.class)).as("plain HTTP to the TLS port")
          .isInstanceOf(IOException.class);

      List<Integer> ports = new ArrayList<>();
      for (String url : List.of(storage.pageserverUrl(), storage.pageserverManagementUrl(), storage.safekeeperUrls().get("sk-0"),
          storage.safekeeperManagementUrls().get("sk-0"))) {
        ports.add(URI.create(url).getPort());
      }
      assertThat(ports).doesNotHaveDuplicates().hasSize(4);
      Path ca = storage.caFile();
      BigInteger first = servedSerial(ports.get(0), ca);
      assertThat(ports).allSatisfy(p -> assertThat(servedSerial(p, ca)).isEqualTo(first));

      BigInteger renewed = storage.issueServerCertificate().certificate().getSerialNumber();
      await().atMost(Duration.ofSeconds(15)).untilAsserted(() ->
          assertThat(ports).allSatisfy(p -> assertThat(servedSerial(p, ca)).as("port %d", p).isEqualTo(renewed)));
      assertThat(storage.tenants()).as("the API over the renewed certificate").extracting(TenantInfo::tenantId)
          .contains(tenant.tenantId());

      // A key written over the daemons' that is not their certificate's.
      Path certs = storage.serverCertificateDirectory();
      Files.writeString(certs.resolve(Pem.KEY), "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
      await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> {
        ports.forEach(p -> assertThat(servedSerial(p, ca)).isEqualTo(renewed));
        assertThat(log(storage, "pageserver")).contains("event=tls_reload_failed");
        assertThat(log(storage, "sk-0")).contains("event=tls_reload_failed");
      });
      Thread.sleep(2500); // handshakes after the failure: the same files are not tried (nor logged) again
      ports.forEach(p -> assertThat(servedSerial(p, ca)).isEqualTo(renewed));
      for (String daemon : List.of("pageserver", "sk-0")) {
        String text = log(storage, daemon);
        assertThat(text.lines().filter(l -> l.contains("event=tls_reload_failed"))).as("%s's log", daemon).hasSize(1)
            .allSatisfy(l -> assertThat(l).contains("kept=").doesNotContain("BEGIN PRIVATE KEY"));
        assertThat(text.lines().filter(l -> l.startsWith("\tat ") || l.contains("Exception:"))).as("stack traces in %s's log", daemon)
            .isEmpty();
      }

      BigInteger third = storage.issueServerCertificate().certificate().getSerialNumber();
      await().atMost(Duration.ofSeconds(15)).untilAsserted(() ->
          assertThat(ports).allSatisfy(p -> assertThat(servedSerial(p, ca)).isEqualTo(third)));
    }
  }

  private static String log(StorageProcesses storage, String daemon) throws IOException {
    return Files.readString(storage.directory().resolve("logs/" + daemon + ".log"));
  }

  /** The serial a new TLS connection is served (a context of its own: no session to resume). */
  private static BigInteger servedSerial(int port, Path ca) {
    try (var socket = (SSLSocket) ClientTls.trusting(ca).socketFactory().createSocket("127.0.0.1", port)) {
      socket.startHandshake();
      return ((X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
