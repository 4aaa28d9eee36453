package dev.arbor.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.arbor.testing.KubernetesFixture;
import dev.arbor.testing.RepoFiles;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * helm/arbor without a cluster: lint, the values schema, the README's table of values, the version the chart
 * and the images share, manifests/install.yaml in sync with the chart; and its rendered objects accepted by a
 * real kube-apiserver (server-side dry run, Pod Security "restricted" enforced on the namespace).
 */
class HelmChartTest {
  private static final String DEV = "objectStore.dev.enabled=true";
  private static final KubernetesFixture kube = new KubernetesFixture();
  private static KubeCli cli;
  private static Path kubeconfig;

  @BeforeAll
  static void apiServer() throws IOException {
    kube.start();
    kubeconfig = Files.createTempFile("arbor-chart-", ".kubeconfig");
    Files.writeString(kubeconfig, kube.kubeconfigYaml());
    cli = new KubeCli(kubeconfig);
  }

  @AfterAll
  static void stop() throws IOException {
    kube.close();
    if (kubeconfig != null) {
      Files.deleteIfExists(kubeconfig);
    }
  }

  @Test
  void helmLintIsClean() {
    var lint = cli.helm("lint", "--strict", "helm/arbor", "--set", DEV).check();
    assertThat(lint.out()).contains("0 chart(s) failed").doesNotContain("[WARNING]", "[ERROR]");
  }

  @Test
  void aMistypedOrMisspelledValueFailsOnTheSchemaNamingTheField() {
    var wrongType = cli.helm("template", "arbor", "helm/arbor", "--set", DEV, "--set", "safekeepers.replicas=two");
    assertThat(wrongType.exit()).isNotZero();
    assertThat(wrongType.err()).contains("/safekeepers/replicas", "want integer");
    var misspelled = cli.helm("template", "arbor", "helm/arbor", "--set", DEV, "--set", "safekeeper.replicas=3");
    assertThat(misspelled.exit()).isNotZero();
    assertThat(misspelled.err()).contains("additional properties 'safekeeper' not allowed");
    var even = cli.helm("template", "arbor", "helm/arbor", "--set", DEV, "--set", "safekeepers.replicas=4");
    assertThat(even.exit()).isNotZero();
    assertThat(even.err()).contains("safekeepers.replicas: 4 is not an odd number");
  }

  @Test
  void withoutAnObjectStoreTheChartSaysWhatToSet() {
    var none = cli.helm("template", "arbor", "helm/arbor");
    assertThat(none.exit()).isNotZero();
    assertThat(none.err()).contains("set objectStore.s3.bucket", "objectStore.dev.enabled=true");
  }

  @Test
  void monitoringObjectsAreRenderedOnlyWhenEnabled() throws IOException {
    String off = cli.helm("template", "arbor", "helm/arbor", "--set", DEV).check().out();
    assertThat(off).doesNotContain("kind: ServiceMonitor", "kind: PodMonitor", "arbor-dashboard");
    String on = cli.helm("template", "arbor", "helm/arbor", "--set", DEV, "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.podMonitor.enabled=true", "--set", "metrics.dashboard.enabled=true").check().out();
    assertThat(Pattern.compile("(?m)^kind: ServiceMonitor$").matcher(on).results().count()).isEqualTo(3);
    assertThat(on).contains("kind: PodMonitor", "path: /q/metrics", "path: /metrics", "name: arbor-dashboard");
    // The dashboard is JSON Grafana can load, and every panel queries a metric that Arbor exports.
    JsonNode dashboard = new ObjectMapper().readTree(RepoFiles.read("helm/arbor/dashboards/arbor.json"));
    assertThat(dashboard.get("panels")).hasSizeGreaterThan(5);
    for (JsonNode panel : dashboard.get("panels")) {
      assertThat(panel.get("targets").get(0).get("expr").asText()).as(panel.get("title").asText())
          .containsAnyOf("arbor_", "reconciliations_");
    }
  }

