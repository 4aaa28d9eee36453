package dev.arbor.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.testing.PostgresFixture;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The proxy in front of real PostgreSQL servers: relaying, cancel, wake on connect (single flight, bounds) and
 * hostile input, each ending in an ErrorResponse while the proxy goes on serving the other endpoint.
 */
class ProxyServerTest {
  @RegisterExtension static final PostgresFixture steady = new PostgresFixture();
  @RegisterExtension static final PostgresFixture sleepy = new PostgresFixture();
  static final String GUARDED_PASSWORD = "a-scram-password";
  @RegisterExtension static final PostgresFixture guarded = new PostgresFixture().withPassword(GUARDED_PASSWORD);

  static final TestComputes computes = new TestComputes();
  static ProxyServer proxy;
  static int steadyPort;
  static int sleepyPort;
  static int unknownPort;
  static int guardedPort;

  @BeforeAll
  static void startProxy() throws IOException {
    computes.add("steady", steady.server()).add("sleepy", sleepy.server()).add("guarded", guarded.server());
    proxy = new ProxyServer(ProxyConfig.defaults().withStartupTimeout(Duration.ofSeconds(1)), computes, new SimpleMeterRegistry());
    steadyPort = proxy.listen("steady", new InetSocketAddress("127.0.0.1", 0)).getPort();
    sleepyPort = proxy.listen("sleepy", new InetSocketAddress("127.0.0.1", 0)).getPort();
    unknownPort = proxy.listen("gone", new InetSocketAddress("127.0.0.1", 0)).getPort();
    guardedPort = proxy.listen("guarded", new InetSocketAddress("127.0.0.1", 0)).getPort();
  }

  @AfterAll
  static void stopProxy() {
    if (proxy != null) {
      proxy.close();
    }
  }

  static Connection connect(int port) throws SQLException {
    return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres&connectTimeout=60");
  }

  static int selectOne(int port) throws SQLException {
    try (Connection c = connect(port); Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  /** The other endpoint still answers: a refusal never takes the proxy down. */
  static void steadyStillServes() throws SQLException {
    assertThat(selectOne(steadyPort)).isEqualTo(1);
  }

  @Test
  void relaysQueriesAndRoutesCancelRequests() throws Exception {
    assertThat(selectOne(steadyPort)).isEqualTo(1);
    try (Connection c = connect(steadyPort); Statement st = c.createStatement()) {
      var sleeping = Executors.newVirtualThreadPerTaskExecutor().submit(() -> st.execute("SELECT pg_sleep(60)"));
      Thread.sleep(500);
      long t0 = System.nanoTime();
      st.cancel(); // pgjdbc sends a CancelRequest with the proxy's key to the proxy's port
      assertThatThrownBy(sleeping::get).hasRootCauseInstanceOf(SQLException.class)
          .rootCause().satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("57014"));
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(30));
      // the connection goes on after a cancel
      try (ResultSet rs = st.executeQuery("SELECT 2")) {
        rs.next();
        assertThat(rs.getInt(1)).isEqualTo(2);
      }
    }
  }

