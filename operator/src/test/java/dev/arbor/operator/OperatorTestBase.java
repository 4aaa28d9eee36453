package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.operator.auth.TokenIssuer;
import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.BranchSpec;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Database;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointSpec;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.crds.v1alpha1.ProjectSpec;
import dev.arbor.crds.v1alpha1.Role;
import dev.arbor.crds.v1alpha1.RoleOption;
import dev.arbor.api.ApiProblem;
import dev.arbor.client.HttpJson;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.KubernetesFixture;
import dev.arbor.testing.RepoFiles;
import dev.arbor.testing.TempDirectory;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * What every operator integration test runs beside it, once per test class: the packaged Quarkus operator as its
 * own process, a real kube-apiserver with the committed CRDs, and a real storage engine (pageserver with a
 * management listener, as the Helm chart runs it, and a safekeeper as processes); computes are real PostgreSQL 15
 * processes started by {@link LocalPod} from exactly what the operator put into the API server. Each test works in
 * its own namespace. The helpers create objects as a user would and read the storage engine's management API.
 */
abstract class OperatorTestBase {


  @RegisterExtension
  static final KubernetesFixture kube = new KubernetesFixture();

  static StorageProcesses storage;
  static TempDirectory work;
  static OperatorProcess operator;
  /** The operator runs as the chart's ServiceAccount, with exactly the chart's RBAC. */
  static String operatorKubeconfig;
  static final HttpJson http = new HttpJson(Duration.ofSeconds(30));
  static final Duration WAIT = Duration.ofMinutes(2);
  /** The chart's full name of release "arbor": the prefix of the storage-auth objects. */
  static final String AUTH_PREFIX = "arbor";

  @BeforeAll
  static void startEverything() throws Exception {
    installCrds();
    operatorKubeconfig = ChartRbac.operatorKubeconfig(kube);
    storage = new StorageProcesses(1).withManagementListener().start();
    seedSigningKey();
    work = TempDirectory.create("arbor-operator-it-");
    operator = startOperator();
  }

  @AfterAll
  static void stopEverything() throws Exception {
    String log = null;
    if (operator != null) {
      log = operator.logText();
      System.out.println("--- operator log ---\n" + log);
      operator.close();
    }
    if (storage != null) {
      storage.close();
    }
    if (work != null) {
      work.close();
    }
    // The chart's RBAC must grant everything the operator does: a refused call would only show as a retry.
    if (log != null) {
      assertThat(log.lines().filter(l -> l.contains("forbidden")).toList()).as("operator log lines saying the chart's RBAC "
          + "(helm/arbor/templates/operator-rbac.yaml) refused a call").isEmpty();
    }
  }

  /**
   * The daemons here are processes outside the cluster, started with the harness's key set as {@code --auth-keys}: the
   * operator is given that key as the installation's signing key, as an operator that made it earlier finds it in its
   * Secret (creating it when missing is TokenIssuerTest's). The storage daemons' token Secret of an earlier class goes.
   */
  static void seedSigningKey() {
    client().secrets().inNamespace(ChartRbac.NAMESPACE).withName(AUTH_PREFIX + "-storage-token").delete();
    client().resource(new io.fabric8.kubernetes.api.model.SecretBuilder().withNewMetadata().withName(AUTH_PREFIX + "-storage-signing-key")
        .withNamespace(ChartRbac.NAMESPACE).endMetadata()
        .withStringData(Map.of(TokenIssuer.SIGNING_KEY_ITEM, storage.keys().signingKey().privateJwk())).build())
        .createOr(io.fabric8.kubernetes.client.dsl.NonDeletingOperation::update);
  }

  static OperatorProcess startOperator() throws IOException {
    return startOperator(Map.of());
  }

  /** An operator whose environment is the usual one with some variables set otherwise (or added). */
  static OperatorProcess startOperator(Map<String, String> overrides) throws IOException {
    Map<String, String> env = new java.util.HashMap<>(operatorEnvironment());
    env.putAll(overrides);
    return OperatorProcess.start(env, work.resolve("operator.log"), FreePort.pick());
  }

  /**
   * Runs an operator with these variables set otherwise, which must refuse to start: checks that it exited non-zero
   * without a stack trace and returns the one line of its output that names {@code setting}.
   */
  static String refusedStartLine(Map<String, String> overrides, String setting) throws Exception {
    Map<String, String> env = new java.util.HashMap<>(operatorEnvironment());
    env.putAll(overrides);
    Path log = work.resolve("refused-operator-" + System.nanoTime() + ".log");
    assertThat(OperatorProcess.runExpectingExit(env, log, FreePort.pick(), Duration.ofMinutes(1))).as("exit status").isNotZero();
    List<String> lines = Files.readAllLines(log);
    assertThat(lines).as("no stack trace").noneMatch(l -> l.startsWith("\tat "));
    assertThat(lines).as("the operator's output").filteredOn(l -> l.contains(setting)).hasSize(1);
    return lines.stream().filter(l -> l.contains(setting)).findFirst().orElseThrow();
  }

