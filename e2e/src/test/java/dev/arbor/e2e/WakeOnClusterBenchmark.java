package dev.arbor.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.testing.WakeSamples;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The wake benchmark on the e2e cluster (bench/run wake-cluster; not part of the suite: its name is not a test's):
 * the chart installed, an Endpoint with {@code suspendTimeout: 10s} on a database of {@code arbor.bench.db-mb}
 * (100) MB; {@code arbor.bench.wakes} (30) times, wait until the operator suspended it (no pod left), then time a
 * client's connect to the Endpoint's Service to the first row of {@code SELECT 1}. The phases come from the
 * wall-clock times of the proxy's, the operator's and the compute agent's log lines. Last, {@code
 * arbor.bench.clients} (20) clients at once: one wake, every client answered. Results: stdout and
 * {@code e2e/target/wake-cluster.md}.
 */
@ExtendWith(SharedCluster.class)
class WakeOnClusterBenchmark {
  private static final ResourceDefinitionContext ENDPOINTS = new ResourceDefinitionContext.Builder()
      .withGroup("arbor.dev").withVersion("v1alpha1").withKind("Endpoint").withPlural("endpoints").withNamespaced(true).build();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern ISO = Pattern.compile("(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d[.,]\\d+(?:Z|[+-]\\d\\d:?\\d\\d)?)");
  private static final List<String> AGENT_EVENTS = List.of("agent_starting", "generation_elected", "pgdata_ready", "compute_started",
      "compute_running");
  private static final List<String> PHASES = List.of("proxy: accept to wake asked", "operator: annotation to StatefulSet scaled",
      "pod scheduled, container started, agent JVM up", "generation election", "basebackup and configure",
      "PostgreSQL start, replay, promotion", "roles and databases", "readiness, proxy connect, first row");

  private static ClusterProvider cluster;
  private static KubeCli cli;
  private static TestNamespace namespace;

  @BeforeAll
  static void install(ClusterProvider provider) {
    cluster = provider;
    cli = new KubeCli(provider.kubeconfig());
    HelmInstallE2ETest.removeRelease(cluster.client(), cli);
    List<String> install = new ArrayList<>(List.of("install", HelmInstallE2ETest.RELEASE, "helm/arbor", "-n", HelmInstallE2ETest.SYSTEM,
        "--create-namespace", "--set", "objectStore.dev.enabled=true", "--wait", "--timeout", "6m"));
    install.addAll(cluster.helmImageValues());
    install.addAll(cluster.helmPgdataVolumeValues());
    check(cli.helm(install.toArray(String[]::new)));
    namespace = TestNamespace.create(cluster.client());
  }

  @AfterAll
  static void uninstall() {
    if (namespace != null) {
      HelmInstallE2ETest.removeRelease(cluster.client(), cli);
      HelmInstallE2ETest.releaseFinalizers(cluster.client(), namespace.name());
      namespace.close();
    }
  }

  @Test
  void wakes() throws Exception {
    int dbMb = Integer.getInteger("arbor.bench.db-mb", 100);
    int wakes = Integer.getInteger("arbor.bench.wakes", 30);
    int clients = Integer.getInteger("arbor.bench.clients", 20);
    String ns = namespace.name();
    KubernetesClient k = cluster.client();
    check(cli.kubectlWithInput("""
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: shop}
        spec:
          roles: [{name: app, options: [LOGIN]}]
          databases: [{name: app, owner: app}]
        ---
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: shop-main-rw}
        spec: {branchRef: shop-main, mode: ReadWrite, suspendTimeout: 10s}
        """, "-n", ns, "apply", "-f", "-"));
    check(cli.kubectl("-n", ns, "wait", "--for=condition=Ready", "--timeout=5m", "endpoint/shop-main-rw"));
    await().atMost(Duration.ofMinutes(3)).until(() -> "Running".equals(status(ns).path("phase").asText()));
    String jdbc = jdbc(k, ns);
    try (Connection c = DriverManager.getConnection(jdbc); Statement st = c.createStatement()) {
      st.execute("CREATE TABLE items AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, "
          + (dbMb * 1024L * 1024 / 250) + ") g");
    }
    long dbBytes;
    try (Connection c = DriverManager.getConnection(jdbc); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT pg_database_size(current_database())")) {
      rs.next();
      dbBytes = rs.getLong(1);
    }

    List<Double> totals = new ArrayList<>();
    Map<String, List<Double>> phases = new LinkedHashMap<>();
    PHASES.forEach(p -> phases.put(p, new ArrayList<>()));
    for (int i = 0; i < wakes; i++) {
      awaitSuspended(k, ns);
      Instant t0 = Instant.now();
      WakeSamples.selectOne(jdbc);
      Instant t1 = Instant.now();
      totals.add(ms(t0, t1));
      List<Instant> marks = new ArrayList<>(List.of(t0));
      marks.add(event(logsOf(k, HelmInstallE2ETest.SYSTEM, "proxy"), "wake_requested", t0));
      marks.add(event(logsOf(k, HelmInstallE2ETest.SYSTEM, "operator"), "compute_woken", t0));
      String agentLog = PsqlClient.log(k, ns, "shop-main-rw-0", null);
      for (String e : AGENT_EVENTS) {
        marks.add(event(agentLog, e, t0));
      }
      marks.add(t1);
      for (int p = 0; p < PHASES.size(); p++) {
        phases.get(PHASES.get(p)).add(ms(marks.get(p), marks.get(p + 1)));
      }
      System.out.printf("wake %d: %.0f ms%n", i + 1, totals.getLast());
    }

    awaitSuspended(k, ns);
    // Each proxy replica asks once (its own single flight; the Service spreads the clients over the replicas); the
    // operator starts the compute once.
    long asksBefore = count(logsOf(k, HelmInstallE2ETest.SYSTEM, "proxy"), "event=wake_requested");
    long startsBefore = count(logsOf(k, HelmInstallE2ETest.SYSTEM, "operator"), "event=compute_woken");
    int answered = WakeSamples.selectOneAtOnce(jdbc, clients);
    long asks = count(logsOf(k, HelmInstallE2ETest.SYSTEM, "proxy"), "event=wake_requested") - asksBefore;
    long wakesDuring = count(logsOf(k, HelmInstallE2ETest.SYSTEM, "operator"), "event=compute_woken") - startsBefore;

    var out = new StringBuilder();
    out.append(String.format("Wake on the e2e cluster: connect to the Endpoint's Service to the first row of SELECT 1, %d wakes"
        + " of a %d MB database%n%n", wakes, dbBytes / (1024 * 1024)));
    out.append("| | p50 ms | p95 ms | max ms |\n|---|---|---|---|\n");
    out.append(WakeSamples.row("total", totals)).append('\n');
    phases.forEach((name, values) -> out.append(WakeSamples.row(name, values)).append('\n'));
    out.append(String.format("%n%d clients connecting at once to the suspended Endpoint: %d answered, %d compute start(s) by the"
        + " operator, %d wake request(s) from the proxy replicas%n", clients, answered, wakesDuring, asks));
    System.out.println(out);
    java.nio.file.Files.writeString(RepoFilesPath.target("wake-cluster.md"), out.toString(), StandardCharsets.UTF_8);
    assertThat(answered).isEqualTo(clients);
    assertThat(wakesDuring).isEqualTo(1);
  }