  /**
   * What keeps computes off the pageserver's management port (9899, tenant and timeline deletion) where the network
   * plugin enforces NetworkPolicy: the pageserver's policy admits that port from the operator's pods alone, also
   * with extra metrics sources. The e2e cluster's plugin enforces none, so only the rendering is checked.
   */
  @Test
  void onlyTheOperatorsPodsAreAdmittedToThePageserversManagementPort() throws IOException {
    for (String metricsFrom : List.of("[]", "[{\"namespaceSelector\": {}}]")) {
      List<JsonNode> objects = new YAMLMapper().readerFor(JsonNode.class).<JsonNode>readValues(cli.helm("template", "arbor", "helm/arbor",
          "--set", DEV, "--set-json", "networkPolicy.metricsFrom=" + metricsFrom).check().out()).readAll();
      JsonNode policy = object(objects, "NetworkPolicy", "arbor-pageserver");
      JsonNode operatorPods = object(objects, "Deployment", "arbor-operator").at("/spec/template/metadata/labels");
      JsonNode pageserverPods = object(objects, "StatefulSet", "arbor-pageserver").at("/spec/template/metadata/labels");
      assertThat(labelsMatch(policy.at("/spec/podSelector/matchLabels"), pageserverPods)).as("the policy selects the pageserver").isTrue();
      assertThat(policy.at("/spec/policyTypes").toString()).contains("Ingress");
      List<JsonNode> admitting = new ArrayList<>();
      for (JsonNode rule : policy.at("/spec/ingress")) {
        // A rule without ports admits every port.
        if (rule.path("ports").isEmpty() || rule.path("ports").findValues("port").stream().anyMatch(p -> p.asInt() == 9899)) {
          admitting.add(rule);
        }
      }
      assertThat(admitting).as("ingress rules admitting port 9899 (metricsFrom=%s)", metricsFrom).hasSize(1);
      JsonNode from = admitting.get(0).path("from");
      assertThat(from).as("its sources").hasSize(1);
      assertThat(from.get(0).has("namespaceSelector") || from.get(0).has("ipBlock")).as("a source beyond the release's namespace: %s", from)
          .isFalse();
      JsonNode selector = from.get(0).at("/podSelector/matchLabels");
      assertThat(selector.isEmpty()).as("a source selecting every pod: %s", from).isFalse();
      assertThat(labelsMatch(selector, operatorPods)).as("the source %s selects the operator's pods %s", selector, operatorPods).isTrue();
      assertThat(labelsMatch(selector, pageserverPods)).as("the source selects the pageserver's pods").isFalse();
    }
  }

  /** Whether every label of {@code selector} is on {@code labels}. */
  private static boolean labelsMatch(JsonNode selector, JsonNode labels) {
    for (Iterator<Map.Entry<String, JsonNode>> it = selector.fields(); it.hasNext(); ) {
      var e = it.next();
      if (!e.getValue().asText().equals(labels.path(e.getKey()).asText(null))) {
        return false;
      }
    }
    return true;
  }

