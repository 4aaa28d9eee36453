package dev.arbor.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.testing.FreePort;
import dev.arbor.testing.PostgresFixture;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.SocketFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Two proxy replicas serving one Endpoint, as behind a Kubernetes Service: the client's connection goes to replica
 * A and its CancelRequest (a new TCP connection) to replica B, which did not issue the key and forwards it to its
 * peer's cancel port; A sends it to the compute.
 */
class CancelAcrossReplicasTest {
  @RegisterExtension static final PostgresFixture pg = new PostgresFixture();

  static final String ENDPOINT = "shop/app";
  static final TestComputes computes = new TestComputes();
  static Replica a;
  static Replica b;

  /**
   * One replica: its proxy, its listener for the Endpoint, its cancel port on {@code cancelPort} and its registry. In
   * a cluster every replica has the same cancel port on its own pod IP; here both share 127.0.0.1, so each forwards
   * to the other's port.
   */
  record Replica(ProxyServer proxy, SimpleMeterRegistry registry, int endpointPort, PeerCancelPort cancelPort) {
    static Replica start(int cancelPort, int peerCancelPort) throws IOException {
      var registry = new SimpleMeterRegistry();
      var forwarder = new PeerCancelForwarder("127.0.0.1", peerCancelPort, null);
      var proxy = new ProxyServer(ProxyConfig.defaults(), computes, registry, forwarder);
      int port = proxy.listen(ENDPOINT, new InetSocketAddress("127.0.0.1", 0)).getPort();
      return new Replica(proxy, registry, port, PeerCancelPort.listen(proxy, new InetSocketAddress("127.0.0.1", cancelPort)));
    }

    double counter(String name) {
      return registry.counter(name).count();
    }

    void close() {
      cancelPort.close();
      proxy.close();
    }
  }

  @BeforeAll
  static void startReplicas() throws IOException {
    computes.add(ENDPOINT, pg.server());
    int aCancel = FreePort.pick();
    int bCancel = FreePort.pick();
    a = Replica.start(aCancel, bCancel);
    b = Replica.start(bCancel, aCancel);
  }

  @AfterAll
  static void stopReplicas() {
    if (a != null) {
      a.close();
    }
    if (b != null) {
      b.close();
    }
  }

  /**
   * The Service's load balancing, as pgjdbc sees it: the first connection (the session) goes where the URL says,
   * every later one (the CancelRequest) to the address in {@code socketFactoryArg}, the other replica.
   */
  public static final class LaterConnectionsElsewhere extends SocketFactory {
    private final InetSocketAddress elsewhere;
    private final AtomicInteger made = new AtomicInteger();

    public LaterConnectionsElsewhere(String elsewhere) {
      int colon = elsewhere.lastIndexOf(':');
      this.elsewhere = new InetSocketAddress(elsewhere.substring(0, colon), Integer.parseInt(elsewhere.substring(colon + 1)));
    }

    @Override
    public Socket createSocket() {
      boolean first = made.getAndIncrement() == 0;
      return new Socket() {
        @Override
        public void connect(SocketAddress endpoint, int timeout) throws IOException {
          super.connect(first ? endpoint : elsewhere, timeout);
        }
      };
    }

    @Override
    public Socket createSocket(String host, int port) {
      throw new UnsupportedOperationException("pgjdbc connects sockets from createSocket()");
    }

    @Override
    public Socket createSocket(String host, int port, java.net.InetAddress localHost, int localPort) {
      throw new UnsupportedOperationException("pgjdbc connects sockets from createSocket()");
    }

    @Override
    public Socket createSocket(java.net.InetAddress host, int port) {
      throw new UnsupportedOperationException("pgjdbc connects sockets from createSocket()");
    }

    @Override
    public Socket createSocket(java.net.InetAddress address, int port, java.net.InetAddress localAddress, int localPort) {
      throw new UnsupportedOperationException("pgjdbc connects sockets from createSocket()");
    }
  }

  @Test
  void aCancelThatReachesTheOtherReplicaIsForwardedToTheOneHoldingTheConnection() throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + a.endpointPort() + "/postgres?user=postgres&connectTimeout=60"
        + "&socketFactory=" + LaterConnectionsElsewhere.class.getName() + "&socketFactoryArg=127.0.0.1:" + b.endpointPort();
    try (Connection c = DriverManager.getConnection(url); Statement st = c.createStatement()) {
      assertThat(a.proxy().openConnections(ENDPOINT)).isEqualTo(1);
      Future<Boolean> sleeping = Executors.newVirtualThreadPerTaskExecutor().submit(() -> st.execute("SELECT pg_sleep(60)"));
      Thread.sleep(500);
      long t0 = System.nanoTime();
      st.cancel(); // to replica B, which did not issue the key
      assertThatThrownBy(() -> sleeping.get(30, TimeUnit.SECONDS)).hasRootCauseInstanceOf(SQLException.class)
          .rootCause().satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("57014"));
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));
      try (ResultSet rs = st.executeQuery("SELECT 2")) {
        rs.next();
        assertThat(rs.getInt(1)).isEqualTo(2);
      }
    }
    assertThat(b.counter("arbor_proxy_cancel_requests_forwarded")).as("B forwarded the key it did not issue").isEqualTo(1);
    assertThat(b.counter("arbor_proxy_cancel_requests")).isZero();
    assertThat(a.counter("arbor_proxy_cancel_requests")).as("A sent it to the compute").isEqualTo(1);
    assertThat(a.counter("arbor_proxy_cancel_requests_forwarded")).as("a forwarded cancel is never forwarded again").isZero();
  }

  @Test
  void aReplicaLeavesItsOwnAddressOutOfThePeers() throws Exception {
    assertThat(new PeerCancelForwarder("127.0.0.1", 9091, "127.0.0.1").resolve()).isEmpty();
    assertThat(new PeerCancelForwarder("127.0.0.1", 9091, "10.0.0.7").resolve())
        .containsExactly(new InetSocketAddress("127.0.0.1", 9091));
  }
}