  @Test
  void passesTheScramExchangeAndAWrongPasswordsError() throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + guardedPort + "/postgres?user=postgres&password=";
    try (Connection c = DriverManager.getConnection(url + GUARDED_PASSWORD); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT current_user")) {
      rs.next();
      assertThat(rs.getString(1)).isEqualTo("postgres");
    }
    assertThatThrownBy(() -> DriverManager.getConnection(url + "wrong").close()).isInstanceOf(SQLException.class)
        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("28P01"));
    steadyStillServes();
  }

  @Test
  void largeResultsAndLargeParametersPassIntactBothWays() throws Exception {
    String big = "0123456789abcdef".repeat(640 * 1024); // 10 MiB, far beyond the sockets' buffers
    // a byte lost on the way would leave pgjdbc waiting: the socket timeout turns that into a failure
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + steadyPort + "/postgres?user=postgres&socketTimeout=60");
        var st = c.prepareStatement("SELECT md5(?), repeat(md5('arbor'), 320000)")) {
      st.setString(1, big);
      try (ResultSet rs = st.executeQuery()) {
        rs.next();
        assertThat(rs.getString(1)).isEqualTo(md5Hex(big));
        String result = rs.getString(2);
        assertThat(result).hasSize(32 * 320000).isEqualTo(md5Hex("arbor").repeat(320000));
      }
      // a plain connection moved to the selector threads: no thread of its own carries the client's bytes
      assertThat(Thread.getAllStackTraces().keySet()).extracting(Thread::getName)
          .anyMatch(name -> name.startsWith("relay-")).noneMatch(name -> name.equals("c2b-steady"));
    }
  }

  static String md5Hex(String text) throws Exception {
    return java.util.HexFormat.of().formatHex(
        java.security.MessageDigest.getInstance("MD5").digest(text.getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void wakesASuspendedEndpointOnceForTwentyClientsAndAnswersThemAll() throws Exception {
    sleepy.server().stop();
    long wakesBefore = proxy.wakesRequested();
    var start = new CountDownLatch(1);
    List<Future<Integer>> answers = new ArrayList<>();
    try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < 20; i++) {
        answers.add(pool.submit(() -> {
          start.await();
          return selectOne(sleepyPort);
        }));
      }
      start.countDown();
      for (Future<Integer> a : answers) {
        assertThat(a.get()).isEqualTo(1);
      }
    }
    assertThat(proxy.wakesRequested() - wakesBefore).isEqualTo(1);
    assertThat(computes.touches.get()).isPositive();
  }

  @Test
  void twoHundredConnectionsToASuspendedEndpointEachGetAnAnswerOrAClearError() throws Exception {
    sleepy.server().stop();
    long wakesBefore = proxy.wakesRequested();
    var start = new CountDownLatch(1);
    Map<String, Integer> outcomes = new ConcurrentHashMap<>();
    List<Future<?>> all = new ArrayList<>();
    try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < 200; i++) {
        all.add(pool.submit(() -> {
          start.await();
          try (Connection c = connect(sleepyPort); Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
            rs.next();
            outcomes.merge("answered", 1, Integer::sum);
          } catch (SQLException e) {
            // held beyond the proxy's cap, or beyond the compute's max_connections: both say so
            assertThat(e.getSQLState()).as(e.getMessage()).isEqualTo("53300");
            assertThat(e.getMessage()).containsAnyOf("too many connections are waiting for endpoint sleepy", "too many clients");
            outcomes.merge("refused", 1, Integer::sum);
          }
          return null;
        }));
      }
      start.countDown();
      for (Future<?> f : all) {
        f.get();
      }
    }
    assertThat(outcomes.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(200);
    assertThat(outcomes.get("answered")).isGreaterThanOrEqualTo(ProxyConfig.DEFAULT_MAX_HELD / 2);
    assertThat(proxy.wakesRequested() - wakesBefore).isEqualTo(1);
    steadyStillServes();
  }

  @Test
  void anEndpointThatMustNotWakeIsRefusedWithItsReason() throws Exception {
    sleepy.server().stop();
    computes.refuse("sleepy", "endpoint sleepy is suspended (spec.suspended: true); connections do not wake it");
    try {
      long wakesBefore = proxy.wakesRequested();
      assertThatThrownBy(() -> selectOne(sleepyPort)).isInstanceOf(SQLException.class)
          .hasMessageContaining("spec.suspended: true")
          .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("08004"));
      assertThat(proxy.wakesRequested()).isEqualTo(wakesBefore);
      assertThat(sleepy.server().isRunning()).isFalse();
    } finally {
      computes.allow("sleepy");
    }
    steadyStillServes();
  }

  @Test
  void anUnknownEndpointIsRefused() throws Exception {
    assertThatThrownBy(() -> selectOne(unknownPort)).isInstanceOf(SQLException.class)
        .hasMessageContaining("there is no endpoint gone");
    steadyStillServes();
  }

  @Test
  void garbageAndOversizePacketsGetAProtocolViolation() throws Exception {
    assertThat(rawError(steadyPort, new byte[] {0x7f, 0x12, 0x33, 0x01, 0, 0, 0, 0}))
        .contains("08P01").contains("invalid length of startup packet");
    var oversize = new ByteArrayOutputStream();
    Wire.writeInt(oversize, 20_000);
    Wire.writeInt(oversize, Wire.PROTOCOL_3_0);
    oversize.writeBytes(new byte[100]);
    assertThat(rawError(steadyPort, oversize.toByteArray())).contains("08P01").contains("at most 10000");
    var noUser = new ByteArrayOutputStream();
    Wire.writeInt(noUser, 9);
    Wire.writeInt(noUser, Wire.PROTOCOL_3_0);
    noUser.write(0);
    assertThat(rawError(steadyPort, noUser.toByteArray())).contains("no PostgreSQL user name");
    var wrongProtocol = new ByteArrayOutputStream();
    Wire.writeInt(wrongProtocol, 9);
    Wire.writeInt(wrongProtocol, 2 << 16);
    wrongProtocol.write(0);
    assertThat(rawError(steadyPort, wrongProtocol.toByteArray())).contains("unsupported frontend protocol 2.0");
    steadyStillServes();
  }

  @Test
  void aClientThatStallsMidStartupIsToldSo() throws Exception {
    // half of a startup packet's header, then nothing: the proxy's 1 s startup timeout ends it
    assertThat(rawError(steadyPort, new byte[] {0, 0, 0})).contains("no complete startup packet within 1 s");
    steadyStillServes();
  }

  @Test
  void aClientThatDoesNotAnswerTheAuthenticationRequestIsToldSo() throws Exception {
    try (var p = new ProxyServer(ProxyConfig.defaults().withAuthTimeout(Duration.ofSeconds(1)), computes, new SimpleMeterRegistry());
        Socket s = new Socket()) {
      int port = p.listen("guarded", new InetSocketAddress("127.0.0.1", 0)).getPort();
      s.connect(new InetSocketAddress("127.0.0.1", port));
      s.setSoTimeout(10_000);
      s.getOutputStream().write(startupMessage("postgres", "postgres"));
      var in = new DataInputStream(s.getInputStream());
      assertThat(in.read()).as("the compute's AuthenticationSASL").isEqualTo('R');
      in.readFully(new byte[in.readInt() - 4]);
      assertThat(in.read()).as("an ErrorResponse once the client kept silent").isEqualTo('E');
      byte[] body = new byte[in.readInt() - 4];
      in.readFully(body);
      assertThat(Wire.errorFields(body).toString()).contains("08P01")
          .contains("the client did not answer the authentication request within 1 s");
    }
    steadyStillServes();
  }

  @Test
  void gssEncryptionIsDeclinedAndTheStartupGoesOn() throws Exception {
    try (Socket s = new Socket("127.0.0.1", steadyPort)) {
      s.setSoTimeout(10_000);
      var gss = new ByteArrayOutputStream();
      Wire.writeInt(gss, 8);
      Wire.writeInt(gss, Wire.GSSENC_REQUEST);
      s.getOutputStream().write(gss.toByteArray());
      assertThat(s.getInputStream().read()).isEqualTo('N');
      s.getOutputStream().write(startupMessage("postgres", "postgres"));
      assertThat(untilReady(s.getInputStream())).isTrue();
    }
  }

  @Test
  void sslRequestIsDeclinedWithoutACertificate() throws Exception {
    assertThatThrownBy(() -> DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + steadyPort + "/postgres?user=postgres&sslmode=require"))
        .isInstanceOf(SQLException.class).hasMessageContaining("does not support SSL");
    // sslmode=prefer falls back to plain text
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + steadyPort + "/postgres?user=postgres&sslmode=prefer")) {
      assertThat(c.isValid(5)).isTrue();
    }
  }

  @Test
  void aComputeThatNeverStartsEndsInAnErrorAfterTheWakeTimeout() throws Exception {
    var broken = new TestComputes();
    broken.add("never", sleepy.server());
    broken.breakWakes("never");
    sleepy.server().stop();
    try (var short_ = new ProxyServer(ProxyConfig.defaults().withWakeTimeout(Duration.ofSeconds(2)), broken, new SimpleMeterRegistry())) {
      int port = short_.listen("never", new InetSocketAddress("127.0.0.1", 0)).getPort();
      long t0 = System.nanoTime();
      assertThatThrownBy(() -> selectOne(port)).isInstanceOf(SQLException.class)
          .hasMessageContaining("endpoint never did not start within 2 s");
      assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
    }
    steadyStillServes();
  }

  @Test
  void aWakeThatFailsIsReportedToTheClientAndNotRepeated() throws Exception {
    var failing = new TestComputes();
    failing.add("sleepy", sleepy.server());
    failing.failWakes("sleepy", "the storage engine is not running: ./arbor up");
    sleepy.server().stop();
    try (var p = new ProxyServer(ProxyConfig.defaults(), failing, new SimpleMeterRegistry())) {
      int port = p.listen("sleepy", new InetSocketAddress("127.0.0.1", 0)).getPort();
      assertThatThrownBy(() -> selectOne(port)).isInstanceOf(SQLException.class)
          .hasMessageContaining("the storage engine is not running: ./arbor up");
      assertThat(failing.wakes.get()).isEqualTo(1);
    }
  }

  @Test
  void wakesBeyondTheRateLimitAreRefused() throws Exception {
    var limited = new TestComputes();
    limited.add("sleepy", sleepy.server());
    try (var strict = new ProxyServer(ProxyConfig.defaults().withWakesPerMinute(1), limited, new SimpleMeterRegistry())) {
      int port = strict.listen("sleepy", new InetSocketAddress("127.0.0.1", 0)).getPort();
      sleepy.server().stop();
      assertThat(selectOne(port)).isEqualTo(1);
      sleepy.server().stop();
      assertThatThrownBy(() -> selectOne(port)).isInstanceOf(SQLException.class)
          .hasMessageContaining("was woken 1 times in the last minute");
      assertThat(limited.wakes.get()).isEqualTo(1);
    }
  }

  @Test
  void connectionsClosedForASuspendAreToldWhy() throws Exception {
    try (Connection c = connect(steadyPort); Statement st = c.createStatement()) {
      st.execute("SELECT 1");
      assertThat(proxy.closeIdleSuspended("steady", Duration.ofSeconds(30))).isPositive();
      assertThatThrownBy(() -> st.execute("SELECT 1")).isInstanceOf(SQLException.class)
          .hasMessageContaining("endpoint steady was suspended after 30s without activity")
          .hasMessageContaining(ProxyServer.WAKE_HINT);
    }
    steadyStillServes();
  }

  @Test
  void aConnectionHeldForAWakeIsLeftAloneAtASuspendAndGetsItsAnswer() throws Exception {
    var held = new TestComputes();
    held.add("sleepy", sleepy.server());
    held.breakWakes("sleepy"); // the wake is asked for; the test starts the compute itself below
    sleepy.server().stop();
    try (var p = new ProxyServer(ProxyConfig.defaults(), held, new SimpleMeterRegistry()); var pool = Executors.newSingleThreadExecutor()) {
      int port = p.listen("sleepy", new InetSocketAddress("127.0.0.1", 0)).getPort();
      Future<Integer> answer = pool.submit(() -> selectOne(port));
      await().atMost(Duration.ofSeconds(60)).until(() -> p.openConnections("sleepy") == 1 && held.wakes.get() == 1);
      assertThat(p.closeIdleSuspended("sleepy", Duration.ofSeconds(30))).as("held, not connected to a compute").isZero();
      sleepy.server().start();
      assertThat(answer.get(60, TimeUnit.SECONDS)).isEqualTo(1);
    }
  }

  // --- raw protocol helpers ---

  /** Sends {@code bytes} as a client's first packet and returns the ErrorResponse's fields as text. */
  static String rawError(int port, byte[] bytes) throws IOException {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(bytes);
      out.flush();
      var in = new DataInputStream(s.getInputStream());
      int type = in.read();
      assertThat(type).as("an ErrorResponse").isEqualTo('E');
      byte[] body = new byte[in.readInt() - 4];
      in.readFully(body);
      assertThat(in.read()).as("the proxy closes after the error").isEqualTo(-1);
      return Wire.errorFields(body).toString();
    }
  }

  static byte[] startupMessage(String user, String database) {
    var body = new ByteArrayOutputStream();
    Wire.writeInt(body, Wire.PROTOCOL_3_0);
    for (String s : new String[] {"user", user, "database", database}) {
      body.writeBytes(s.getBytes(StandardCharsets.UTF_8));
      body.write(0);
    }
    body.write(0);
    var packet = new ByteArrayOutputStream();
    Wire.writeInt(packet, body.size() + 4);
    packet.writeBytes(body.toByteArray());
    return packet.toByteArray();
  }

  /** Reads backend messages until ReadyForQuery (true) or an ErrorResponse (false). */
  static boolean untilReady(InputStream raw) throws IOException {
    var in = new DataInputStream(raw);
    while (true) {
      Wire.Message m = Wire.readMessage(in, 1 << 20);
      if (m == null || m.type() == Wire.ERROR_RESPONSE) {
        return false;
      }
      if (m.type() == Wire.READY_FOR_QUERY) {
        return true;
      }
    }
  }
}