  /**
   * Computes reach only the storage engine's compute ports: the pageserver's management port is the operator's, a
   * safekeeper's (timeline deletion, metrics naming every tenant) the pageserver's and the scrapers'; the proxy
   * reaches the computes. The pageserver is given the safekeepers' management URLs, computes (through the operator)
   * their compute URLs.
   */
  @Test
  void computesReachOnlyTheStorageEnginesComputePortsAndScrapersASafekeepersManagementPort() throws IOException {
    String rendered = cli.helm("template", "arbor", "helm/arbor", "--set", DEV, "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring").check().out();
    List<JsonNode> objects = objects(rendered);
    JsonNode safekeeperPolicy = object(objects, "NetworkPolicy", "arbor-safekeeper");
    assertThat(sourcesOf(safekeeperPolicy, 7676)).containsExactlyInAnyOrder("compute", "safekeeper");
    assertThat(sourcesOf(safekeeperPolicy, 7677)).containsExactlyInAnyOrder("pageserver", "metricsFrom");
    JsonNode pageserverPolicy = object(objects, "NetworkPolicy", "arbor-pageserver");
    assertThat(sourcesOf(pageserverPolicy, 9898)).containsExactlyInAnyOrder("compute", "operator", "metricsFrom");
    assertThat(sourcesOf(pageserverPolicy, 9899)).containsExactly("operator");
    // arbor-proxy dials the compute pods directly (PostgreSQL, and the agent's GET /ready and POST /activity on
    // its http port): every policy selects only the release's own pods (not computes) and restricts only ingress.
    List<JsonNode> policies = objects.stream().filter(o -> "NetworkPolicy".equals(o.path("kind").asText())).toList();
    assertThat(policies).isNotEmpty().allSatisfy(policy -> {
      assertThat(policy.at("/spec/podSelector/matchLabels/app.kubernetes.io~1name").asText()).as(policy.toString()).isEqualTo("arbor");
      assertThat(policy.at("/spec/policyTypes").toString()).as(policy.toString()).isEqualTo("[\"Ingress\"]");
    });

    JsonNode safekeeper = object(objects, "StatefulSet", "arbor-safekeeper").at("/spec/template/spec/containers/0");
    assertThat(safekeeper.get("args").toString()).contains("\"--listen=0.0.0.0:7676\"", "\"--management-listen=0.0.0.0:7677\"");
    assertThat(object(objects, "Service", "arbor-safekeeper").at("/spec/ports").findValuesAsText("port"))
        .containsExactly("7676", "7677");
    String pageserverArgs = object(objects, "StatefulSet", "arbor-pageserver").at("/spec/template/spec/containers/0/args").toString();
    Matcher safekeepers = Pattern.compile("--safekeepers=([^\"]+)").matcher(pageserverArgs);
    assertThat(safekeepers.find()).as(pageserverArgs).isTrue();
    assertThat(safekeepers.group(1).split(",")).hasSize(3).allMatch(url -> url.endsWith(".svc:7677"));
    String computeSafekeepers = object(objects, "Deployment", "arbor-operator").at("/spec/template/spec/containers/0/env").findParents("name")
        .stream().filter(e -> e.get("name").asText().equals("ARBOR_STORAGE_ENGINE_SAFEKEEPERS")).findFirst().orElseThrow()
        .get("value").asText();
    assertThat(computeSafekeepers.split(",")).hasSize(3).allMatch(entry -> entry.endsWith(".svc:7676"));
    assertThat(object(objects, "ServiceMonitor", "arbor-safekeeper").at("/spec/endpoints/0/port").asText()).isEqualTo("management");
    assertThat(object(objects, "ServiceMonitor", "arbor-pageserver").at("/spec/endpoints/0/port").asText()).isEqualTo("http");
  }

  /**
   * Storage tokens are checked by default: no daemon runs with --insecure-no-auth; the pageserver and the safekeepers
   * check against the operator's public key set and send its token, both mounted whole (a subPath mount is never
   * updated), and the operator mints with the issuer they check.
   */
  @Test
  void storageTokensAreCheckedByDefault() throws IOException {
    String rendered = cli.helm("template", "arbor", "helm/arbor", "-n", "arbor-system", "--set", DEV).check().out();
    assertThat(rendered).doesNotContain("--insecure-no-auth");
    List<JsonNode> objects = objects(rendered);
    String issuer = "arbor/arbor-system/arbor";
    for (String daemon : List.of("arbor-pageserver", "arbor-safekeeper")) {
      JsonNode pod = object(objects, "StatefulSet", daemon).at("/spec/template/spec");
      List<String> args = new ArrayList<>();
      pod.at("/containers/0/args").forEach(a -> args.add(a.asText()));
      assertThat(args).as(daemon + " args").contains("--auth-keys=/etc/arbor/auth-keys/public-keys.jwks", "--auth-issuer=" + issuer,
          "--token-file=/var/run/arbor/storage-token/token");
      Map<String, JsonNode> volumes = new java.util.LinkedHashMap<>();
      pod.get("volumes").forEach(v -> volumes.put(v.get("name").asText(), v));
      assertThat(volumes.get("auth-keys").at("/configMap/name").asText()).isEqualTo("arbor-storage-auth-keys");
      assertThat(volumes.get("storage-token").at("/secret/secretName").asText()).isEqualTo("arbor-storage-token");
      pod.at("/containers/0/volumeMounts").forEach(m -> assertThat(m.has("subPath")).as(daemon + " mount " + m).isFalse());
    }
    assertThat(operatorEnv(rendered)).containsEntry("ARBOR_AUTH_ISSUER", issuer).containsEntry("ARBOR_AUTH_NAMESPACE", "arbor-system")
        .containsEntry("ARBOR_AUTH_NAME_PREFIX", "arbor").containsEntry("ARBOR_AUTH_COMPUTE_TOKEN_TTL", "8h");
  }

