package dev.arbor.proxy.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.Problem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.client.ComputeAgentClient;
import dev.arbor.client.Json;
import dev.arbor.crds.v1alpha1.ComputePods;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import dev.arbor.crds.v1alpha1.EndpointStatus;
import dev.arbor.crds.v1alpha1.EndpointWake;
import dev.arbor.proxy.ComputeState;
import dev.arbor.proxy.ProxyConfig;
import dev.arbor.proxy.ProxyServer;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.KubernetesFixture;
import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.RepoFiles;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * KubeComputes against a real kube-apiserver, with a real PostgreSQL standing in for the compute: the test plays
 * the operator (it writes Endpoint status and compute pods, Ready with podIP 127.0.0.1 and the PostgreSQL's port
 * as the container port {@code postgres}) and clients connect through the proxy's listener on status.proxyPort.
 * One test also plays the compute agent's {@code GET /ready}, on the container port {@code http}.
 */
class KubeComputesTest {
  @RegisterExtension static final KubernetesFixture kube = new KubernetesFixture();
  @RegisterExtension static final PostgresFixture pg = new PostgresFixture();

  static final String NS = "shop";
  static final Duration WAIT = Duration.ofSeconds(60);
  static KubernetesClient client;
  static KubeComputes computes;
  static ProxyServer proxy;