  static Map<String, String> operatorEnvironment() throws IOException {
    Path kubeconfig = work.resolve("kubeconfig");
    Files.writeString(kubeconfig, operatorKubeconfig);
    Map<String, String> env = new java.util.HashMap<>(Map.of(
        // The issuer the daemons check (--auth-issuer), and where the storage-auth objects live: as the chart sets them.
        "ARBOR_AUTH_ISSUER", StorageProcesses.ISSUER,
        "ARBOR_AUTH_NAMESPACE", ChartRbac.NAMESPACE,
        "ARBOR_AUTH_NAME_PREFIX", AUTH_PREFIX,
        // The harness's daemons serve plain HTTP (--insecure-no-tls), as the chart's do until TLS runs on Kubernetes.
        "ARBOR_STORAGE_ENGINE_INSECURE_HTTP", "true"));
    env.putAll(Map.of(
        "KUBECONFIG", kubeconfig.toString(),
        "ARBOR_STORAGE_ENGINE_PAGESERVER_URL", storage.pageserverUrl(),
        "ARBOR_STORAGE_ENGINE_PAGESERVER_MANAGEMENT_URL", storage.pageserverManagementUrl(),
        "ARBOR_STORAGE_ENGINE_SAFEKEEPERS", String.join(",", storage.safekeeperUrls().entrySet().stream()
            .map(e -> e.getKey() + "=" + e.getValue()).toList()),
        // The build host has PostgreSQL 15 only; the Helm chart's default is 17, the version of its images.
        "ARBOR_POSTGRES_DEFAULT_VERSION", "15",
        "ARBOR_POSTGRES_AVAILABLE_VERSIONS", "15",
        "ARBOR_LEADER_ELECTION_LEASE_NAMESPACE", "default",
        // A killed leader's lease must run out before a new operator leads; keep that short in tests.
        "ARBOR_LEADER_ELECTION_LEASE_DURATION", "6s",
        "ARBOR_LEADER_ELECTION_RENEW_DEADLINE", "4s",
        "ARBOR_LEADER_ELECTION_RETRY_PERIOD", "1s"));
    return env;
  }

  static void installCrds() throws IOException {
    kube.installCrds(RepoFiles.root().resolve("crds/generated"));
  }


  static KubernetesClient client() {
    return kube.client();
  }

  static void namespace(String ns) {
    client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
  }

  /** Applies a file of manifests/examples exactly as it is in the repository. */
  static void applyExample(String ns, String file) throws IOException {
    try (InputStream in = Files.newInputStream(RepoFiles.root().resolve("manifests/examples/" + file))) {
      client().load(in).inNamespace(ns).create();
    }
  }

  static <T extends CustomResource<?, ?>> T get(Class<T> type, String ns, String name) {
    return client().resources(type).inNamespace(ns).withName(name).get();
  }

  static Condition condition(CustomResource<?, ? extends dev.arbor.crds.v1alpha1.ArborStatus> r, String type) {
    if (r == null || r.getStatus() == null) {
      return null;
    }
    return r.getStatus().getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().orElse(null);
  }

  static boolean isTrue(CustomResource<?, ? extends dev.arbor.crds.v1alpha1.ArborStatus> r, String type) {
    Condition c = condition(r, type);
    return c != null && "True".equals(c.getStatus());
  }

  static Project awaitProjectReady(String ns, String name) {
    await().atMost(WAIT).pollInterval(Duration.ofMillis(300)).untilAsserted(() ->
        assertThat(isTrue(get(Project.class, ns, name), Condition.READY)).as("Project %s Ready; now %s", name,
            get(Project.class, ns, name).getStatus() == null ? null : get(Project.class, ns, name).getStatus().getConditions()).isTrue());
    return get(Project.class, ns, name);
  }

  static Branch awaitBranchReady(String ns, String name) {
    await().atMost(WAIT).pollInterval(Duration.ofMillis(300)).untilAsserted(() -> {
      Branch b = get(Branch.class, ns, name);
      assertThat(isTrue(b, Condition.READY)).as("Branch %s Ready; now %s", name, b == null || b.getStatus() == null ? null
          : b.getStatus().getConditions()).isTrue();
    });
    return get(Branch.class, ns, name);
  }

  static TenantInfo tenant(String tenantId) throws IOException {
    return storage.pageserver().tenant(new TenantId(tenantId));
  }

