package dev.arbor.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.client.auth.KeyDirectory;
import dev.arbor.client.auth.SigningKey;
import dev.arbor.testing.RepoFiles;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.LocalPortForward;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.StreamSupport;
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
 * with its evaluation object store and computes' PGDATA on claims of the default StorageClass, a Project, a Branch at an LSN and an Endpoint on each in a namespace under
 * Pod Security "restricted", each object Ready at its generation and each Endpoint Running; commits that wait for
 * a majority of the chart's safekeepers; rows written and read through the Endpoints' connection Secrets, the
 * branch's own writes apart from its parent's; another team's tenant out of reach from a compute (no deletion
 * through the pageserver URL computes get, no ServiceAccount token); the pageserver and
 * a safekeeper deleted while a client commits (no acknowledged row lost, commits go on); {@code helm upgrade};
 * {@code helm uninstall}, which leaves the CRDs, the user's objects and the volumes; no "forbidden" in the
 * operator's log before. Then the chart with its
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
  private static final Map<String, ResourceDefinitionContext> KINDS =
      Map.of("project", PROJECTS, "branch", BRANCHES, "endpoint", ENDPOINTS);
  private static final ObjectMapper JSON = new ObjectMapper();

  private static ClusterProvider cluster;
  private static KubeCli cli;
  private static boolean crdsWereThere;
  /** The user's namespace of the running test; removed (and its objects' finalizers released) after it. */
  private TestNamespace namespace;
  /** A second team's namespace, when the test makes one; removed like {@link #namespace}. */
  private TestNamespace otherTeam;

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
    if (otherTeam != null) {
      releaseFinalizers(cluster.client(), otherTeam.name());
      otherTeam.close();
    }
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

    // 1. helm install, as the README says, with the images of this build, and PGDATA on volumes that outlive a suspend.
    List<String> install = new ArrayList<>(List.of("install", RELEASE, "helm/arbor", "-n", SYSTEM, "--create-namespace",
        "--set", "objectStore.dev.enabled=true", "--wait", "--timeout", "6m"));
    install.addAll(cluster.helmImageValues());
    install.addAll(cluster.helmPgdataVolumeValues());
    check(cli.helm(install.toArray(String[]::new)));
    // Every pod of the release meets Pod Security "restricted": the API server, asked to enforce it on the
    // namespace, names every pod that would violate it (as a warning) — and then enforces it for later pods.
    var label = check(cli.kubectl("label", "namespace", SYSTEM, "--overwrite", "pod-security.kubernetes.io/enforce=restricted"));
    assertThat(label.err()).as("warnings of the API server about the release's pods").doesNotContain("violate");
    assertThat(k.pods().inNamespace(SYSTEM).list().getItems()).extracting(p -> p.getMetadata().getName())
        .contains("arbor-pageserver-0", "arbor-safekeeper-0", "arbor-safekeeper-1", "arbor-safekeeper-2", "arbor-s3-dev-0")
        .anyMatch(n -> n.startsWith("arbor-operator-"));
    assertThat(k.leases().inNamespace(SYSTEM).withName("arbor-operator").get()).as("the operator's leader Lease").isNotNull();

    // 2. A Project with a role and a database, and an Endpoint on its root Branch; another team's the same in a
    // namespace of its own (the chart's operator watches every namespace), started meanwhile.
    otherTeam = TestNamespace.create(k);
    applyShopWithAnEndpoint(otherTeam.name());
    createShopWithAnEndpoint(ns);
    // Ready in its first container: a compute that fails on the read-only root filesystem ("restricted" does not
    // ask for one) or on anything else its pod lacks shows up as a restart the kubelet papered over.
    assertNeverRestarted(ns, "shop-main-rw-0");
    assertCommitsWaitForAMajorityOfTheChartsSafekeepers(ns, "shop-main-rw");

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
    // Writes on the branch stay there, and the parent's later ones never reach it.
    psql(ns, "shop-dev-rw", "INSERT INTO items SELECT g, 'dev' FROM generate_series(1001, 1010) g; SELECT 'ok'", "(ok)");
    assertThat(psql(ns, "shop-dev-rw", "SELECT 'rows=' || count(*) || ',' || string_agg(DISTINCT v, ',' ORDER BY v) FROM items",
        "rows=(\\S+)")).isEqualTo("110,dev,first");
    assertThat(psql(ns, "shop-main-rw", "SELECT 'rows=' || count(*) || ',' || string_agg(DISTINCT v, ',' ORDER BY v) FROM items",
        "rows=(\\S+)")).isEqualTo("200,first,second");
    // The compute image's extensions: contrib and pgvector, created by the database's owner (the Secret's user).
    assertThat(psql(ns, "shop-main-rw", "CREATE EXTENSION IF NOT EXISTS vector; CREATE EXTENSION IF NOT EXISTS pg_trgm; "
        + "CREATE TABLE docs (id int, embedding vector(3)); INSERT INTO docs VALUES (1, '[1,2,3]'), (2, '[3,2,1]'); "
        + "SELECT 'nearest=' || id FROM docs ORDER BY embedding <-> '[1,2,2]' LIMIT 1", "nearest=(\\d+)")).isEqualTo("1");

    scaleToZeroAndWakeOnConnect(ns);

    // The other team's tenant, from this team's compute: the pageserver URL a compute is given serves the data
    // path only, and the pod holds no Kubernetes credentials.
    String other = otherTeam.name();
    awaitReady(other, "project/shop", "branch/shop-main", "endpoint/shop-main-rw");
    psql(other, "shop-main-rw", "CREATE TABLE theirs AS SELECT 'kept' AS v; SELECT 'ok'", "(ok)");
    assertAnotherTeamsTenantIsOutOfReach(ns, "shop-main-rw", other);
    assertThat(psql(other, "shop-main-rw", "SELECT 'v=' || v FROM theirs", "v=(\\S+)")).isEqualTo("kept");
    assertHasNoServiceAccountToken(ns, "shop-main-rw-0");
    // Neither the compute's ServiceAccount nor the storage engine's may read a Secret (role passwords, keys).
    String computeAccount = cluster.client().pods().inNamespace(ns).withName("shop-main-rw-0").get().getSpec().getServiceAccountName();
    assertCannotReadSecrets(ns, computeAccount);
    assertCannotReadSecrets(SYSTEM, RELEASE + "-storage");

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

    assertTheOperatorWasNeverForbidden();

    // 5. helm upgrade with a changed value: the operator rolls, everything stays Ready, the data stays.
    List<String> upgrade = new ArrayList<>(List.of("upgrade", RELEASE, "helm/arbor", "-n", SYSTEM, "--reuse-values",
        "--set", "operator.logLevel=DEBUG", "--set", "operator.replicas=2", "--wait", "--timeout", "6m"));
    check(cli.helm(upgrade.toArray(String[]::new)));
    assertThat(k.apps().deployments().inNamespace(SYSTEM).withName("arbor-operator").get().getStatus().getReadyReplicas()).isEqualTo(2);
    awaitReady(ns, "project/shop", "branch/shop-main", "branch/shop-dev", "branch/shop-after", "endpoint/shop-main-rw",
        "endpoint/shop-dev-rw", "endpoint/shop-after-rw");
    assertThat(psql(ns, "shop-main-rw", "SELECT 'rows=' || count(*) FROM items", "rows=(\\S+)")).isEqualTo("200");
    assertTheOperatorWasNeverForbidden();

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

  // --- what the story checks ----------------------------------------------------------------------------

  /**
   * Every commit of the Endpoint's compute waits for a majority of the safekeepers the chart runs: its spec names
   * exactly them, PostgreSQL waits for {@code ANY <majority>} of them, each streams as a quorum standby, and after
   * a commit at least a majority report, on their own HTTP API, WAL of the current generation flushed up to the
   * compute's position. (That last read comes after the commit returned, so alone it could not tell a synchronous
   * wait from a fast asynchronous one: the wait is what synchronous_standby_names and pg_stat_replication show.)
   */
  private static void assertCommitsWaitForAMajorityOfTheChartsSafekeepers(String ns, String endpoint) {
    KubernetesClient k = cluster.client();
    int replicas = k.apps().statefulSets().inNamespace(SYSTEM).withName(RELEASE + "-safekeeper").get().getSpec().getReplicas();
    int majority = replicas / 2 + 1;
    Set<String> chart = IntStream.range(0, replicas).mapToObj(i -> RELEASE + "-safekeeper-" + i).collect(Collectors.toSet());
    String pod = endpoint + "-0";
    JsonNode spec = computeSpec(ns, pod);
    assertThat(spec.path("tenant_id").asText()).isEqualTo(statusField(PROJECTS, ns, "shop", "tenantId"));
    assertThat(spec.path("timeline_id").asText()).isEqualTo(statusField(BRANCHES, ns, "shop-main", "timelineId"));
    Map<String, String> safekeepers = new TreeMap<>();
    spec.path("safekeepers").fields().forEachRemaining(e -> safekeepers.put(e.getKey(), e.getValue().asText()));
    assertThat(safekeepers.keySet()).as("the safekeepers in %s's compute spec", endpoint).isEqualTo(chart);
    // The compute's superuser on its local socket: pg_stat_replication shows positions to no role of the Project.
    String psql = "psql -h " + spec.path("work_dir").asText() + "/socket -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 -c ";
    await().atMost(Duration.ofMinutes(1)).untilAsserted(() -> {
      String out = inPod(ns, pod, psql + "'CREATE TABLE IF NOT EXISTS quorum_probe (at timestamptz)' && "
          + psql + "'INSERT INTO quorum_probe VALUES (now())' && "
          + psql + "\"SELECT 'lsn=' || pg_current_wal_lsn()\" && "
          + psql + "\"SELECT 'standbys=' || current_setting('synchronous_standby_names')\" && "
          + psql + "\"SELECT 'standby=' || application_name || ' ' || sync_state FROM pg_stat_replication\" && "
          + psql + "\"SELECT 'plain=' || count(*) FROM pg_stat_replication r JOIN pg_stat_ssl USING (pid) WHERE NOT ssl\"");
      Matcher any = Pattern.compile("(?m)^standbys=ANY (\\d+) \\((.*)\\)$").matcher(out);
      assertThat(any.find()).as("synchronous_standby_names of the compute:%n%s", out).isTrue();
      assertThat(Integer.parseInt(any.group(1))).as("safekeepers a commit waits for, of %d", replicas).isEqualTo(majority);
      assertThat(Set.of(any.group(2).replace("\"", "").split(",\\s*"))).as("synchronous standbys").isEqualTo(chart);
      Matcher standby = Pattern.compile("(?m)^standby=(\\S+) (\\S+)$").matcher(out);
      Set<String> quorum = new HashSet<>();
      while (standby.find()) {
        assertThat(standby.group(2)).as("sync_state of %s:%n%s", standby.group(1), out).isEqualTo("quorum");
        quorum.add(standby.group(1));
      }
      assertThat(quorum).as("safekeepers streaming from the compute:%n%s", out).hasSizeGreaterThanOrEqualTo(majority).isSubsetOf(chart);
      assertThat(find(out, "(?m)^plain=(\\d+)$")).as("replication connections without TLS:%n%s", out).isEqualTo("0");
      long committed = lsn(find(out, "(?m)^lsn=(\\S+)$"));
      List<JsonNode> statuses = new ArrayList<>();
      for (String url : safekeepers.values()) {
        // With the compute's own token, read from its file in the pod (the token never reaches this command line).
        statuses.add(JSON.readTree(inPod(ns, pod, "read -r token < " + spec.path("storage_token_file").asText()
            + " && curl -sSf --cacert " + spec.path("storage_ca_file").asText() + " -H \"Authorization: Bearer $token\" " + url
            + "/v1/tenant/" + spec.path("tenant_id").asText()
            + "/timeline/" + spec.path("timeline_id").asText())));
      }
      long generation = statuses.stream().mapToLong(s -> s.path("generation").asLong()).max().orElseThrow();
      assertThat(statuses.stream().filter(s -> s.path("generation").asLong() == generation && s.path("following").asBoolean()
          && lsn(s.path("flush_lsn").asText()) >= committed).count())
          .as("safekeepers with WAL of generation %d flushed to the commit's position %s: %s", generation,
              find(out, "(?m)^lsn=(\\S+)$"), statuses)
          .isGreaterThanOrEqualTo(majority);
    });
  }

  /**
   * From the Endpoint's compute, with the pageserver URL and the storage token it was given: another team's tenant and
   * its timeline cannot be read or deleted, nor the tenants listed (403: the token is valid, its scope does not reach
   * them); the pageserver, asked on its management port with an admin token, still has both.
   */
  private static void assertAnotherTeamsTenantIsOutOfReach(String ns, String endpoint, String otherNs) throws Exception {
    String tenant = statusField(PROJECTS, otherNs, "shop", "tenantId");
    String timeline = statusField(BRANCHES, otherNs, "shop-main", "timelineId");
    JsonNode spec = computeSpec(ns, endpoint + "-0");
    String pageserver = spec.path("pageserver_url").asText();
    List<List<String>> attempts = List.of(List.of("DELETE", "/v1/tenant/" + tenant), List.of("DELETE", "/v1/tenant/" + tenant
        + "/timeline/" + timeline), List.of("GET", "/v1/tenant/" + tenant + "/timeline/" + timeline + "/basebackup"),
        List.of("GET", "/v1/tenant"));
    for (List<String> attempt : attempts) {
      String code = inPod(ns, endpoint + "-0", "read -r token < " + spec.path("storage_token_file").asText()
          + " && curl -s --cacert " + spec.path("storage_ca_file").asText() + " -o /dev/null -w '%{http_code}' -H \"Authorization: "
          + "Bearer $token\" -X " + attempt.get(0) + " "
          + pageserver + attempt.get(1)).strip();
      assertThat(code).as("HTTP status of %s %s%s from %s's compute, with its token", attempt.get(0), pageserver, attempt.get(1),
          endpoint).isEqualTo("403");
    }
    try (LocalPortForward management = cluster.client().pods().inNamespace(SYSTEM).withName(RELEASE + "-pageserver-0").portForward(9899)) {
      for (String path : List.of("/v1/tenant/" + tenant, "/v1/tenant/" + tenant + "/timeline/" + timeline)) {
        assertThat(managementGet(management.getLocalPort(), path)).as("GET %s on the pageserver's management port", path)
            .startsWith("200 ");
      }
    }
  }

  /**
   * GET {@code path} on the pageserver's management port, forwarded to {@code localPort}, with an admin token, over TLS
   * checked as a client in the cluster checks it: the installation's CA (the bundle in the daemons' Secret) and the
   * pageserver Service's name (curl --resolve sends that name to the forwarded port). "STATUS body".
   */
  private static String managementGet(int localPort, String path) throws Exception {
    Secret tls = cluster.client().secrets().inNamespace(SYSTEM).withName(RELEASE + "-storage-tls").get();
    assertThat(tls).as("the storage daemons' certificate Secret %s/%s-storage-tls", SYSTEM, RELEASE).isNotNull();
    Path dir = Files.createTempDirectory("arbor-e2e-ca");
    try {
      Path ca = Files.write(dir.resolve("ca.crt"), Base64.getDecoder().decode(tls.getData().get("ca.crt")));
      // The header from a file: the token never reaches a command line.
      Path header = Files.writeString(dir.resolve("header"), "Authorization: Bearer " + adminToken() + "\n");
      Path body = dir.resolve("body");
      String host = RELEASE + "-pageserver." + SYSTEM + ".svc";
      Process curl = new ProcessBuilder("curl", "-sS", "--max-time", "30", "--cacert", ca.toString(), "--resolve",
          host + ":" + localPort + ":127.0.0.1", "-H", "@" + header, "-o", body.toString(), "-w", "%{http_code}",
          "https://" + host + ":" + localPort + path).redirectErrorStream(true).start();
      String out = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(curl.waitFor()).as("curl %s: %s", path, out).isZero();
      return out.strip() + " " + (Files.exists(body) ? Files.readString(body) : "");
    } finally {
      try (var files = Files.list(dir)) {
        for (Path f : files.toList()) {
          Files.delete(f);
        }
      }
      Files.delete(dir);
    }
  }

  /**
   * A {@code storage_admin} token, as the installation's administrator can mint one: signed with the key the operator
   * keeps in its Secret, for the issuer the chart gives the daemons.
   */
  private static String adminToken() throws IOException {
    Secret keys = cluster.client().secrets().inNamespace(SYSTEM).withName(RELEASE + "-storage-signing-key").get();
    assertThat(keys).as("the operator's signing-key Secret %s/%s-storage-signing-key", SYSTEM, RELEASE).isNotNull();
    String jwk = new String(Base64.getDecoder().decode(keys.getData().get(KeyDirectory.SIGNING_KEY)), StandardCharsets.UTF_8);
    return SigningKey.parse(jwk, "Secret " + SYSTEM + "/" + RELEASE + "-storage-signing-key")
        .mint("arbor/" + SYSTEM + "/" + RELEASE, StorageGrant.of("e2e-admin", Scope.STORAGE_ADMIN), Duration.ofMinutes(10));
  }

  /** Every container of the pod runs as it was first started: no restart (a crash or a failed liveness probe). */
  private static void assertNeverRestarted(String ns, String pod) {
    Pod p = cluster.client().pods().inNamespace(ns).withName(pod).get();
    assertThat(p.getStatus().getContainerStatuses()).as("container statuses of %s", pod).isNotEmpty().allSatisfy(c ->
        assertThat(c.getRestartCount()).as("restarts of container %s of %s; its last state: %s", c.getName(), pod, c.getLastState())
            .isZero());
  }

  /** Nothing in the pod can call the Kubernetes API as its namespace's default ServiceAccount. */
  private static void assertHasNoServiceAccountToken(String ns, String pod) {
    assertThat(cluster.client().pods().inNamespace(ns).withName(pod).get().getSpec().getAutomountServiceAccountToken())
        .as("automountServiceAccountToken of %s", pod).isFalse();
    assertThat(inPod(ns, pod, "[ -e /var/run/secrets/kubernetes.io/serviceaccount ] && echo present || echo absent").strip())
        .as("/var/run/secrets/kubernetes.io/serviceaccount in %s", pod).isEqualTo("absent");
  }

  /** {@code kubectl auth can-i} says no to get, list and watch on Secrets for ServiceAccount {@code account} of {@code ns}. */
  private static void assertCannotReadSecrets(String ns, String account) {
    for (String verb : List.of("get", "list", "watch")) {
      for (String where : List.of(ns, SYSTEM)) {
        var answer = cli.kubectl("auth", "can-i", verb, "secrets", "-n", where, "--as=system:serviceaccount:" + ns + ":" + account);
        assertThat(answer.out().strip()).as("kubectl auth can-i %s secrets -n %s as %s:%s (%s)", verb, where, ns, account, answer.err())
            .isEqualTo("no");
      }
    }
  }

  /** The chart's RBAC covers what the operator does: no line of its pods' logs has the API server's "forbidden". */
  private static void assertTheOperatorWasNeverForbidden() {
    KubernetesClient k = cluster.client();
    List<Pod> operators = k.pods().inNamespace(SYSTEM).withLabel("app.kubernetes.io/instance", RELEASE)
        .withLabel("app.kubernetes.io/component", "operator").list().getItems();
    assertThat(operators).as("operator pods").isNotEmpty();
    for (Pod p : operators) {
      List<String> forbidden = PsqlClient.log(k, SYSTEM, p.getMetadata().getName(), null).lines()
          .filter(l -> l.toLowerCase(Locale.ROOT).contains("forbidden")).toList();
      assertThat(forbidden).as("lines of %s's log with \"forbidden\" (a permission the chart's RBAC lacks)", p.getMetadata().getName())
          .isEmpty();
    }
  }

  /** The compute spec the operator gave the pod ({@code ARBOR_COMPUTE_SPEC} in its container's env). */
  private static JsonNode computeSpec(String ns, String pod) {
    var env = cluster.client().pods().inNamespace(ns).withName(pod).get().getSpec().getContainers().get(0).getEnv();
    String json = env.stream().filter(v -> v.getName().equals("ARBOR_COMPUTE_SPEC")).findFirst()
        .orElseThrow(() -> new AssertionError(pod + " has no ARBOR_COMPUTE_SPEC: " + env)).getValue();
    try {
      return JSON.readTree(json);
    } catch (IOException e) {
      throw new AssertionError(pod + "'s ARBOR_COMPUTE_SPEC is not JSON: " + json, e);
    }
  }

  private static String statusField(ResourceDefinitionContext kind, String ns, String name, String field) {
    JsonNode o = JSON.valueToTree(cluster.client().genericKubernetesResources(kind).inNamespace(ns).withName(name).get());
    assertThat(o.path("status").path(field).asText()).as("%s %s/%s status.%s", kind.getKind(), ns, name, field).isNotEmpty();
    return o.path("status").path(field).asText();
  }

  /** {@code script} run by sh in the pod (kubectl exec); its output. */
  private static String inPod(String ns, String pod, String script) {
    return check(cli.kubectl("-n", ns, "exec", pod, "--", "sh", "-c", script)).out();
  }

  private static String find(String text, String pattern) {
    Matcher m = Pattern.compile(pattern).matcher(text);
    assertThat(m.find()).as("%s in:%n%s", pattern, text).isTrue();
    return m.group(1);
  }

  /** A PostgreSQL LSN, {@code X/Y} in hex, as a number. */
  private static long lsn(String text) {
    String[] halves = text.split("/");
    return (Long.parseLong(halves[0], 16) << 32) | Long.parseLong(halves[1], 16);
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
    applyShopWithAnEndpoint(ns);
    awaitReady(ns, "project/shop", "branch/shop-main", "endpoint/shop-main-rw");
  }

  private static void applyShopWithAnEndpoint(String ns) {
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
  }

  /**
   * kubectl wait for Ready, then each object's status: Ready=True for its current generation (kubectl wait does
   * not compare generations), and an Endpoint's phase Running.
   */
  private static void awaitReady(String ns, String... objects) {
    List<String> args = new ArrayList<>(List.of("-n", ns, "wait", "--for=condition=Ready", "--timeout=5m"));
    args.addAll(List.of(objects));
    check(cli.kubectl(args.toArray(String[]::new)));
    for (String object : objects) {
      String[] kindAndName = object.split("/");
      ResourceDefinitionContext kind = KINDS.get(kindAndName[0]);
      await().atMost(Duration.ofMinutes(1)).untilAsserted(() -> {
        JsonNode o = JSON.valueToTree(cluster.client().genericKubernetesResources(kind).inNamespace(ns).withName(kindAndName[1]).get());
        long generation = o.path("metadata").path("generation").asLong();
        JsonNode status = o.path("status");
        JsonNode ready = StreamSupport.stream(status.path("conditions").spliterator(), false)
            .filter(c -> c.path("type").asText().equals("Ready")).findFirst()
            .orElseThrow(() -> new AssertionError(object + " has no Ready condition: " + status));
        assertThat(ready.path("status").asText()).as("%s Ready; its status: %s", object, status).isEqualTo("True");
        assertThat(ready.path("observedGeneration").asLong()).as("%s Ready's observedGeneration; its status: %s", object, status)
            .isEqualTo(generation);
        assertThat(status.path("observedGeneration").asLong()).as("%s status.observedGeneration", object).isEqualTo(generation);
        if (kind == ENDPOINTS) {
          assertThat(status.path("phase").asText()).as("%s phase; its status: %s", object, status).isEqualTo("Running");
        }
      });
    }
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
    return psqlLines(ns, endpoint, sql, pattern, 120);
  }

  private static List<String> psqlLines(String ns, String endpoint, String sql, String pattern, int attempts) {
    KubernetesClient k = cluster.client();
    String name = "psql-" + (++clients);
    k.load(new ByteArrayInputStream(PsqlClient.pod(name, cluster.image("compute"), cluster.imagePullPolicy(), attempts,
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

  /**
   * Scale to zero through the chart's arbor-proxy: an Endpoint with suspendTimeout 30s and no clients goes to zero
   * pods and reports Suspended (Ready stays True, reason Suspended), although a monitoring loop of the compute's
   * superuser runs in the pod meanwhile; one psql attempt with the Secret's URI wakes it and gets its answer; an
   * open transaction keeps it awake past the timeout.
   */
  private static void scaleToZeroAndWakeOnConnect(String ns) throws Exception {
    apply(ns, """
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: shop-sleepy}
        spec: {projectRef: shop, parent: shop-main}
        ---
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: shop-sleepy-rw}
        spec: {branchRef: shop-sleepy, mode: ReadWrite, suspendTimeout: 30s}
        """);
    awaitReady(ns, "branch/shop-sleepy", "endpoint/shop-sleepy-rw");
    psql(ns, "shop-sleepy-rw", "CREATE TABLE naps AS SELECT generate_series(1, 500) AS n; SELECT 'ok'", "(ok)");
    // Its PGDATA is on the Endpoint's claim, a volume of the cluster's provisioner that the compute user writes to.
    String pod = "shop-sleepy-rw-0";
    String claimUid = assertMountsItsBoundPgdataClaim(ns, pod, "shop-sleepy-rw-pgdata");

    // A monitoring-style session of an internal role: the superuser over the compute's unix socket, every second.
    String socket = computeSpec(ns, pod).path("work_dir").asText() + "/socket";
    Thread monitor = Thread.ofVirtual().start(() -> cli.kubectl("-n", ns, "exec", pod, "--", "sh", "-c",
        "while true; do psql -h " + socket + " -U postgres -d postgres -Atc 'SELECT count(*) FROM pg_stat_activity' >/dev/null; "
            + "sleep 1; done"));
    long idleSince = System.nanoTime();
    awaitSuspended(ns, "shop-sleepy-rw", Duration.ofMinutes(3));
    assertThat(Duration.ofNanos(System.nanoTime() - idleSince)).isGreaterThanOrEqualTo(Duration.ofSeconds(29));
    monitor.join(Duration.ofSeconds(30).toMillis()); // its pod is gone
    var claim = cluster.client().persistentVolumeClaims().inNamespace(ns).withName("shop-sleepy-rw-pgdata").get();
    assertThat(claim).as("the PGDATA claim of the suspended Endpoint (no pod left)").isNotNull();
    assertThat(claim.getMetadata().getUid()).isEqualTo(claimUid);
    assertThat(claim.getStatus().getPhase()).isEqualTo("Bound");

    // One attempt, as a client connects: held while the compute starts, then answered.
    assertThat(psqlOnce(ns, "shop-sleepy-rw", "SELECT 'naps=' || count(*) FROM naps", "naps=(\\d+)")).isEqualTo("500");
    assertThat(statusField(ENDPOINTS, ns, "shop-sleepy-rw", "phase")).isIn("Running", "Waking");
    assertThat(assertMountsItsBoundPgdataClaim(ns, pod, "shop-sleepy-rw-pgdata")).as("the woken compute's claim").isEqualTo(claimUid);
    // Nothing happened on the timeline while it slept: the wake started from the PGDATA its suspend kept, no basebackup.
    String woken = cluster.client().pods().inNamespace(ns).withName(pod).getLog();
    assertThat(woken).as("the woken compute's log").contains("event=pgdata_reused").doesNotContain("event=pgdata_not_reused");

    // An open transaction keeps it awake past the timeout.
    KubernetesClient k = cluster.client();
    k.load(new ByteArrayInputStream(PsqlClient.pod("long-tx", cluster.image("compute"), cluster.imagePullPolicy(), 1,
        "\"$URI\" -v ON_ERROR_STOP=1 -Atc \"BEGIN; SELECT count(*) FROM naps; SELECT pg_sleep(50); COMMIT;\"",
        "[{name: URI, valueFrom: {secretKeyRef: {name: shop-sleepy-rw-connection, key: uri}}}]").getBytes(StandardCharsets.UTF_8)))
        .inNamespace(ns).create();
    long until = System.nanoTime() + Duration.ofSeconds(45).toNanos();
    while (System.nanoTime() < until) {
      assertThat(statusField(ENDPOINTS, ns, "shop-sleepy-rw", "phase")).as("phase while a transaction is open").isNotEqualTo("Suspended");
      Thread.sleep(2000);
    }
    assertThat(PsqlClient.awaitEnd(k, ns, "long-tx", Duration.ofMinutes(2))).as(PsqlClient.log(k, ns, "long-tx", null))
        .isEqualTo("Succeeded");
    k.pods().inNamespace(ns).withName("long-tx").withGracePeriod(0).delete();
    awaitSuspended(ns, "shop-sleepy-rw", Duration.ofMinutes(3));
    check(cli.kubectl("-n", ns, "delete", "endpoint/shop-sleepy-rw", "branch/shop-sleepy", "--wait=true", "--timeout=3m"));
  }

  /**
   * The compute pod's data volume is the claim, and the claim is Bound; returns its UID. The compute running on it
   * shows that the volume's directory is the compute user's to write (fsGroup on a provisioned volume).
   */
  private static String assertMountsItsBoundPgdataClaim(String ns, String pod, String claimName) {
    KubernetesClient k = cluster.client();
    Pod p = k.pods().inNamespace(ns).withName(pod).get();
    assertThat(p).as("pod %s", pod).isNotNull();
    assertThat(p.getSpec().getVolumes()).as("volumes of pod %s", pod).filteredOn(v -> v.getName().equals("data")).singleElement()
        .satisfies(v -> assertThat(v.getPersistentVolumeClaim()).as("the data volume of %s", pod).isNotNull()
            .satisfies(c -> assertThat(c.getClaimName()).isEqualTo(claimName)));
    var claim = k.persistentVolumeClaims().inNamespace(ns).withName(claimName).get();
    assertThat(claim.getStatus().getPhase()).as("claim %s", claimName).isEqualTo("Bound");
    assertThat(claim.getSpec().getStorageClassName()).isEqualTo(cluster.defaultStorageClass());
    return claim.getMetadata().getUid();
  }

  /** Until the Endpoint reports phase Suspended, Ready True with reason Suspended, and no pod is left. */
  private static void awaitSuspended(String ns, String endpoint, Duration timeout) {
    await().atMost(timeout).pollInterval(Duration.ofSeconds(2)).untilAsserted(() -> {
      JsonNode status = JSON.valueToTree(cluster.client().genericKubernetesResources(ENDPOINTS).inNamespace(ns).withName(endpoint).get())
          .path("status");
      assertThat(status.path("phase").asText()).as("%s phase; its status: %s", endpoint, status).isEqualTo("Suspended");
      JsonNode ready = StreamSupport.stream(status.path("conditions").spliterator(), false)
          .filter(c -> c.path("type").asText().equals("Ready")).findFirst().orElseThrow();
      assertThat(ready.path("status").asText()).isEqualTo("True");
      assertThat(ready.path("reason").asText()).isEqualTo("Suspended");
      assertThat(status.path("lastActive").asText()).isNotEmpty();
      assertThat(cluster.client().pods().inNamespace(ns).withLabel("arbor.dev/endpoint", endpoint).list().getItems())
          .as("pods of %s", endpoint).isEmpty();
    });
  }

  /** {@link #psql} with a single psql attempt: the first connection must succeed. */
  private static String psqlOnce(String ns, String endpoint, String sql, String pattern) {
    List<String> found = psqlLines(ns, endpoint, sql, pattern, 1);
    assertThat(found).as("psql output matching %s", pattern).isNotEmpty();
    return found.get(0);
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
  private static void removeRelease() {
    removeRelease(cluster.client(), cli);
  }

  /** Uninstalls the release and its namespace, also what an interrupted run left; the benchmark shares it. */
  static void removeRelease(KubernetesClient k, KubeCli cli) {
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