  @BeforeAll
  static void start() throws Exception {
    client = kube.client();
    kube.installCrds(RepoFiles.root().resolve("crds/generated"));
    client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NS).endMetadata().build()).create();
    // No controller-manager runs: the pods' admission needs the namespace's default ServiceAccount.
    client.serviceAccounts().inNamespace(NS).resource(new ServiceAccountBuilder().withNewMetadata().withName("default")
        .endMetadata().build()).create();
    computes = new KubeComputes(client);
    proxy = new ProxyServer(ProxyConfig.defaults(), computes, new SimpleMeterRegistry());
    computes.serve(proxy, "127.0.0.1");
    computes.start().toCompletableFuture().get(60, TimeUnit.SECONDS);
    assertThat(computes.synced()).isTrue();
  }

  @AfterAll
  static void stop() {
    if (proxy != null) {
      proxy.close();
    }
    if (computes != null) {
      computes.close();
    }
  }

  static Resource<Endpoint> endpoint(String name) {
    return client.resources(Endpoint.class).inNamespace(NS).withName(name);
  }

  /** An Endpoint as a user creates it, then its status as the operator writes it. */
  static void createEndpoint(String name, boolean suspendedBySpec, EndpointPhase phase, Integer proxyPort) {
    Endpoint e = Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: %s, namespace: %s}
        spec: {branchRef: main, suspended: %s}
        """.formatted(name, NS, suspendedBySpec), Endpoint.class);
    client.resource(e).create();
    setStatus(name, phase, proxyPort);
  }

  static void setStatus(String name, EndpointPhase phase, Integer proxyPort) {
    endpoint(name).editStatus(e -> {
      EndpointStatus s = e.getStatus() == null ? new EndpointStatus() : e.getStatus();
      s.setPhase(phase);
      s.setProxyPort(proxyPort);
      e.setStatus(s);
      return e;
    });
  }

  /** The compute pod as the kubelet reports it once Ready: podIP 127.0.0.1, PostgreSQL on the fixture's port. */
  static void createReadyPod(String endpoint) {
    createPod(endpoint, List.of());
    setPodReady(endpoint + "-0", "True");
  }

  static void createPod(String endpoint, List<String> finalizers) {
    createPod(endpoint, finalizers, FreePort.pick());
  }

  /** The compute pod as the operator creates it, its agent's container port {@code http} at {@code httpPort}. */
  static void createPod(String endpoint, List<String> finalizers, int httpPort) {
    Pod pod = new PodBuilder().withNewMetadata().withName(endpoint + "-0").withNamespace(NS).withFinalizers(finalizers)
        .withLabels(Map.of(ComputePods.ENDPOINT_LABEL, endpoint)).endMetadata()
        .withNewSpec().addNewContainer().withName("compute").withImage("arbor-compute:test")
        .addNewPort().withName(ComputePods.POSTGRES_PORT).withContainerPort(pg.server().port()).endPort()
        .addNewPort().withName(ComputePods.HTTP_PORT).withContainerPort(httpPort).endPort()
        .endContainer().endSpec().build();
    client.resource(pod).create();
  }

  static void setPodReady(String pod, String ready) {
    client.pods().inNamespace(NS).withName(pod).editStatus(p -> {
      p.getStatus().setPodIP("127.0.0.1");
      p.getStatus().setPhase("Running");
      p.getStatus().setConditions(List.of(new PodConditionBuilder().withType("Ready").withStatus(ready).build()));
      return p;
    });
  }

  static void awaitListening(String endpoint, boolean listening) {
    await().atMost(WAIT).until(() -> proxy.endpoints().contains(NS + "/" + endpoint) == listening);
  }

  static int selectOne(int port) throws SQLException {
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres&connectTimeout=60");
        Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  @Test
  void aClientReachesTheReadyComputePodThroughTheEndpointsProxyPort() throws Exception {
    int port = FreePort.pickStable();
    createEndpoint("app", false, EndpointPhase.Running, port);
    createReadyPod("app");
    awaitListening("app", true);
    await().atMost(WAIT).until(() -> computes.state(NS + "/app") instanceof ComputeState.Running);

    assertThat(selectOne(port)).isEqualTo(1);
    var running = (ComputeState.Running) computes.state(NS + "/app");
    assertThat(running.postgres()).isEqualTo(new InetSocketAddress("127.0.0.1", pg.server().port()));
    assertThat(running.agent().toString()).startsWith("http://127.0.0.1:");
  }

  @Test
  void aSuspendedEndpointIsWokenByOneAnnotationForManyClientsWhoThenGetTheirAnswers() throws Exception {
    int port = FreePort.pickStable();
    createEndpoint("sleepy", false, EndpointPhase.Running, port);
    createReadyPod("sleepy");
    awaitListening("sleepy", true);
    // The operator suspends it for idleness: the pod goes, the phase says Suspended.
    client.pods().inNamespace(NS).withName("sleepy-0").withGracePeriod(0).delete();
    setStatus("sleepy", EndpointPhase.Suspended, port);
    await().atMost(WAIT).until(() -> computes.state(NS + "/sleepy") instanceof ComputeState.Suspended);
    long wakesBefore = proxy.wakesRequested();
    Instant before = Instant.now();

    int clients = 5;
    try (var pool = Executors.newFixedThreadPool(clients)) {
      List<Future<Integer>> answers = new ArrayList<>();
      for (int i = 0; i < clients; i++) {
        answers.add(pool.submit(() -> selectOne(port)));
      }
      await().atMost(WAIT).until(() -> proxy.openConnections(NS + "/sleepy") == clients);
      await().atMost(WAIT).until(() -> EndpointWake.requestedAt(endpoint("sleepy").get()).isPresent());
      Instant requested = EndpointWake.requestedAt(endpoint("sleepy").get()).orElseThrow();
      assertThat(requested).isAfterOrEqualTo(before.minusSeconds(1));
      assertThat(answers).as("held while the compute is suspended").noneMatch(Future::isDone);

      // The operator answers the wake: Waking, then a Ready pod, then Running.
      setStatus("sleepy", EndpointPhase.Waking, port);
      createReadyPod("sleepy");
      setStatus("sleepy", EndpointPhase.Running, port);
      for (Future<Integer> answer : answers) {
        assertThat(answer.get(60, TimeUnit.SECONDS)).isEqualTo(1);
      }
    }
    assertThat(proxy.wakesRequested() - wakesBefore).as("one wake (one annotation patch) for all the clients").isEqualTo(1);
  }

  @Test
  void aProxyScopedToOtherNamespacesDoesNotKnowThisOnesEndpoints() throws Exception {
    createEndpoint("scoped", false, EndpointPhase.Running, null);
    try (var elsewhere = new KubeComputes(client, java.util.List.of("team-b")); var here = new KubeComputes(client, java.util.List.of(NS))) {
      elsewhere.start().toCompletableFuture().get(60, TimeUnit.SECONDS);
      here.start().toCompletableFuture().get(60, TimeUnit.SECONDS);
      assertThat(elsewhere.state(NS + "/scoped")).isInstanceOf(ComputeState.Refused.class);
      assertThat(here.state(NS + "/scoped")).isInstanceOf(ComputeState.Starting.class);
    }
  }

  @Test
  void anEndpointSuspendedBySpecIsRefusedWithTheReasonAndNotWoken() {
    int port = FreePort.pickStable();
    createEndpoint("paused", true, EndpointPhase.Suspended, port);
    awaitListening("paused", true);
    long wakesBefore = proxy.wakesRequested();

    assertThatThrownBy(() -> selectOne(port)).isInstanceOf(SQLException.class)
        .hasMessageContaining("endpoint shop/paused is suspended by spec.suspended: true; connections do not wake it")
        .hasMessageContaining("kubectl patch endpoints.arbor.dev paused -n shop");
    assertThat(proxy.wakesRequested()).isEqualTo(wakesBefore);
    assertThat(EndpointWake.requestedAt(endpoint("paused").get())).isEmpty();
  }

  @Test
  void aListenerFollowsTheProxyPortAndClosesWhenTheEndpointIsDeleted() throws Exception {
    int first = FreePort.pickStable();
    createEndpoint("moving", false, EndpointPhase.Running, first);
    createReadyPod("moving");
    awaitListening("moving", true);
    assertThat(selectOne(first)).isEqualTo(1);

    int second = FreePort.pickStable();
    setStatus("moving", EndpointPhase.Running, second);
    await().atMost(WAIT).untilAsserted(() -> assertThat(connectable(first)).isFalse());
    await().atMost(WAIT).untilAsserted(() -> assertThat(selectOne(second)).isEqualTo(1));

    endpoint("moving").delete();
    awaitListening("moving", false);
    assertThat(connectable(second)).isFalse();
    assertThat(computes.state(NS + "/moving")).isEqualTo(new ComputeState.Refused("there is no Endpoint shop/moving",
        "check the connection string, or list Endpoints with: kubectl get endpoints.arbor.dev -A"));
  }

  @Test
  void onlyAReadyPodThatIsNotBeingDeletedRuns() {
    createEndpoint("booting", false, EndpointPhase.Starting, null);
    String hold = "arbor.dev/test-hold"; // keeps the deleted pod, with its deletionTimestamp, as the kubelet would
    createPod("booting", List.of(hold));
    setPodReady("booting-0", "False");
    await().atMost(WAIT).until(() -> computes.state(NS + "/booting") != null
        && client.pods().inNamespace(NS).withName("booting-0").get().getStatus().getPodIP() != null);
    await().pollDelay(Duration.ofMillis(500)).atMost(WAIT).until(() -> true);
    assertThat(computes.state(NS + "/booting")).as("not Ready").isInstanceOf(ComputeState.Starting.class);

    setPodReady("booting-0", "True");
    await().atMost(WAIT).until(() -> computes.state(NS + "/booting") instanceof ComputeState.Running);

    client.pods().inNamespace(NS).withName("booting-0").delete();
    await().atMost(WAIT).until(() -> computes.state(NS + "/booting") instanceof ComputeState.Starting);
    assertThat(proxy.endpoints()).as("no proxy port yet: no listener").doesNotContain(NS + "/booting");
    client.pods().inNamespace(NS).withName("booting-0").edit(p -> {
      p.getMetadata().setFinalizers(List.of());
      return p;
    });
  }

  /**
   * The pod's Ready condition stays False throughout (no kubelet probes here): the proxy learns that the compute runs
   * from its agent's {@code GET /ready}, which it asks itself, only while a client waits.
   */
  @Test
  void aWaitingClientIsConnectedAsSoonAsTheAgentAnswersReadyBeforeThePodIsReady() throws Exception {
    int port = FreePort.pickStable();
    try (var agent = new ReadyAgent()) {
      createEndpoint("early", false, EndpointPhase.Starting, port);
      createPod("early", List.of(), agent.port());
      setPodReady("early-0", "False");
      awaitListening("early", true);
      await().pollDelay(Duration.ofSeconds(1)).atMost(WAIT).until(() -> true);
      assertThat(agent.asked()).as("nobody waits: the agent is not asked").isZero();

      // One ask is someone waiting: a poll runs, then stops when no one asks again.
      await().atMost(WAIT).until(() -> {
        computes.state(NS + "/early");
        return agent.asked() > 0;
      });
      assertStopsAsking(agent);
      assertThat(computes.state(NS + "/early")).as("the agent answered only 503").isInstanceOf(ComputeState.Starting.class);

      int clients = 3;
      try (var pool = Executors.newFixedThreadPool(clients)) {
        List<Future<Integer>> answers = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
          answers.add(pool.submit(() -> selectOne(port)));
        }
        long before = agent.asked();
        await().atMost(WAIT).until(() -> agent.asked() >= before + 5 || answers.stream().anyMatch(Future::isDone));
        assertThat(answers).as("held while the agent answers 503").noneMatch(Future::isDone);
        assertThat(computes.state(NS + "/early")).isInstanceOf(ComputeState.Starting.class);

        agent.ready();
        for (Future<Integer> answer : answers) {
          assertThat(answer.get(20, TimeUnit.SECONDS)).isEqualTo(1);
        }
      }
      assertThat(agent.mostAtOnce()).as("one poll for the pod however many clients wait").isEqualTo(1);
      assertThat(client.pods().inNamespace(NS).withName("early-0").get().getStatus().getConditions())
          .as("the pod is still not Ready").allMatch(c -> !"Ready".equals(c.getType()) || "False".equals(c.getStatus()));
      await().atMost(WAIT).untilAsserted(() -> assertThat(computes.state(NS + "/early")).isEqualTo(new ComputeState.Running(
          new InetSocketAddress("127.0.0.1", pg.server().port()), URI.create("http://127.0.0.1:" + agent.port()))));
      assertStopsAsking(agent);
    }
  }

  /** Within a second the agent is asked no more, and stays so. */
  static void assertStopsAsking(ReadyAgent agent) {
    await().pollDelay(ReadyPolls.WANTED.plusSeconds(1)).atMost(WAIT).until(() -> true);
    long asked = agent.asked();
    await().pollDelay(Duration.ofSeconds(1)).atMost(WAIT).until(() -> true);
    assertThat(agent.asked()).as("no one waits: no more asks").isEqualTo(asked);
  }

  /**
   * A compute agent's {@code GET /ready} as AgentOpenApiTest pins it on a real agent: 503 problem+json
   * {@code compute-not-running} while the compute starts, then 200 {@code {"phase":"Running"}}. Counts the asks and the
   * most that were in flight at once.
   */
  static final class ReadyAgent implements AutoCloseable {
    private final HttpServer server;
    private volatile boolean running;
    private final AtomicLong asked = new AtomicLong();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger mostAtOnce = new AtomicInteger();

    ReadyAgent() throws IOException {
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
      server.createContext(ComputeAgentClient.READY_PATH, exchange -> {
        mostAtOnce.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
        try (exchange) {
          asked.incrementAndGet();
          byte[] body = running ? Json.write(Map.of("phase", "Running")) : Json.write(new Problem(ApiProblem.TYPE_BASE
              + ProblemTypes.COMPUTE_NOT_RUNNING, "Service unavailable", 503, "the compute is Starting, not ready for clients", null, null));
          exchange.getResponseHeaders().set("Content-Type", running ? "application/json" : "application/problem+json");
          exchange.sendResponseHeaders(running ? 200 : 503, body.length);
          exchange.getResponseBody().write(body);
        } finally {
          inFlight.decrementAndGet();
        }
      });
      server.start();
    }

    int port() {
      return server.getAddress().getPort();
    }

    void ready() {
      running = true;
    }

    long asked() {
      return asked.get();
    }

    int mostAtOnce() {
      return mostAtOnce.get();
    }

    @Override
    public void close() {
      server.stop(0);
    }
  }

  /** A client in the middle of a query when its Endpoint is suspended for idleness; a client of another Endpoint. */
  @Test
  void connectionsOpenAtAnIdleSuspendEndWithTheReasonAndOtherEndpointsGoOn() throws Exception {
    int port = FreePort.pickStable();
    int otherPort = FreePort.pickStable();
    createEndpoint("dozing", false, EndpointPhase.Running, port);
    createReadyPod("dozing");
    createEndpoint("awake", false, EndpointPhase.Running, otherPort);
    createReadyPod("awake");
    awaitListening("dozing", true);
    awaitListening("awake", true);
    await().atMost(WAIT).until(() -> computes.state(NS + "/dozing") instanceof ComputeState.Running
        && computes.state(NS + "/awake") instanceof ComputeState.Running);

    try (Connection dozing = connect(port); Connection awake = connect(otherPort); var pool = Executors.newSingleThreadExecutor()) {
      Future<?> query = inLongQuery(dozing, pool);
      // The operator suspends it (the test leaves the pod and its PostgreSQL running: the proxy alone ends the connection).
      endpoint("dozing").editStatus(e -> {
        e.getStatus().setPhase(EndpointPhase.Suspended);
        e.getStatus().setLastActive("2026-12-07T12:00:00Z");
        e.getStatus().setSuspendedAt("2026-12-07T12:05:00Z");
        return e;
      });
      assertEndedWith(query, "57P01", "endpoint shop/dozing was suspended after 5m without activity", ProxyServer.WAKE_HINT);
      assertThat(selectOne(awake)).as("the other Endpoint's open connection").isEqualTo(1);
    }
    assertThat(selectOne(otherPort)).isEqualTo(1);
  }

  @Test
  void connectionsOpenWhenSpecSuspendedIsSetEndWithTheReasonAndHowToResume() throws Exception {
    int port = FreePort.pickStable();
    int otherPort = FreePort.pickStable();
    createEndpoint("halted", false, EndpointPhase.Running, port);
    createReadyPod("halted");
    createEndpoint("going", false, EndpointPhase.Running, otherPort);
    createReadyPod("going");
    awaitListening("halted", true);
    awaitListening("going", true);
    await().atMost(WAIT).until(() -> computes.state(NS + "/halted") instanceof ComputeState.Running
        && computes.state(NS + "/going") instanceof ComputeState.Running);

    try (Connection halted = connect(port); Connection going = connect(otherPort); var pool = Executors.newSingleThreadExecutor()) {
      Future<?> query = inLongQuery(halted, pool);
      endpoint("halted").edit(e -> {
        e.getSpec().setSuspended(true);
        return e;
      });
      assertEndedWith(query, "57P01", "endpoint shop/halted is suspended by spec.suspended: true; connections do not wake it",
          "kubectl patch endpoints.arbor.dev halted -n shop --type merge -p '{\"spec\":{\"suspended\":false}}'");
      assertThat(selectOne(going)).as("the other Endpoint's open connection").isEqualTo(1);
    }
    assertThatThrownBy(() -> selectOne(port)).isInstanceOf(SQLException.class)
        .hasMessageContaining("suspended by spec.suspended: true");
  }

  @Test
  void connectionsToAComputePodThatIsBeingDeletedEndWithTheReason() throws Exception {
    int port = FreePort.pickStable();
    createEndpoint("moved", false, EndpointPhase.Running, port);
    String hold = "arbor.dev/test-hold"; // keeps the deleted pod, with its deletionTimestamp, as the kubelet would
    createPod("moved", List.of(hold));
    setPodReady("moved-0", "True");
    awaitListening("moved", true);
    await().atMost(WAIT).until(() -> computes.state(NS + "/moved") instanceof ComputeState.Running);

    try (Connection moved = connect(port); var pool = Executors.newSingleThreadExecutor()) {
      Future<?> query = inLongQuery(moved, pool);
      client.pods().inNamespace(NS).withName("moved-0").delete();
      assertEndedWith(query, "57P01", "the compute of endpoint shop/moved is stopping: its pod moved-0 is being deleted", "reconnect");
    } finally {
      client.pods().inNamespace(NS).withName("moved-0").edit(p -> {
        p.getMetadata().setFinalizers(List.of());
        return p;
      });
    }
  }

  static Connection connect(int port) throws SQLException {
    return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres&connectTimeout=60");
  }

  static int selectOne(Connection c) throws SQLException {
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  /**
   * A query on {@code c} that the compute answers only after 20 s, once PostgreSQL runs it: what ends it sooner is the
   * proxy, between two messages.
   */
  static Future<?> inLongQuery(Connection c, ExecutorService pool) throws Exception {
    int pid;
    try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      pid = rs.getInt(1);
    }
    Future<?> query = pool.submit(() -> {
      try (Statement st = c.createStatement()) {
        st.execute("SELECT pg_sleep(20)");
      }
      return null;
    });
    try (Connection direct = pg.connect();
        var st = direct.prepareStatement("SELECT wait_event FROM pg_stat_activity WHERE pid = ?")) {
      st.setInt(1, pid);
      await().atMost(WAIT).until(() -> {
        try (ResultSet rs = st.executeQuery()) {
          return rs.next() && "PgSleep".equals(rs.getString(1));
        }
      });
    }
    return query;
  }

  /** The query ended well within its 20 s with an SQLException carrying {@code sqlstate} and {@code texts}. */
  static void assertEndedWith(Future<?> query, String sqlstate, String... texts) {
    assertThatThrownBy(() -> query.get(15, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
        .cause().isInstanceOf(SQLException.class)
        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo(sqlstate))
        .satisfies(e -> assertThat(e.getMessage()).contains(texts));
  }

  @Test
  void aFailedEndpointIsRefusedWithTheStalledConditionsMessage() {
    createEndpoint("broken", false, EndpointPhase.Starting, null);
    endpoint("broken").editStatus(e -> {
      e.getStatus().setPhase(EndpointPhase.Failed);
      e.getStatus().setConditions(List.of(new Condition(Condition.STALLED, "True", "CrashLoop",
          "the compute exited 5 times in 10 minutes", "2026-12-07T12:00:00Z", 1L)));
      return e;
    });
    await().atMost(WAIT).untilAsserted(() -> assertThat(computes.state(NS + "/broken")).isEqualTo(new ComputeState.Refused(
        "endpoint shop/broken has failed: the compute exited 5 times in 10 minutes",
        "see its status: kubectl describe endpoints.arbor.dev broken -n shop")));
  }

  static boolean connectable(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 1_000);
      return true;
    } catch (ConnectException refused) {
      return false;
    } catch (IOException e) {
      return false;
    }
  }
}