  /**
   * TLS is on by default (docs/security.md, "TLS"): the daemons serve HTTPS with the certificate the operator issues
   * into arbor-storage-tls, mounted whole; every storage URL is https; the kubelet probes over HTTPS; the operator issues
   * for every name the daemons are reached by; nothing says plain HTTP. Off (development only), both sides say so.
   */
  @Test
  void tlsIsOnByDefault() throws IOException {
    String rendered = cli.helm("template", "arbor", "helm/arbor", "-n", "arbor-system", "--set", DEV).check().out();
    assertThat(rendered).doesNotContain("--insecure-no-tls").doesNotContain("ARBOR_STORAGE_ENGINE_INSECURE_HTTP");
    List<JsonNode> objects = objects(rendered);
    for (String daemon : List.of("arbor-pageserver", "arbor-safekeeper")) {
      JsonNode pod = object(objects, "StatefulSet", daemon).at("/spec/template/spec");
      List<String> args = new ArrayList<>();
      pod.at("/containers/0/args").forEach(a -> args.add(a.asText()));
      assertThat(args).as(daemon + " args").contains("--tls-cert=/var/run/arbor/tls/tls.crt", "--tls-key=/var/run/arbor/tls/tls.key",
          "--tls-ca=/var/run/arbor/tls/ca.crt");
      assertThat(args.stream().filter(a -> a.contains("://")).toList()).as(daemon + " URLs")
          .allMatch(a -> !a.contains("http://") || a.contains("s3-dev"));
      Map<String, JsonNode> volumes = new java.util.LinkedHashMap<>();
      pod.get("volumes").forEach(v -> volumes.put(v.get("name").asText(), v));
      assertThat(volumes.get("tls").at("/secret/secretName").asText()).isEqualTo("arbor-storage-tls");
      assertThat(pod.at("/containers/0/readinessProbe/httpGet/scheme").asText()).isEqualTo("HTTPS");
      assertThat(pod.at("/containers/0/livenessProbe/httpGet/scheme").asText()).isEqualTo("HTTPS");
    }
    Map<String, String> env = operatorEnv(rendered);
    assertThat(env).containsEntry("ARBOR_TLS_ENABLED", "true").doesNotContainKey("ARBOR_TLS_CA_SECRET");
    assertThat(env.get("ARBOR_STORAGE_ENGINE_PAGESERVER_URL")).isEqualTo("https://arbor-pageserver.arbor-system.svc:9898");
    assertThat(env.get("ARBOR_STORAGE_ENGINE_PAGESERVER_MANAGEMENT_URL")).isEqualTo("https://arbor-pageserver.arbor-system.svc:9899");
    assertThat(env.get("ARBOR_STORAGE_ENGINE_SAFEKEEPERS").split(",")).allMatch(e -> e.contains("=https://"));
    assertThat(env.get("ARBOR_TLS_STORAGE_DNS_NAMES").split(",")).containsExactly("arbor-pageserver", "arbor-pageserver.arbor-system",
        "arbor-pageserver.arbor-system.svc", "arbor-safekeeper-0.arbor-safekeeper.arbor-system.svc",
        "arbor-safekeeper-1.arbor-safekeeper.arbor-system.svc", "arbor-safekeeper-2.arbor-safekeeper.arbor-system.svc");

    String mine = cli.helm("template", "arbor", "helm/arbor", "-n", "arbor-system", "--set", DEV, "--set", "tls.caSecret=my-ca").check().out();
    assertThat(operatorEnv(mine)).containsEntry("ARBOR_TLS_CA_SECRET", "my-ca");
    assertThat(mine).contains("resourceNames: [my-ca]");

    String off = cli.helm("template", "arbor", "helm/arbor", "-n", "arbor-system", "--set", DEV, "--set", "tls.enabled=false").check().out();
    assertThat(off).contains("- --insecure-no-tls").doesNotContain("--tls-cert");
    assertThat(operatorEnv(off)).containsEntry("ARBOR_STORAGE_ENGINE_INSECURE_HTTP", "true").doesNotContainKey("ARBOR_TLS_ENABLED");
  }