  private static JsonNode status(String ns) {
    return JSON.valueToTree(cluster.client().genericKubernetesResources(ENDPOINTS).inNamespace(ns).withName("shop-main-rw").get())
        .path("status");
  }

  private static void awaitSuspended(KubernetesClient k, String ns) {
    await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(200)).until(() ->
        "Suspended".equals(status(ns).path("phase").asText())
            && k.pods().inNamespace(ns).withLabel("arbor.dev/endpoint", "shop-main-rw").list().getItems().isEmpty());
  }

  /** A JDBC URL to the Endpoint's Service IP (the machine reaches Services of its one-node cluster). */
  private static String jdbc(KubernetesClient k, String ns) {
    var secret = k.secrets().inNamespace(ns).withName("shop-main-rw-connection").get().getData();
    String user = new String(Base64.getDecoder().decode(secret.get("user")), StandardCharsets.UTF_8);
    String password = new String(Base64.getDecoder().decode(secret.get("password")), StandardCharsets.UTF_8);
    String db = new String(Base64.getDecoder().decode(secret.get("dbname")), StandardCharsets.UTF_8);
    String ip = k.services().inNamespace(ns).withName("shop-main-rw").get().getSpec().getClusterIP();
    return "jdbc:postgresql://" + ip + ":5432/" + db + "?user=" + user + "&password="
        + java.net.URLEncoder.encode(password, StandardCharsets.UTF_8) + "&connectTimeout=60";
  }



  /** The logs of every pod of the release's {@code component}, one after the other. */
  private static String logsOf(KubernetesClient k, String ns, String component) {
    var sb = new StringBuilder();
    for (Pod p : k.pods().inNamespace(ns).withLabel("app.kubernetes.io/component", component).list().getItems()) {
      sb.append(PsqlClient.log(k, ns, p.getMetadata().getName(), null)).append('\n');
    }
    return sb.toString();
  }

  /** The time of the first line with {@code event=NAME} at or after {@code after} (its leading ISO time). */
  private static Instant event(String log, String name, Instant after) {
    Instant found = null;
    for (String line : log.split("\n")) {
      if (!line.contains("event=" + name)) {
        continue;
      }
      Matcher m = ISO.matcher(line);
      if (!m.find()) {
        continue;
      }
      Instant t = parse(m.group(1));
      if (!t.isBefore(after.minusMillis(5)) && (found == null || t.isBefore(found))) {
        found = t;
      }
    }
    if (found == null) {
      throw new AssertionError("no event=" + name + " after " + after + " in:\n" + log.lines().filter(l -> l.contains("event="))
          .reduce((a, b) -> b).orElse("(no event lines)"));
    }
    return found;
  }

  private static Instant parse(String iso) {
    String s = iso.replace(',', '.');
    if (s.matches(".*[+-]\\d\\d\\d\\d$")) {
      s = s.substring(0, s.length() - 2) + ":" + s.substring(s.length() - 2);
    }
    if (!s.endsWith("Z") && !s.matches(".*[+-]\\d\\d:\\d\\d$")) {
      s = s + "Z";
    }
    return OffsetDateTime.parse(s).toInstant();
  }

  private static long count(String log, String text) {
    return log.lines().filter(l -> l.contains(text)).count();
  }

  private static double ms(Instant a, Instant b) {
    return Duration.between(a, b).toNanos() / 1e6;
  }


  private static KubeCli.Result check(KubeCli.Result r) {
    if (r.exit() != 0) {
      throw new AssertionError(String.join(" ", r.command()) + " failed (exit " + r.exit() + "):\n" + r.out() + r.err());
    }
    return r;
  }

  /** Where the benchmark writes its table: the e2e module's target directory. */
  private static final class RepoFilesPath {
    static java.nio.file.Path target(String name) {
      return dev.arbor.testing.RepoFiles.root().resolve("e2e/target").resolve(name);
    }
  }
}
