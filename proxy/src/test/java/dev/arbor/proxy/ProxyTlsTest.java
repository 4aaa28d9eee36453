package dev.arbor.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.TempDirectory;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The proxy terminating TLS: after an SSLRequest (every PostgreSQL client) and as PostgreSQL 17's direct TLS. */
class ProxyTlsTest {
  @RegisterExtension static final PostgresFixture pg = new PostgresFixture();
  static TempDirectory dir;
  static ProxyServer proxy;
  static int port;

  @BeforeAll
  static void start() throws Exception {
    dir = TempDirectory.create("arbor-proxy-tls-");
    Path cert = dir.resolve("tls.crt");
    Path key = dir.resolve("tls.key");
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
        "-subj", "/CN=localhost", "-keyout", key.toString(), "-out", cert.toString());
    var computes = new TestComputes().add("secure", pg.server());
    proxy = new ProxyServer(ProxyConfig.defaults().withTls(ProxyTls.fromPem(cert, key)), computes, new SimpleMeterRegistry());
    port = proxy.listen("secure", new InetSocketAddress("127.0.0.1", 0)).getPort();
  }

  @AfterAll
  static void stop() {
    if (proxy != null) {
      proxy.close();
    }
    if (dir != null) {
      dir.close();
    }
  }

  static void openssl(String... args) throws IOException, InterruptedException {
    var cmd = new java.util.ArrayList<>(List.of("openssl"));
    cmd.addAll(List.of(args));
    Process p;
    try {
      p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    } catch (IOException e) {
      throw new IllegalStateException("this test makes its certificate with openssl, which is missing: install it with"
          + " sudo apt-get install openssl (scripts/install-test-deps.sh does)", e);
    }
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor()).as(out).isZero();
  }

  @Test
  void sslRequestStartsTlsAndTheQueryAnswers() throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres&sslmode=require");
         ResultSet rs = c.createStatement().executeQuery("SELECT 41 + 1")) {
      rs.next();
      assertThat(rs.getInt(1)).isEqualTo(42);
    }
  }

  @Test
  void directTlsWithAlpnPostgresqlIsServed() throws Exception {
    try (SSLSocket s = directTls(new String[] {"postgresql"})) {
      assertThat(s.getApplicationProtocol()).isEqualTo("postgresql");
      s.getOutputStream().write(ProxyServerTest.startupMessage("postgres", "postgres"));
      assertThat(ProxyServerTest.untilReady(s.getInputStream())).isTrue();
    }
  }

  @Test
  void directTlsWithoutAlpnIsRefused() throws Exception {
    try (SSLSocket s = directTls(new String[0])) {
      s.getOutputStream().write(ProxyServerTest.startupMessage("postgres", "postgres"));
      var in = new java.io.DataInputStream(s.getInputStream());
      Wire.Message m = Wire.readMessage(in, 1 << 16);
      assertThat(m.type()).isEqualTo(Wire.ERROR_RESPONSE);
      assertThat(Wire.errorFields(m.body()).get('M')).contains("ALPN");
    }
  }

  @Test
  void aKeyInPkcs1FormIsRefusedWithTheFix() throws Exception {
    Path cert = dir.resolve("rsa.crt");
    Path key = dir.resolve("rsa.key");
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
        "-keyout", dir.resolve("rsa8.key").toString(), "-out", cert.toString());
    openssl("pkey", "-in", dir.resolve("rsa8.key").toString(), "-traditional", "-out", key.toString());
    assertThat(Files.readString(key)).contains("BEGIN RSA PRIVATE KEY");
    assertThatThrownBy(() -> ProxyTls.fromPem(cert, key)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("PKCS#8").hasMessageContaining("privateKey.encoding: PKCS8");
    // the same key in PKCS#8 form is fine
    assertThat(ProxyTls.fromPem(cert, dir.resolve("rsa8.key"))).isNotNull();
  }

  /** A TLS connection that starts with the ClientHello, as libpq's sslnegotiation=direct does. */
  static SSLSocket directTls(String[] alpn) throws Exception {
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, new TrustManager[] {new X509TrustManager() {
      @Override public void checkClientTrusted(X509Certificate[] chain, String authType) {}
      @Override public void checkServerTrusted(X509Certificate[] chain, String authType) {}
      @Override public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
    }}, null);
    var s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port);
    s.setSoTimeout(10_000);
    SSLParameters params = s.getSSLParameters();
    params.setApplicationProtocols(alpn);
    s.setSSLParameters(params);
    s.startHandshake();
    return s;
  }
}