  static TimelineInfo timeline(String tenantId, String timelineId) throws IOException {
    return storage.pageserver().timeline(new TenantId(tenantId), new TimelineId(timelineId));
  }

  static List<TimelineInfo> timelines(String tenantId) throws IOException {
    return storage.pageserver().timelines(new TenantId(tenantId));
  }

  static List<TenantInfo> tenants() throws IOException {
    return storage.pageserver().tenants();
  }

  static boolean timelineExists(String tenantId, String timelineId) throws IOException {
    try {
      timeline(tenantId, timelineId);
      return true;
    } catch (ApiProblem p) {
      if (p.status() == 404) {
        return false;
      }
      throw p;
    }
  }

  static Project project(String ns, String name, List<Role> roles) {
    var spec = new ProjectSpec();
    spec.setRoles(roles);
    var p = new Project();
    p.getMetadata().setName(name);
    p.getMetadata().setNamespace(ns);
    p.setSpec(spec);
    return client().resource(p).create();
  }

  /** A namespace of its own with a Ready Project whose one role, app, logs in. */
  static Project readyProject(String ns, String name) {
    namespace(ns);
    project(ns, name, List.of(loginRole("app")));
    return awaitProjectReady(ns, name);
  }

  /** A namespace of its own with a Ready Project whose role app logs in and owns database app. */
  static Project readyProjectWithDatabase(String ns, String name) {
    namespace(ns);
    var spec = new ProjectSpec();
    spec.setRoles(List.of(loginRole("app")));
    spec.setDatabases(List.of(new Database("app", "app")));
    var p = new Project();
    p.getMetadata().setName(name);
    p.getMetadata().setNamespace(ns);
    p.setSpec(spec);
    client().resource(p).create();
    return awaitProjectReady(ns, name);
  }

  /** The StatefulSet the operator made for an Endpoint, once it exists. */
  static StatefulSet awaitStatefulSet(String ns, String name) {
    var sts = client().apps().statefulSets().inNamespace(ns).withName(name);
    await().atMost(WAIT).until(() -> sts.get() != null);
    return sts.get();
  }

  static Role loginRole(String name) {
    Role r = new Role(name);
    r.setOptions(List.of(RoleOption.LOGIN));
    return r;
  }

  static Branch branch(String ns, String name, String project, String parent, boolean isProtected) {
    var spec = new BranchSpec();
    spec.setProjectRef(project);
    spec.setParent(parent);
    spec.setProtected(isProtected);
    var b = new Branch();
    b.getMetadata().setName(name);
    b.getMetadata().setNamespace(ns);
    b.setSpec(spec);
    return client().resource(b).create();
  }

  static Endpoint endpoint(String ns, String name, String branch) {
    var spec = new EndpointSpec();
    spec.setBranchRef(branch);
    var e = new Endpoint();
    e.getMetadata().setName(name);
    e.getMetadata().setNamespace(ns);
    e.setSpec(spec);
    return client().resource(e).create();
  }

  static Map<String, String> secretData(String ns, String name) {
    Secret s = client().secrets().inNamespace(ns).withName(name).get();
    assertThat(s).as("Secret " + name).isNotNull();
    Map<String, String> out = new java.util.LinkedHashMap<>();
    s.getData().forEach((k, v) -> out.put(k, new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8)));
    return out;
  }

  /** Connects as an application does, with the connection Secret's user, password and database, to the local pod. */
  static Connection connect(LocalPod pod, Map<String, String> secret) throws SQLException {
    var props = new Properties();
    props.setProperty("user", secret.get("user"));
    props.setProperty("password", secret.get("password"));
    return DriverManager.getConnection("jdbc:postgresql://" + pod.podIp + ":" + secret.get("port") + "/" + secret.get("dbname"), props);
  }

  static void assertOwnedAndLabelled(HasMetadata child, Endpoint owner) {
    assertThat(child.getMetadata().getOwnerReferences()).singleElement().satisfies(o -> {
      assertThat(o.getUid()).isEqualTo(owner.getMetadata().getUid());
      assertThat(o.getKind()).isEqualTo("Endpoint");
      assertThat(o.getController()).isTrue();
    });
    assertThat(child.getMetadata().getLabels()).containsEntry("app.kubernetes.io/name", "arbor-compute")
        .containsEntry("app.kubernetes.io/instance", owner.getMetadata().getName())
        .containsEntry("app.kubernetes.io/managed-by", "arbor-operator")
        .containsEntry("app.kubernetes.io/part-of", "arbor")
        .containsEntry("app.kubernetes.io/component", "compute");
  }

  static String one(Statement st, String sql) throws SQLException {
    try (ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }
}
