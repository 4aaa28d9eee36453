package dev.arbor.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.testing.RepoFiles;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Arbor installed the way a platform team installs it, with only {@code helm} and {@code kubectl}: the chart
 * with its evaluation object store, a Project, a Branch at an LSN and an Endpoint on each in a namespace under
 * Pod Security "restricted"; rows written and read through the Endpoints' connection Secrets; the pageserver and
 * a safekeeper deleted while a client commits (no acknowledged row lost, commits go on); {@code helm upgrade};
 * {@code helm uninstall}, which leaves the CRDs, the user's objects and the volumes. Then the chart with its
 * S3 values against an S3 server in the cluster, and manifests/install.yaml applied with kubectl alone.
 */
@ExtendWith(SharedCluster.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class HelmInstallE2ETest {
  static final String RELEASE = "arbor";
  static final String SYSTEM = "arbor-system";
  private static final ResourceDefinitionContext PROJECTS = kind("Project", "projects");
  private static final ResourceDefinitionContext BRANCHES = kind("Branch", "branches");
  private static final ResourceDefinitionContext ENDPOINTS = kind("Endpoint", "endpoints");
  private static final List<String> CRDS = List.of("projects.arbor.dev", "branches.arbor.dev", "endpoints.arbor.dev");

  private static ClusterProvider cluster;
  private static KubeCli cli;
  private static boolean crdsWereThere;
  /** The user's namespace of the running test; removed (and its objects' finalizers released) after it. */
  private TestNamespace namespace;

  @BeforeAll
  static void cluster(ClusterProvider provider) {
    cluster = provider;
    cli = new KubeCli(provider.kubeconfig());
    KubernetesClient k = cluster.client();
    crdsWereThere = k.apiextensions().v1().customResourceDefinitions().withName(CRDS.get(0)).get() != null;
    removeRelease(); // what an interrupted earlier run left
  }

  @BeforeEach
  void userNamespace() {
    namespace = TestNamespace.create(cluster.client());
  }

  @AfterEach
  void removeRelease_andTheUsersObjects() {
    removeRelease();
    // The operator is gone: nobody removes the finalizers of the user's objects but us.
    releaseFinalizers(cluster.client(), namespace.name());
    namespace.close();
  }

  @AfterAll
  static void removeTheCrds() {
    if (cluster != null && !crdsWereThere) {
      CRDS.forEach(name -> cluster.client().apiextensions().v1().customResourceDefinitions().withName(name).delete());
    }
  }

  @Test
  @Order(1)
  void installUseSurviveLossesUpgradeAndUninstallWithHelmAndKubectl() throws Exception {
    KubernetesClient k = cluster.client();
    String ns = namespace.name();

    // 1. helm install, as the README says, with the images of this build.
    List<String> install = new ArrayList<>(List.of("install", RELEASE, "helm/arbor", "-n", SYSTEM, "--create-namespace",
        "--set", "objectStore.dev.enabled=true", "--wait", "--timeout", "6m"));
    install.addAll(cluster.helmImageValues());
    check(cli.helm(install.toArray(String[]::new)));
    // Every pod of the release meets Pod Security "restricted": the API server, asked to enforce it on the
    // namespace, names every pod that would violate it (as a warning) — and then enforces it for later pods.
    var label = check(cli.kubectl("label", "namespace", SYSTEM, "--overwrite", "pod-security.kubernetes.io/enforce=restricted"));
    assertThat(label.err()).as("warnings of the API server about the release's pods").doesNotContain("violate");
    assertThat(k.pods().inNamespace(SYSTEM).list().getItems()).extracting(p -> p.getMetadata().getName())
        .contains("arbor-pageserver-0", "arbor-safekeeper-0", "arbor-safekeeper-1", "arbor-safekeeper-2", "arbor-s3-dev-0")
        .anyMatch(n -> n.startsWith("arbor-operator-"));
    assertThat(k.leases().inNamespace(SYSTEM).withName("arbor-operator").get()).as("the operator's leader Lease").isNotNull();

    // 2. A Project with a role and a database, and an Endpoint on its root Branch.
    createShopWithAnEndpoint(ns);

    // 3. Rows through the connection Secret; a Branch at the LSN between two batches sees exactly the first.
    psql(ns, "shop-main-rw", "CREATE TABLE items (id int PRIMARY KEY, v text); "
        + "INSERT INTO items SELECT g, 'first' FROM generate_series(1, 100) g; SELECT 'ok'", "(ok)");
    // In a session of its own: statements in one psql -c share a transaction, whose commit comes after them.
    String lsn = psql(ns, "shop-main-rw", "SELECT 'lsn=' || pg_current_wal_lsn()", "lsn=(\\S+)");
    psql(ns, "shop-main-rw", "INSERT INTO items SELECT g, 'second' FROM generate_series(101, 200) g; SELECT 'ok'", "(ok)");
    apply(ns, """
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: shop-dev}
        spec: {projectRef: shop, parent: shop-main, parentLsn: "%s"}
        ---
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: shop-dev-rw}
        spec: {branchRef: shop-dev, mode: ReadWrite}
        """.formatted(lsn));
    awaitReady(ns, "project/shop", "branch/shop-main", "branch/shop-dev", "endpoint/shop-main-rw", "endpoint/shop-dev-rw");
    assertThat(psql(ns, "shop-dev-rw", "SELECT 'rows=' || count(*) || ',' || string_agg(DISTINCT v, ',') FROM items", "rows=(\\S+)"))
        .as("the branch at %s sees the first batch only", lsn).isEqualTo("100,first");
    assertThat(psql(ns, "shop-main-rw", "SELECT 'rows=' || count(*) FROM items", "rows=(\\S+)")).isEqualTo("200");
    // The compute image's extensions: contrib and pgvector, created by the database's owner (the Secret's user).
    assertThat(psql(ns, "shop-main-rw", "CREATE EXTENSION IF NOT EXISTS vector; CREATE EXTENSION IF NOT EXISTS pg_trgm; "
        + "CREATE TABLE docs (id int, embedding vector(3)); INSERT INTO docs VALUES (1, '[1,2,3]'), (2, '[3,2,1]'); "
        + "SELECT 'nearest=' || id FROM docs ORDER BY embedding <-> '[1,2,2]' LIMIT 1", "nearest=(\\d+)")).isEqualTo("1");

    // 4. The pageserver and a safekeeper deleted while a client commits one row at a time.
    psql(ns, "shop-main-rw", "CREATE TABLE ledger (id int PRIMARY KEY); SELECT 'ok'", "(ok)");
    startLedgerWriter(ns);
    awaitAcks(k, ns, 20, Duration.ofMinutes(2));
    check(cli.kubectl("-n", SYSTEM, "delete", "pod", "arbor-pageserver-0", "arbor-safekeeper-1", "--wait=false"));
    int atLoss = acks(k, ns).size();
    awaitAcks(k, ns, atLoss + 50, Duration.ofMinutes(3)); // commits go on with two of three safekeepers
    check(cli.kubectl("-n", SYSTEM, "rollout", "status", "statefulset/arbor-pageserver", "statefulset/arbor-safekeeper",
        "--timeout=5m"));
    int afterReturn = acks(k, ns).size();
    awaitAcks(k, ns, afterReturn + 20, Duration.ofMinutes(2));
    Set<Integer> acknowledged = acks(k, ns);
    k.pods().inNamespace(ns).withName("ledger-writer").withGracePeriod(0).delete();
    Set<Integer> stored = psqlLines(ns, "shop-main-rw", "SELECT 'id=' || id FROM ledger", "id=(\\d+)").stream()
        .map(Integer::valueOf).collect(Collectors.toSet());
    assertThat(stored).as("rows of acknowledged commits (%d acknowledged)", acknowledged.size()).containsAll(acknowledged);
    // A new Branch and Endpoint start with the pageserver back.
    apply(ns, """
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: shop-after}
        spec: {projectRef: shop, parent: shop-main}
        ---
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: shop-after-rw}
        spec: {branchRef: shop-after, mode: ReadWrite}
        """);
    awaitReady(ns, "branch/shop-after", "endpoint/shop-after-rw");
    assertThat(Integer.parseInt(psql(ns, "shop-after-rw", "SELECT 'rows=' || count(*) FROM ledger", "rows=(\\d+)")))
        .as("the new branch holds every acknowledged ledger row").isGreaterThanOrEqualTo(acknowledged.size());

    // 5. helm upgrade with a changed value: the operator rolls, everything stays Ready, the data stays.
    List<String> upgrade = new ArrayList<>(List.of("upgrade", RELEASE, "helm/arbor", "-n", SYSTEM, "--reuse-values",
        "--set", "operator.logLevel=DEBUG", "--set", "operator.replicas=2", "--wait", "--timeout", "6m"));
    check(cli.helm(upgrade.toArray(String[]::new)));
    assertThat(k.apps().deployments().inNamespace(SYSTEM).withName("arbor-operator").get().getStatus().getReadyReplicas()).isEqualTo(2);
    awaitReady(ns, "project/shop", "branch/shop-main", "branch/shop-dev", "branch/shop-after", "endpoint/shop-main-rw",
        "endpoint/shop-dev-rw", "endpoint/shop-after-rw");
    assertThat(psql(ns, "shop-main-rw", "SELECT 'rows=' || count(*) FROM items", "rows=(\\S+)")).isEqualTo("200");

    // 6. helm uninstall: the release's workloads go; the CRDs, the user's objects and the volumes stay.
    check(cli.helm("uninstall", RELEASE, "-n", SYSTEM, "--wait", "--timeout", "5m"));
    await().atMost(Duration.ofMinutes(2)).untilAsserted(() -> assertThat(k.pods().inNamespace(SYSTEM).list().getItems()).isEmpty());
    assertThat(k.apps().statefulSets().inNamespace(SYSTEM).list().getItems()).isEmpty();
    assertThat(k.apps().deployments().inNamespace(SYSTEM).list().getItems()).isEmpty();
    assertThat(k.services().inNamespace(SYSTEM).list().getItems()).isEmpty();
    for (String crd : CRDS) {
      assertThat(k.apiextensions().v1().customResourceDefinitions().withName(crd).get()).as(crd).isNotNull();
    }
    assertThat(k.genericKubernetesResources(PROJECTS).inNamespace(ns).withName("shop").get()).isNotNull();
    assertThat(k.genericKubernetesResources(ENDPOINTS).inNamespace(ns).list().getItems()).hasSize(3);
    assertThat(k.persistentVolumeClaims().inNamespace(SYSTEM).list().getItems()).extracting(c -> c.getMetadata().getName())
        .contains("cache-arbor-pageserver-0", "data-arbor-safekeeper-0", "data-arbor-safekeeper-1", "data-arbor-safekeeper-2",
            "data-arbor-s3-dev-0");
  }

  /**
   * The chart with objectStore.s3 (not the dev switch) pointing at an S3 server in the cluster, as a user's
   * MinIO or Ceph RGW would be: S3Proxy from arbor-s3-dev in a namespace of its own, credentials from a Secret.
   */
  @Test
  @Order(2)
  void theChartWithItsS3ValuesOnAnS3ServerInTheCluster() {
    KubernetesClient k = cluster.client();
    String ns = namespace.name();
    String s3 = ns + "-s3";
    check(cli.kubectl("create", "namespace", s3));
    try {
      check(cli.kubectlWithInput("""
          apiVersion: apps/v1
          kind: Deployment
          metadata: {name: s3}
          spec:
            selector: {matchLabels: {app: s3}}
            template:
              metadata: {labels: {app: s3}}
              spec:
                securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
                containers:
                - name: s3
                  image: %s
                  imagePullPolicy: %s
                  env: [{name: S3_BUCKET, value: company-bucket}]
                  ports: [{containerPort: 9000}]
                  readinessProbe: {tcpSocket: {port: 9000}, periodSeconds: 1}
                  securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
                  volumeMounts: [{name: data, mountPath: /var/lib/s3}, {name: tmp, mountPath: /tmp}]
                volumes: [{name: data, emptyDir: {}}, {name: tmp, emptyDir: {}}]
          ---
          apiVersion: v1
          kind: Service
          metadata: {name: s3}
          spec:
            selector: {app: s3}
            ports: [{port: 9000, targetPort: 9000}]
          """.formatted(cluster.image("s3-dev"), cluster.imagePullPolicy()), "-n", s3, "apply", "-f", "-"));
      check(cli.kubectl("-n", s3, "rollout", "status", "deployment/s3", "--timeout=3m"));
      check(cli.kubectl("create", "namespace", SYSTEM));
      check(cli.kubectl("-n", SYSTEM, "create", "secret", "generic", "company-s3", "--from-literal=AWS_ACCESS_KEY_ID=company-key",
          "--from-literal=AWS_SECRET_ACCESS_KEY=company-secret"));
      List<String> install = new ArrayList<>(List.of("install", RELEASE, "helm/arbor", "-n", SYSTEM,
          "--set", "objectStore.s3.bucket=company-bucket", "--set", "objectStore.s3.prefix=arbor/e2e",
          "--set", "objectStore.s3.endpoint=http://s3." + s3 + ".svc:9000", "--set", "objectStore.s3.region=eu-central-1",
          "--set", "objectStore.s3.credentialsSecret.name=company-s3", "--set", "safekeepers.persistence.size=1Gi",
          "--set", "pageserver.persistence.size=2Gi", "--wait", "--timeout", "6m"));
      install.addAll(cluster.helmImageValues());
      check(cli.helm(install.toArray(String[]::new)));
      createShopWithAnEndpoint(ns);
      assertThat(psql(ns, "shop-main-rw", "CREATE TABLE t AS SELECT generate_series(1, 10) v; SELECT 'sum=' || sum(v) FROM t", "sum=(\\d+)"))
          .isEqualTo("55");
      // The storage engine's objects are in the company's bucket, under the prefix.
      var listing = check(cli.kubectl("-n", s3, "exec", "deployment/s3", "--", "sh", "-c",
          "cd /var/lib/s3/company-bucket && for f in arbor/e2e/*; do echo \"$f\"; done"));
      assertThat(listing.out()).contains("arbor/e2e/tenants");
    } finally {
      removeRelease();
      releaseFinalizers(k, ns);
      k.namespaces().withName(s3).delete();
    }
  }

  /** manifests/install.yaml with kubectl alone: a running operator and storage engine that serve a Project. */
  @Test
  @Order(3)
  void installYamlWithKubectlAlone() {
    String ns = namespace.name();
    String manifests = RepoFiles.read("manifests/install.yaml").replace("image: arbor-", "image: " + imagePrefix() + "arbor-")
        .replace("imagePullPolicy: IfNotPresent", "imagePullPolicy: " + cluster.imagePullPolicy());
    // The CRDs are there already, installed by helm in the tests before: a second field manager takes them over.
    check(cli.kubectlWithInput(manifests, "apply", "--server-side", "--force-conflicts", "-f", "-"));
    try {
      check(cli.kubectl("-n", SYSTEM, "rollout", "status", "deployment/arbor-operator", "statefulset/arbor-pageserver",
          "statefulset/arbor-safekeeper", "statefulset/arbor-s3-dev", "--timeout=6m"));
      apply(ns, """
          apiVersion: arbor.dev/v1alpha1
          kind: Project
          metadata: {name: shop}
          spec: {}
          """);
      awaitReady(ns, "project/shop", "branch/shop-main");
    } finally {
      // What install.yaml made, but the CRDs (the cluster-scoped RBAC and the namespace with its volumes).
      check(cli.kubectlWithInput(manifests.replaceAll("(?s)^.*?\n---\napiVersion: v1\nkind: Namespace", "---\napiVersion: v1\nkind: Namespace"),
          "delete", "--ignore-not-found", "--wait=false", "-f", "-"));
    }
  }

  private static String imagePrefix() {
    String operator = cluster.image("operator");
    return operator.substring(0, operator.indexOf("arbor-operator:"));
  }

  // --- steps -------------------------------------------------------------------------------------------

  private static KubeCli.Result check(KubeCli.Result r) {
    if (r.exit() != 0) {
      throw new AssertionError(String.join(" ", r.command()) + " failed (exit " + r.exit() + "):\n" + r.out() + r.err()
          + "\n--- the cluster ---\n" + diagnostics());
    }
    return r;
  }

  private static void apply(String ns, String yaml) {
    check(cli.kubectlWithInput(yaml, "-n", ns, "apply", "-f", "-"));
  }

  /** Project shop (role and database app) and the Endpoint shop-main-rw on its root Branch, all Ready. */
  private static void createShopWithAnEndpoint(String ns) {
    apply(ns, """
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
        spec: {branchRef: shop-main, mode: ReadWrite}
        """);
    awaitReady(ns, "project/shop", "branch/shop-main", "endpoint/shop-main-rw");
  }

  private static void awaitReady(String ns, String... objects) {
    List<String> args = new ArrayList<>(List.of("-n", ns, "wait", "--for=condition=Ready", "--timeout=5m"));
    args.addAll(List.of(objects));
    check(cli.kubectl(args.toArray(String[]::new)));
  }

  private static int clients;

  /**
   * Runs {@code sql} with psql in a pod of its own (arbor-compute's image, restricted) with the URI of the
   * Endpoint's connection Secret; returns the first group of {@code pattern} in its output.
   */
  private static String psql(String ns, String endpoint, String sql, String pattern) {
    List<String> found = psqlLines(ns, endpoint, sql, pattern);
    assertThat(found).as("psql output matching %s", pattern).isNotEmpty();
    return found.get(0);
  }

  private static List<String> psqlLines(String ns, String endpoint, String sql, String pattern) {
    KubernetesClient k = cluster.client();
    String name = "psql-" + (++clients);
    k.load(new ByteArrayInputStream(PsqlClient.pod(name, cluster.image("compute"), cluster.imagePullPolicy(), 120,
        "\"$URI\" -v ON_ERROR_STOP=1 -Atc \"" + sql.replace("\"", "\\\"") + "\"",
        "[{name: URI, valueFrom: {secretKeyRef: {name: " + endpoint + "-connection, key: uri}}}]").getBytes(StandardCharsets.UTF_8)))
        .inNamespace(ns).create();
    String phase = PsqlClient.awaitEnd(k, ns, name, Duration.ofMinutes(3));
    String out = PsqlClient.log(k, ns, name, null);
    k.pods().inNamespace(ns).withName(name).withGracePeriod(0).delete();
    assertThat(phase).as("psql %s on %s; its log:%n%s%n--- the cluster ---%n%s", sql, endpoint, out, diagnostics()).isEqualTo("Succeeded");
    List<String> found = new ArrayList<>();
    Matcher m = Pattern.compile(pattern).matcher(out);
    while (m.find()) {
      found.add(m.group(1));
    }
    return found;
  }

  /** A pod that commits ledger rows 1, 2, 3, ... one per psql call and prints "ack N" for each commit acknowledged. */
  private static void startLedgerWriter(String ns) {
    cluster.client().load(new ByteArrayInputStream("""
        apiVersion: v1
        kind: Pod
        metadata: {name: ledger-writer}
        spec:
          restartPolicy: Never
          securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: psql
            image: %s
            imagePullPolicy: %s
            command: [sh, -c]
            args:
            - |
              i=0
              while true; do
                i=$((i+1))
                if psql "$URI" -qAt -v ON_ERROR_STOP=1 -c "INSERT INTO ledger VALUES ($i)" >/dev/null 2>&1; then echo "ack $i"; else echo "fail $i"; fi
                sleep 0.1
              done
            env: [{name: URI, valueFrom: {secretKeyRef: {name: shop-main-rw-connection, key: uri}}}]
            securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        """.formatted(cluster.image("compute"), cluster.imagePullPolicy()).getBytes(StandardCharsets.UTF_8))).inNamespace(ns).create();
  }

  private static Set<Integer> acks(KubernetesClient k, String ns) {
    Set<Integer> acks = new HashSet<>();
    Matcher m = Pattern.compile("(?m)^ack (\\d+)$").matcher(PsqlClient.log(k, ns, "ledger-writer", null));
    while (m.find()) {
      acks.add(Integer.valueOf(m.group(1)));
    }
    return acks;
  }

  private static void awaitAcks(KubernetesClient k, String ns, int count, Duration timeout) {
    await().atMost(timeout).pollInterval(Duration.ofSeconds(2)).untilAsserted(() -> assertThat(acks(k, ns).size())
        .as("acknowledged ledger commits; the writer's last lines:%n%s%n--- the cluster ---%n%s", tail(PsqlClient.log(k, ns, "ledger-writer", null)),
            diagnostics()).isGreaterThanOrEqualTo(count));
  }

  private static String tail(String log) {
    String[] lines = log.split("\n");
    return String.join("\n", List.of(lines).subList(Math.max(0, lines.length - 10), lines.length));
  }

  /** What a person would look at when a step fails: the pods, the warnings and the logs of Arbor's pods. */
  static String diagnostics() {
    KubernetesClient k = cluster.client();
    StringBuilder out = new StringBuilder();
    out.append(cli.kubectl("get", "pods,pvc,projects,branches,endpoints", "-A", "-o", "wide").out());
    k.v1().events().inAnyNamespace().list().getItems().stream().filter(e -> "Warning".equals(e.getType()))
        .forEach(e -> out.append("warning ").append(e.getMetadata().getNamespace()).append(' ').append(e.getInvolvedObject().getKind())
            .append('/').append(e.getInvolvedObject().getName()).append(": ").append(e.getMessage()).append('\n'));
    for (Pod p : k.pods().inNamespace(SYSTEM).list().getItems()) {
      out.append("--- log of ").append(p.getMetadata().getName()).append(" ---\n")
          .append(tail(PsqlClient.log(k, SYSTEM, p.getMetadata().getName(), null))).append('\n');
    }
    return out.toString();
  }

  /** helm uninstall (when installed) and the release's namespace with its volumes and cluster-scoped RBAC. */
  static void removeRelease() {
    KubernetesClient k = cluster.client();
    if (cli.helm("status", RELEASE, "-n", SYSTEM).exit() == 0) {
      cli.helm("uninstall", RELEASE, "-n", SYSTEM, "--wait", "--timeout", "5m");
    }
    cli.kubectl("delete", "clusterrolebinding,clusterrole", "-l", "app.kubernetes.io/instance=" + RELEASE, "--ignore-not-found");
    if (k.namespaces().withName(SYSTEM).get() != null) {
      k.namespaces().withName(SYSTEM).delete();
      await().atMost(Duration.ofMinutes(3)).until(() -> k.namespaces().withName(SYSTEM).get() == null);
    }
  }

  static void releaseFinalizers(KubernetesClient k, String ns) {
    for (ResourceDefinitionContext kind : List.of(PROJECTS, BRANCHES, ENDPOINTS)) {
      for (GenericKubernetesResource r : k.genericKubernetesResources(kind).inNamespace(ns).list().getItems()) {
        k.genericKubernetesResources(kind).inNamespace(ns).withName(r.getMetadata().getName()).edit(e -> {
          e.getMetadata().setFinalizers(List.of());
          return e;
        });
      }
    }
  }

  static ResourceDefinitionContext kind(String kind, String plural) {
    return new ResourceDefinitionContext.Builder().withGroup("arbor.dev").withVersion("v1alpha1").withKind(kind)
        .withPlural(plural).withNamespaced(true).build();
  }
}
