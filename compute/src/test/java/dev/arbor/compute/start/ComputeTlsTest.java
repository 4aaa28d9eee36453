package dev.arbor.compute.start;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.client.tls.CertificateAuthority.Usage;
import dev.arbor.client.tls.Pem;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import dev.arbor.testing.TestCertificates;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.postgresql.PGProperty;

/**
 * Compute PostgreSQL with TLS and three safekeepers replicating over verify-full TLS with their client identity (issue
 * 16, item 3): real PostgreSQL 15, real safekeeper and pageserver JVMs on HTTPS ({@link StorageProcesses#withTls()}: their
 * certificate is also the safekeepers' replication identity), certificates of the harness's CA, and of another CA made
 * with openssl. Commits reach
 * the safekeepers over TLS and survive a restart; a replication connection in the clear, without a client certificate,
 * with one of another CA or of another name is refused, and the password is still required; a renewed certificate is
 * served without a restart; a certificate for another name than the one the safekeepers connect to is not followed.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES) // a commit whose safekeepers cannot connect would wait for good
class ComputeTlsTest {
  private static TempDirectory dir;
  private static TestCertificates otherCa;
  private static TestCertificates.Issued safekeeperIdentity;
  private static StorageProcesses storage;

  @BeforeAll
  static void startStorage() {
    dir = TempDirectory.create("arbor-tls-");
    otherCa = TestCertificates.ca(dir.path(), "other-ca");
    // One TLS switch: the certificate the daemons serve HTTPS with is the safekeepers' client identity too.
    storage = new StorageProcesses(3).withTls().start();
    Path certs = storage.serverCertificateDirectory();
    safekeeperIdentity = new TestCertificates.Issued(certs.resolve(Pem.CERT), certs.resolve(Pem.KEY));
  }

  @AfterAll
  static void stopStorage() {
    if (storage != null) {
      storage.close();
    }
    if (dir != null) {
      dir.close();
    }
  }

  @Test
  void commitsReachTheSafekeepersOverTlsAndReplicationNeedsTheClientIdentity() throws Exception {
    TenantInfo tenant = storage.createTenant(15);
    TestCertificates.Issued server = issue("compute", "compute", "localhost");
    var tls = new ComputeAgentSpec.Tls(server.cert().toString(), server.key().toString(), storage.caFile().toString(), "localhost");
    Path work = dir.resolve("compute-" + tenant.tenantId());
    int rows;
    try (RunningCompute compute = Computes.startWithTls(storage, tenant.tenantId(), tenant.rootTimelineId(), work, tls)) {
      assertThat(Sql.one(compute, "SHOW ssl")).isEqualTo("on");
      // Before any commit, which would wait for a majority for good if the safekeepers could not connect.
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(Sql.one(compute, "SELECT string_agg(r.application_name "
          + "|| ':' || s.ssl || ':' || coalesce(s.client_dn, '-'), ',' ORDER BY r.application_name) FROM pg_stat_replication r "
          + "JOIN pg_stat_ssl s USING (pid)")).as("every safekeeper streams over TLS with its client certificate")
          .isEqualTo("sk-0:true:/CN=arbor_replication,sk-1:true:/CN=arbor_replication,sk-2:true:/CN=arbor_replication"));
      Sql.exec(compute, "CREATE TABLE t (id int PRIMARY KEY)");
      for (int i = 1; i <= 50; i++) {
        Sql.exec(compute, "INSERT INTO t VALUES (" + i + ")"); // each commit waits for a majority of safekeepers
      }
      Path key = work.resolve(ServerTls.DIR).resolve("server.key");
      assertThat(Files.getPosixFilePermissions(key)).as("PostgreSQL's copy of the key").hasToString("[OWNER_READ, OWNER_WRITE]");

      // A known password, so that each refusal below is about the certificate: the streaming safekeepers keep their sessions.
      Sql.exec(compute, "SET synchronous_commit = local; ALTER ROLE " + ComputeStart.REPLICATION_ROLE + " PASSWORD 'known'");
      int port = compute.port();
      Path clientKey = der(safekeeperIdentity);
      try (Connection ok = replication(port, "verify-full", safekeeperIdentity.cert(), clientKey, "known")) {
        assertThat(identifySystem(ok)).as("the positive control: the CA's certificate for the role, and the password").isNotBlank();
      }
      assertThatThrownBy(() -> replication(port, "disable", null, null, "known")).as("in the clear")
          .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).as(e.getMessage()).isEqualTo("28000"))
          .hasMessageContaining("no encryption");
      assertThatThrownBy(() -> replication(port, "require", null, null, "known")).as("TLS without a client certificate")
          .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).as(e.getMessage()).isEqualTo("28000"))
          .hasMessageContaining("requires a valid client certificate");
      var foreign = otherCa.issue("foreign-replication", "arbor_replication", "localhost");
      assertThatThrownBy(() -> replication(port, "verify-full", foreign.cert(), otherCa.convertKey(foreign, "der"), "known"))
          .as("a client certificate of another CA (Java offers none the server's CA list does not name)")
          .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).as(e.getMessage()).isEqualTo("28000"));
      // libpq presents its certificate whatever CAs the server names: PostgreSQL's TLS refuses it.
      assertThat(psqlReplication(port, safekeeperIdentity)).as("psql's positive control").startsWith("IDENTIFY_SYSTEM ok");
      String psql = psqlReplication(port, foreign);
      assertThat(psql).as("psql with another CA's certificate").doesNotContain("IDENTIFY_SYSTEM ok");
      await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(compute.server().logFile())
          .contains("could not accept SSL connection: certificate verify failed"));
      var intruder = issue("intruder", "sk-intruder", "localhost");
      assertThatThrownBy(() -> replication(port, "verify-full", intruder.cert(), der(intruder), "known"))
          .as("the CA's certificate for another name, with the password")
          .isInstanceOf(SQLException.class); // PostgreSQL answers as for a wrong password, and logs why
      await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(compute.server().logFile()).contains("CN mismatch"));
      assertThatThrownBy(() -> replication(port, "verify-full", safekeeperIdentity.cert(), clientKey, "wrong"))
          .as("the right certificate, a wrong password")
          .isInstanceOfSatisfying(SQLException.class, e -> assertThat(e.getSQLState()).as(e.getMessage()).isEqualTo("28P01"));

      // Renewal: the same files replaced with a new certificate, served without a restart.
      BigInteger before = servedSerial(port);
      assertThat(before).isEqualTo(TestCertificates.serial(server.cert()));
      long pid = compute.server().pid();
      TestCertificates.Issued renewed = issue("compute", "compute", "localhost");
      BigInteger next = TestCertificates.serial(renewed.cert());
      assertThat(next).isNotEqualTo(before);
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500)).until(() -> servedSerial(port).equals(next));
      assertThat(compute.server().pid()).as("no restart").isEqualTo(pid);
      for (int i = 51; i <= 60; i++) {
        Sql.exec(compute, "INSERT INTO t VALUES (" + i + ")");
      }
      rows = Integer.parseInt(Sql.one(compute, "SELECT count(*) FROM t"));
      compute.kill();
    }
    assertThat(rows).isEqualTo(60);
    try (RunningCompute again = Computes.startWithTls(storage, tenant.tenantId(), tenant.rootTimelineId(),
        dir.resolve("compute-again-" + tenant.tenantId()), tls)) {
      assertThat(Sql.one(again, "SELECT count(*) FROM t")).as("every acknowledged row after a restart").isEqualTo("60");
      Sql.exec(again, "INSERT INTO t VALUES (61)");
      assertThat(Sql.one(again, "SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE s.ssl"))
          .isEqualTo("3");
    }
  }

  @Test
  void aCertificateForAnotherNameIsNotFollowed() throws Exception {
    TenantInfo tenant = storage.createTenant(15);
    TestCertificates.Issued server = issue("compute-other-name", "compute", "db.example.org");
    var tls = new ComputeAgentSpec.Tls(server.cert().toString(), server.key().toString(), storage.caFile().toString(), "localhost");
    try (RunningCompute compute = Computes.startWithTls(storage, tenant.tenantId(), tenant.rootTimelineId(),
        dir.resolve("compute-" + tenant.tenantId()), tls)) {
      String where = "compute=localhost:" + compute.port();
      await().atMost(Duration.ofSeconds(30)).until(() -> storage.safekeeperIds().stream().allMatch(id -> storage.countLogLines(id,
          l -> l.contains("event=wal_receiver_failed") && l.contains(where) && l.contains("reason=tls_failed")) > 0));
      assertThat(Sql.one(compute, "SELECT count(*) FROM pg_stat_replication")).as("no safekeeper streams").isEqualTo("0");
    }
  }

  /**
   * A certificate of the harness's CA, subject {@code CN=commonName}, for {@code dnsName}, for server and client use, in
   * {@code dir/file} ({@code tls.crt}, {@code tls.key}), written over an earlier one of the same file (as a renewal does).
   */
  private static TestCertificates.Issued issue(String file, String commonName, String dnsName) throws IOException {
    Path out = dir.resolve(file);
    storage.certificateAuthority().issue(commonName, List.of(dnsName), List.of(), Set.of(Usage.SERVER, Usage.CLIENT), Duration.ofDays(1))
        .writeTo(out);
    return new TestCertificates.Issued(out.resolve(Pem.CERT), out.resolve(Pem.KEY));
  }

  /** {@code issued}'s key as PKCS#8 DER, the only form pgjdbc's own factory reads. */
  private static Path der(TestCertificates.Issued issued) throws IOException {
    Path out = issued.key().resolveSibling(issued.key().getFileName() + ".der");
    Files.write(out, Pem.readPrivateKey(issued.key()).getEncoded());
    return out;
  }

  /** A physical replication connection as the replication role, as a safekeeper makes it. */
  private static Connection replication(int port, String sslMode, Path cert, Path derKey, String password) throws SQLException {
    var props = new Properties();
    PGProperty.USER.set(props, ComputeStart.REPLICATION_ROLE);
    PGProperty.PASSWORD.set(props, password);
    PGProperty.REPLICATION.set(props, "true");
    PGProperty.ASSUME_MIN_SERVER_VERSION.set(props, "9.4");
    PGProperty.PREFER_QUERY_MODE.set(props, "simple");
    PGProperty.SSL_MODE.set(props, sslMode);
    if (cert == null) {
      // pgjdbc's factory that presents no client certificate (and checks no server certificate: not what is tested here)
      PGProperty.SSL_FACTORY.set(props, "org.postgresql.ssl.NonValidatingFactory");
    } else {
      // pgjdbc's own factory, which reads a key as PKCS#8 DER
      PGProperty.SSL_ROOT_CERT.set(props, storage.caFile().toString());
      PGProperty.SSL_CERT.set(props, cert.toString());
      PGProperty.SSL_KEY.set(props, derKey.toString());
    }
    PGProperty.CONNECT_TIMEOUT.set(props, 10);
    return DriverManager.getConnection("jdbc:postgresql://localhost:" + port + "/postgres", props);
  }

  /** psql (libpq) as the replication role with {@code cert}, password 'known'; its output, "IDENTIFY_SYSTEM ok" if it got in. */
  private static String psqlReplication(int port, TestCertificates.Issued cert) throws Exception {
    Files.setPosixFilePermissions(cert.key(), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    String conninfo = "host=localhost port=" + port + " user=" + ComputeStart.REPLICATION_ROLE + " password=known sslmode=require"
        + " sslcert=" + cert.cert() + " sslkey=" + cert.key() + " replication=true connect_timeout=10";
    Process p = new ProcessBuilder(dev.arbor.postgres.PostgresInstallation.find(15).binary("psql").toString(), "-X", "-A", "-t",
        "-d", conninfo, "-c", "IDENTIFY_SYSTEM").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    return p.waitFor() == 0 ? "IDENTIFY_SYSTEM ok: " + out : out;
  }

  private static String identifySystem(Connection c) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("IDENTIFY_SYSTEM")) {
      rs.next();
      return rs.getString("systemid");
    }
  }

  /** The serial of the certificate PostgreSQL serves now, as a TLS client that trusts the test CA sees it. */
  private static BigInteger servedSerial(int port) throws Exception {
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    try (InputStream in = Files.newInputStream(storage.caFile())) {
      trust.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    var tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(null, tmf.getTrustManagers(), null);
    try (Socket plain = new Socket("127.0.0.1", port)) {
      plain.setSoTimeout(10_000);
      var out = new DataOutputStream(plain.getOutputStream());
      out.writeInt(8);
      out.writeInt(80877103); // SSLRequest
      out.flush();
      assertThat(plain.getInputStream().read()).as("PostgreSQL's answer to SSLRequest").isEqualTo('S');
      try (SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, "localhost", port, false)) {
        tls.startHandshake();
        return ((X509Certificate) tls.getSession().getPeerCertificates()[0]).getSerialNumber();
      }
    }
  }
}
