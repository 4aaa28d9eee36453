package dev.arbor.proxy.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.crds.v1alpha1.ComputePods;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import dev.arbor.crds.v1alpha1.EndpointStatus;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.KubernetesFixture;
import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.RepoFiles;
import dev.arbor.testing.TempDirectory;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * KubeProxyMain as the image runs it: a process of its own with its environment, against a real kube-apiserver and
 * a real PostgreSQL standing in for a compute pod.
 */
class KubeProxyMainTest {
  @RegisterExtension static final KubernetesFixture kube = new KubernetesFixture();
  @RegisterExtension static final PostgresFixture pg = new PostgresFixture();
  static TempDirectory work;
  static final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  static void prepare() throws IOException {
    work = TempDirectory.create("arbor-proxy-main-");
    kube.installCrds(RepoFiles.root().resolve("crds/generated"));
    kube.client().serviceAccounts().inNamespace("default").resource(new ServiceAccountBuilder().withNewMetadata()
        .withName("default").endMetadata().build()).createOr(existing -> existing.update());
  }

  @AfterAll
  static void cleanUp() {
    if (work != null) {
      work.close();
    }
  }

  /** The proxy process with {@code env} added to this JVM's; stdout and stderr go to {@code log}. */
  static Process start(Map<String, String> env, Path log) throws IOException {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    var pb = new ProcessBuilder(java.toString(), "-cp", System.getProperty("java.class.path"), KubeProxyMain.class.getName())
        .redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().keySet().removeIf(k -> k.startsWith("ARBOR_PROXY_") || k.equals("KUBECONFIG") || k.equals("POD_IP"));
    pb.environment().putAll(env);
    return pb.start();
  }

  @Test
  void aBadSettingIsOneClearLineAndExitCodeTwo() throws Exception {
    Path log = work.resolve("bad.log");
    Process p = start(Map.of("ARBOR_PROXY_WAKE_TIMEOUT", "soon"), log);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isEqualTo(2);
    assertThat(Files.readAllLines(log)).containsExactly(
        "arbor-proxy: ARBOR_PROXY_WAKE_TIMEOUT: 'soon' is not a duration: write a whole number with s, m or h (e.g. 300s, 5m, 1h)");
  }

  @Test
  void anUnreachableKubernetesApiStopsItWithExitCodeOne() throws Exception {
    Path kubeconfig = work.resolve("nowhere.kubeconfig");
    Files.writeString(kubeconfig, """
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
        users: [{name: u, user: {token: t}}]
        contexts: [{name: x, context: {cluster: c, user: u}}]
        current-context: x
        """.formatted(FreePort.pick()));
    Path log = work.resolve("nowhere.log");
    Process p = start(Map.of("KUBECONFIG", kubeconfig.toString(), "ARBOR_PROXY_ADMIN_PORT", String.valueOf(FreePort.pick()),
        "ARBOR_PROXY_CANCEL_PORT", String.valueOf(FreePort.pick())), log);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isEqualTo(1);
    assertThat(Files.readString(log)).contains("event=start_failed reason=\"cannot watch Endpoints and pods through the Kubernetes API");
  }

  @Test
  void servesEndpointsAndItsAdminPortThenStopsCleanlyOnSigterm() throws Exception {
    int proxyPort = FreePort.pickStable();
    Endpoint e = Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: app, namespace: default}
        spec: {branchRef: main}
        """, Endpoint.class);
    kube.client().resource(e).create();
    kube.client().resources(Endpoint.class).inNamespace("default").withName("app").editStatus(x -> {
      var s = new EndpointStatus();
      s.setPhase(EndpointPhase.Running);
      s.setProxyPort(proxyPort);
      x.setStatus(s);
      return x;
    });
    kube.client().resource(new PodBuilder().withNewMetadata().withName("app-0").withNamespace("default")
        .withLabels(Map.of(ComputePods.ENDPOINT_LABEL, "app")).endMetadata().withNewSpec().addNewContainer()
        .withName("compute").withImage("arbor-compute:test")
        .addNewPort().withName(ComputePods.POSTGRES_PORT).withContainerPort(pg.server().port()).endPort()
        .endContainer().endSpec().build()).create();
    kube.client().pods().inNamespace("default").withName("app-0").editStatus(p -> {
      p.getStatus().setPodIP("127.0.0.1");
      p.getStatus().setConditions(List.of(new PodConditionBuilder().withType("Ready").withStatus("True").build()));
      return p;
    });

    Path kubeconfig = work.resolve("kubeconfig");
    Files.writeString(kubeconfig, kube.kubeconfigYaml());
    int admin = FreePort.pick();
    Path log = work.resolve("proxy.log");
    Process p = start(Map.of("KUBECONFIG", kubeconfig.toString(), "ARBOR_PROXY_ADMIN_PORT", String.valueOf(admin),
        "ARBOR_PROXY_CANCEL_PORT", String.valueOf(FreePort.pick())), log);
    try {
      await().atMost(Duration.ofSeconds(120)).ignoreExceptions().until(() -> get(admin, "/readyz").statusCode() == 200);
      assertThat(get(admin, "/healthz").statusCode()).isEqualTo(200);
      await().atMost(Duration.ofSeconds(60)).ignoreExceptions().untilAsserted(() -> {
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + proxyPort + "/postgres?user=postgres");
            Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 41 + 1")) {
          rs.next();
          assertThat(rs.getInt(1)).isEqualTo(42);
        }
      });
      String metrics = get(admin, "/metrics").body();
      assertThat(metrics).contains("arbor_proxy_connections_established_total 1.0").contains("arbor_http_requests_total");
    } finally {
      p.destroy(); // SIGTERM
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      System.out.println("--- proxy log ---\n" + Files.readString(log));
    }
    assertThat(p.exitValue()).as("SIGTERM is a clean stop").isZero();
    assertThat(Files.readString(log)).contains("event=listening endpoint=default/app").contains("event=stopped");
  }

  static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