  /** compute.pgdataVolume reaches the operator: no storage class by default (emptyDir), the class and size when set. */
  @Test
  void thePgdataVolumeValuesReachTheOperator() throws IOException {
    Map<String, String> off = operatorEnv(cli.helm("template", "arbor", "helm/arbor", "--set", DEV).check().out());
    assertThat(off).doesNotContainKey("ARBOR_COMPUTE_PGDATA_VOLUME_STORAGE_CLASS").containsEntry("ARBOR_COMPUTE_PGDATA_VOLUME_SIZE", "10Gi");
    Map<String, String> on = operatorEnv(cli.helm("template", "arbor", "helm/arbor", "--set", DEV, "--set",
        "compute.pgdataVolume.storageClass=fast-ssd", "--set", "compute.pgdataVolume.size=50Gi").check().out());
    assertThat(on).containsEntry("ARBOR_COMPUTE_PGDATA_VOLUME_STORAGE_CLASS", "fast-ssd").containsEntry("ARBOR_COMPUTE_PGDATA_VOLUME_SIZE", "50Gi");
    var notASize = cli.helm("template", "arbor", "helm/arbor", "--set", DEV, "--set", "compute.pgdataVolume.size=50GB");
    assertThat(notASize.exit()).isNotZero();
    assertThat(notASize.err()).contains("/compute/pgdataVolume/size");
  }

  private static Map<String, String> operatorEnv(String rendered) throws IOException {
    List<JsonNode> objects = objects(rendered);
    Map<String, String> env = new java.util.LinkedHashMap<>();
    object(objects, "Deployment", "arbor-operator").at("/spec/template/spec/containers/0/env")
        .forEach(e -> env.put(e.get("name").asText(), e.path("value").asText()));
    return env;
  }

  /** The objects of a rendered chart. */
  private static List<JsonNode> objects(String rendered) throws IOException {
    List<JsonNode> objects = new ArrayList<>();
    try (var docs = new YAMLMapper().readerFor(JsonNode.class).<JsonNode>readValues(rendered)) {
      docs.forEachRemaining(d -> {
        if (d != null && d.has("kind")) {
          objects.add(d);
        }
      });
    }
    return objects;
  }

  private static JsonNode object(List<JsonNode> objects, String kind, String name) {
    return objects.stream().filter(o -> o != null && kind.equals(o.path("kind").asText()) && name.equals(o.at("/metadata/name").asText()))
        .findFirst().orElseThrow(() -> new AssertionError("no " + kind + " " + name + " rendered"));
  }

  /** Who a NetworkPolicy lets reach {@code port}: compute, a component of the release, or metricsFrom. */
  private static List<String> sourcesOf(JsonNode policy, int port) {
    List<String> out = new ArrayList<>();
    for (JsonNode rule : policy.at("/spec/ingress")) {
      if (!rule.get("ports").findValuesAsText("port").contains(Integer.toString(port))) {
        continue;
      }
      for (JsonNode from : rule.get("from")) {
        JsonNode labels = from.at("/podSelector/matchLabels");
        out.add(labels.path("app.kubernetes.io/name").asText().equals("arbor-compute") ? "compute"
            : labels.has("app.kubernetes.io/component") ? labels.get("app.kubernetes.io/component").asText()
            : from.at("/namespaceSelector/matchLabels/team").asText().equals("monitoring") ? "metricsFrom" : from.toString());
      }
    }
    return out;
  }

  @Test
  void theChartAndTheImagesShareTheProjectVersion() throws IOException {
    JsonNode chart = new YAMLMapper().readTree(RepoFiles.read("helm/arbor/Chart.yaml"));
    assertThat(chart.get("appVersion").asText()).as("Chart.yaml appVersion = the images' tag (pom.xml's version)")
        .isEqualTo(ClusterProvider.arborTag());
    assertThat(chart.get("version").asText()).isEqualTo(ClusterProvider.arborTag());
  }

  @Test
  void theReadmeListsEveryValue() throws IOException {
    JsonNode values = new YAMLMapper().readTree(RepoFiles.read("helm/arbor/values.yaml"));
    JsonNode schema = new YAMLMapper().readTree(RepoFiles.read("helm/arbor/values.schema.json"));
    String readme = RepoFiles.read("helm/arbor/README.md");
    List<String> keys = new ArrayList<>();
    leaves(values, schema, "", keys);
    assertThat(keys).hasSizeGreaterThan(40);
    for (String key : keys) {
      assertThat(readme).as("helm/arbor/README.md's row for %s", key).contains("| `" + key + "` |");
    }
  }

  /** Keys of values.yaml down to where the schema stops describing fixed properties. */
  private static void leaves(JsonNode values, JsonNode schema, String prefix, List<String> out) {
    for (Iterator<Map.Entry<String, JsonNode>> it = values.fields(); it.hasNext(); ) {
      var e = it.next();
      JsonNode sub = schema.path("properties").path(e.getKey());
      String key = prefix + e.getKey();
      if (e.getValue().isObject() && sub.path("additionalProperties").isBoolean() && !sub.path("additionalProperties").asBoolean()) {
        leaves(e.getValue(), sub, key + ".", out);
      } else {
        out.add(key);
      }
    }
  }

  @Test
  void installYamlIsTheChartRendered() throws IOException {
    var rendered = new ProcessBuilder(RepoFiles.root().resolve("scripts/render-install").toString(), "-")
        .directory(RepoFiles.root().toFile()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    String fresh = new String(rendered.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      assertThat(rendered.waitFor()).isZero();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    assertThat(RepoFiles.read("manifests/install.yaml")).as("manifests/install.yaml is stale: run scripts/render-install")
        .isEqualTo(fresh);
  }

  @Test
  void theApiServerAcceptsEveryRenderedObjectUnderPodSecurityRestricted() throws IOException {
    // "warn" makes the API server check the pod templates of workloads too ("enforce" checks only pods).
    for (String ns : List.of("arbor-system", "team-a", "team-b")) {
      kube.client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns)
          .addToLabels("pod-security.kubernetes.io/enforce", "restricted").addToLabels("pod-security.kubernetes.io/warn", "restricted")
          .endMetadata().build()).createOr(c -> c.update());
    }
    for (String crd : List.of("projects", "branches", "endpoints")) {
      cli.kubectl("apply", "--server-side", "-f", "helm/arbor/crds/arbor.dev_" + crd + ".yaml").check();
    }
    // The evaluation install (what install.yaml holds), and a production-like values file.
    dryRun(cli.helm("template", "arbor", "helm/arbor", "-n", "arbor-system", "--set", DEV).check().out());
    dryRun(cli.helm("template", "arbor", "helm/arbor", "-n", "arbor-system", "-f", "helm/arbor/ci/production-values.yaml")
        .check().out());
  }

  private static void dryRun(String manifests) {
    var applied = cli.kubectlWithInput(manifests, "apply", "--dry-run=server", "-f", "-").check();
    assertThat(applied.err()).as("warnings of the API server (Pod Security among them)").doesNotContain("Warning");
    Matcher created = Pattern.compile("(?m) created \\(server dry run\\)$").matcher(applied.out());
    int count = 0;
    while (created.find()) {
      count++;
    }
    assertThat(count).as("objects accepted:%n%s", applied.out()).isGreaterThanOrEqualTo(15);
  }
}
