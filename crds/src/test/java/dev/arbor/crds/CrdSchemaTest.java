package dev.arbor.crds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.BranchSpec;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointMode;
import dev.arbor.crds.v1alpha1.EndpointSpec;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.testing.KubernetesFixture;
import dev.arbor.testing.RepoFiles;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed CRDs, installed in a real kube-apiserver, do the validation and defaulting themselves: bad
 * manifests are refused with a message that names the field (invariant 6: bad input gets a clear error and
 * changes nothing), defaults appear in the stored object, and the examples apply as they are.
 */
class CrdSchemaTest {

  @RegisterExtension
  static final KubernetesFixture kube = new KubernetesFixture();

  @TempDir
  static Path tmp;

  static final String NS = "schema";

  @BeforeAll
  static void installCommittedCrds() throws IOException {
    assertThat(kube.installCrds(RepoFiles.root().resolve("crds/generated"))).hasSize(CrdYaml.KINDS.size());
    for (String ns : List.of(NS, "examples")) {
      kube.client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns).endMetadata().build()).create();
    }
  }

  @Test
  void helmChartShipsTheSameCrdsAsCrdsGenerated() throws IOException {
    for (String file : CrdYaml.generate().keySet()) {
      assertThat(RepoFiles.read("helm/arbor/crds/" + file)).isEqualTo(RepoFiles.read("crds/generated/" + file));
    }
  }

  @Test
  void examplesApplyVerbatimWithKubectlAndShowTheirColumns() throws Exception {
    String applied = kubectl("apply", "-n", "examples", "-f", RepoFiles.root().resolve("manifests/examples").toString());
    assertThat(applied).contains("project.arbor.dev/shop created", "branch.arbor.dev/shop-dev created",
        "endpoint.arbor.dev/shop-dev-rw created");

    Branch branch = kube.client().resources(Branch.class).inNamespace("examples").withName("shop-dev").get();
    assertThat(branch.getSpec().getParentLsn()).isEqualTo("0/3000000");
    assertThat(branch.getSpec().getParent()).isEqualTo("shop-main");
    assertThat(branch.getSpec().getProtected()).isFalse();
    assertThat(kube.client().resources(Project.class).inNamespace("examples").withName("shop").get().getSpec().getRoles())
        .singleElement().satisfies(r -> assertThat(r.getName()).isEqualTo("app"));

    // Short names, category and printer columns, as a user sees them.
    assertThat(kubectl("get", "-n", "examples", "abr").lines().findFirst().orElseThrow().split("\\s+"))
        .containsExactly("NAME", "PROJECT", "PARENT", "LSN", "READY", "AGE");
    assertThat(kubectl("get", "-n", "examples", "aep").lines().findFirst().orElseThrow().split("\\s+"))
        .containsExactly("NAME", "BRANCH", "MODE", "PHASE", "READY", "AGE");
    assertThat(kubectl("get", "-n", "examples", "aproj").lines().findFirst().orElseThrow().split("\\s{2,}"))
        .containsExactly("NAME", "POSTGRES", "DEFAULT BRANCH", "READY", "AGE");
    assertThat(kubectl("get", "-n", "examples", "arbor", "-o", "name"))
        .contains("project.arbor.dev/shop", "branch.arbor.dev/shop-dev", "endpoint.arbor.dev/shop-dev-rw");
    // ep stays the core Endpoints' short name.
    assertThat(kubectl("api-resources", "--api-group=arbor.dev", "-o", "name")).contains("endpoints.arbor.dev");
    assertThat(kubectl("get", "ep", "-n", "default", "-o", "name")).doesNotContain("arbor.dev");
  }

  @Test
  void theApiServerAppliesTheDefaults() {
    var project = kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: defaults}
        spec: {}
        """)).inNamespace(NS).create();
    // No schema default for the version: the operator resolves it from its configuration (status.postgresVersion).
    assertThat(project.<Object>get("spec", "postgresVersion")).isNull();
    assertThat(project.<Object>get("spec", "defaultBranch")).isEqualTo("main");
    assertThat(project.<Object>get("spec", "historyRetention")).isEqualTo("7d");

    var endpointSpec = new EndpointSpec();
    endpointSpec.setBranchRef("defaults-main");
    var endpoint = new Endpoint();
    endpoint.getMetadata().setName("defaults-rw");
    endpoint.setSpec(endpointSpec);
    Endpoint stored = kube.client().resources(Endpoint.class).inNamespace(NS).resource(endpoint).create();
    assertThat(stored.getSpec().getMode()).isEqualTo(EndpointMode.ReadWrite);
    // No default: an absent suspendTimeout takes the Project's spec.endpointDefaults.suspendTimeout.
    assertThat(stored.getSpec().getSuspendTimeout()).isNull();
    assertThat(stored.getSpec().getSuspended()).isFalse();

    var branchSpec = new BranchSpec();
    branchSpec.setProjectRef("defaults");
    var branch = new Branch();
    branch.getMetadata().setName("defaults-dev");
    branch.setSpec(branchSpec);
    assertThat(kube.client().resources(Branch.class).inNamespace(NS).resource(branch).create().getSpec().getProtected()).isFalse();
  }

  @Test
  void refusesAMalformedLsn() {
    assertRejected("bad-lsn", """
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: bad-lsn}
        spec: {projectRef: shop, parentLsn: "16B5A50"}
        """, "spec.parentLsn", "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$");
    assertRejected("bad-endpoint-lsn", """
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: bad-endpoint-lsn}
        spec: {branchRef: shop-main, mode: ReadOnly, lsn: "0/123456789"}
        """, "spec.lsn", "should match");
  }

  @Test
  void suspendTimeoutsAreDurationsOrZeroOnEndpointsAndAsTheProjectDefault() {
    for (String ok : List.of("0", "0s", "30s", "5m", "1h30m")) {
      String name = "st-" + ok.toLowerCase().replace("0", "z");
      var created = kube.client().resource(manifest("""
          apiVersion: arbor.dev/v1alpha1
          kind: Endpoint
          metadata: {name: %s}
          spec: {branchRef: shop-main, suspendTimeout: "%s"}
          """.formatted(name, ok))).inNamespace(NS).create();
      assertThat(created.<Object>get("spec", "suspendTimeout")).isEqualTo(ok);
    }
    assertRejected("st-bad", """
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: st-bad}
        spec: {branchRef: shop-main, suspendTimeout: "5 minutes"}
        """, "spec.suspendTimeout", "should match");
    assertRejected("st-negative", """
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: st-negative}
        spec: {branchRef: shop-main, suspendTimeout: "-1s"}
        """, "spec.suspendTimeout", "should match");

    var project = kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: st-project}
        spec: {endpointDefaults: {suspendTimeout: 10m}}
        """)).inNamespace(NS).create();
    assertThat(project.<Object>get("spec", "endpointDefaults", "suspendTimeout")).isEqualTo("10m");
    assertRejected("st-project-bad", """
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: st-project-bad}
        spec: {endpointDefaults: {suspendTimeout: "10"}}
        """, "spec.endpointDefaults.suspendTimeout", "should match");
  }

  @Test
  void refusesBothABranchLsnAndABranchTimestamp() {
    assertRejected("both-points", """
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: both-points}
        spec: {projectRef: shop, parentLsn: "0/16B5A50", parentTimestamp: "2026-11-29T10:00:00Z"}
        """, "spec.parentTimestamp", "spec.parentLsn and spec.parentTimestamp are mutually exclusive");
  }

  @Test
  void refusesATimestampThatIsNotRfc3339() {
    assertRejected("bad-time", """
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: bad-time}
        spec: {projectRef: shop, parentTimestamp: "yesterday"}
        """, "spec.parentTimestamp", "date-time");
  }

  @Test
  void refusesABranchWithoutProjectRefOrWithoutSpec() {
    assertRejected("no-project", """
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: no-project}
        spec: {parent: shop-main}
        """, "spec.projectRef", "Required value");
    assertRejected("no-spec", """
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: no-spec}
        """, "spec", "spec is required");
  }

  @Test
  void refusesAnUnknownMode() {
    assertRejected("fast", """
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: fast}
        spec: {branchRef: shop-main, mode: Fast}
        """, "spec.mode", "Unsupported value: \"Fast\"", "\"ReadOnly\"", "\"ReadWrite\"");
  }

  @Test
  void deletionPolicyIsDeleteByDefaultAndEitherDeleteOrRetain() {
    var project = kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: policy-default}
        spec: {}
        """)).inNamespace(NS).create();
    assertThat(project.<Object>get("spec", "deletionPolicy")).isEqualTo("Delete");
    var branch = kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: policy-retain}
        spec: {projectRef: shop, deletionPolicy: Retain}
        """)).inNamespace(NS).create();
    assertThat(branch.<Object>get("spec", "deletionPolicy")).isEqualTo("Retain");
    assertRejected("policy-orphan", """
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: policy-orphan}
        spec: {deletionPolicy: Orphan}
        """, "spec.deletionPolicy", "Unsupported value: \"Orphan\"", "\"Delete\"", "\"Retain\"");
  }

  @Test
  void refusesAnLsnOnAReadWriteEndpointAndAcceptsItOnAReadOnlyOne() {
    String message = "spec.lsn is only allowed with spec.mode ReadOnly";
    assertRejected("rw-at-lsn", """
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: rw-at-lsn}
        spec: {branchRef: shop-main, mode: ReadWrite, lsn: "0/16B5A50"}
        """, "spec.lsn", message);
    // mode defaults to ReadWrite before the rule runs, so leaving it out is the same mistake.
    assertRejected("default-at-lsn", """
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: default-at-lsn}
        spec: {branchRef: shop-main, lsn: "0/16B5A50"}
        """, "spec.lsn", message);
    var snapshot = kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: ro-at-lsn}
        spec: {branchRef: shop-main, mode: ReadOnly, lsn: "0/16B5A50"}
        """)).inNamespace(NS).create();
    assertThat(snapshot.<Object>get("spec", "lsn")).isEqualTo("0/16B5A50");
  }

  @Test
  void refusesAPostgresVersionOutsideTheSupportedOnes() {
    assertRejected("pg14", """
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: pg14}
        spec: {postgresVersion: 14}
        """, "spec.postgresVersion", "greater than or equal to 15");
  }

  @Test
  void ancestryOfABranchCannotChangeButOtherFieldsCan() {
    var branches = kube.client().genericKubernetesResources("arbor.dev/v1alpha1", "Branch").inNamespace(NS);
    kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: fixed}
        spec: {projectRef: shop, parent: shop-main, parentLsn: "0/16B5A50"}
        """)).inNamespace(NS).create();

    assertUpdateRejected(branches.withName("fixed").get(), spec -> spec.put("parent", "shop-other"),
        "spec.parent", "spec.parent is immutable");
    assertUpdateRejected(branches.withName("fixed").get(), spec -> spec.remove("parent"),
        "spec.parent", "spec.parent is immutable");
    assertUpdateRejected(branches.withName("fixed").get(), spec -> spec.put("projectRef", "other"),
        "spec.projectRef", "spec.projectRef is immutable");
    assertUpdateRejected(branches.withName("fixed").get(), spec -> spec.put("parentLsn", "0/16B5A51"),
        "spec.parentLsn", "spec.parentLsn is immutable");
    // Swapping the branch point for a timestamp is a change of ancestry too.
    assertUpdateRejected(branches.withName("fixed").get(), spec -> {
      spec.remove("parentLsn");
      spec.put("parentTimestamp", "2026-11-29T10:00:00Z");
    }, "spec.parentLsn", "spec.parentLsn is immutable");
    assertThat(branches.withName("fixed").get().<Object>get("spec", "parent")).isEqualTo("shop-main");

    // A Branch created without parent (the project's root branch) cannot get one later.
    kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: from-root}
        spec: {projectRef: shop}
        """)).inNamespace(NS).create();
    assertUpdateRejected(branches.withName("from-root").get(), spec -> spec.put("parent", "shop-dev"),
        "spec.parent", "spec.parent is immutable");
    assertUpdateRejected(branches.withName("from-root").get(), spec -> spec.put("parentTimestamp", "2026-11-29T10:00:00Z"),
        "spec.parentTimestamp", "spec.parentTimestamp is immutable");

    // The rules guard ancestry only: protection and expiry stay editable.
    GenericKubernetesResource fixed = branches.withName("fixed").get();
    spec(fixed).put("protected", true);
    spec(fixed).put("ttl", "12h");
    GenericKubernetesResource updated = branches.resource(fixed).update();
    assertThat(updated.<Object>get("spec", "protected")).isEqualTo(true);
    assertThat(updated.<Object>get("spec", "ttl")).isEqualTo("12h");
  }

  /** Names the children would refuse (Service, StatefulSet pods, label values) are refused on the object itself. */
  @Test
  void refusesNamesItsChildrenCouldNotTake() {
    String dns1035 = "metadata.name must be a DNS-1035 label";
    for (String name : List.of("a.b", "1st-db")) {
      assertRejected(name, endpointNamed(name), "metadata.name", dns1035, "Service");
    }
    assertRejected("e".repeat(53), endpointNamed("e".repeat(53)), "metadata.name", "at most 52 characters",
        "controller-revision-hash", "63");
    assertThat(kube.client().resource(manifest(endpointNamed("e".repeat(52)))).inNamespace(NS).create()).isNotNull();

    assertRejected("p".repeat(64), projectNamed("p".repeat(64), "main"), "metadata.name", "at most 63 characters",
        "label arbor.dev/project");
    // The root Branch <project>-<defaultBranch> must fit a Branch name too.
    assertRejected("p".repeat(59), projectNamed("p".repeat(59), "main"), "metadata.name", "together be at most 62 characters",
        "<project>-<defaultBranch>");
    assertRejected("short", projectNamed("short", "d".repeat(58)), "metadata.name", "together be at most 62 characters");
    assertThat(kube.client().resource(manifest(projectNamed("p".repeat(58), "main"))).inNamespace(NS).create()).isNotNull();

    assertRejected("b".repeat(64), """
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: %s}
        spec: {projectRef: shop}
        """.formatted("b".repeat(64)), "metadata.name", "at most 63 characters", "label arbor.dev/branch");
    assertThat(kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: %s}
        spec: {projectRef: shop}
        """.formatted("b".repeat(63)))).inNamespace(NS).create()).isNotNull();
  }

  /** An Endpoint is bound to its Branch and mode: moving it could evict another Branch's writer. */
  @Test
  void theBranchAndModeOfAnEndpointCannotChangeButSuspendedCan() {
    var endpoints = kube.client().genericKubernetesResources("arbor.dev/v1alpha1", "Endpoint").inNamespace(NS);
    kube.client().resource(manifest(endpointNamed("bound"))).inNamespace(NS).create();
    assertUpdateRejected(endpoints.withName("bound").get(), spec -> spec.put("branchRef", "shop-dev"),
        "spec.branchRef", "spec.branchRef is immutable: an Endpoint serves the Branch it was created for; delete and re-create the Endpoint");
    assertUpdateRejected(endpoints.withName("bound").get(), spec -> spec.put("mode", "ReadOnly"),
        "spec.mode", "spec.mode is immutable: delete and re-create the Endpoint");
    GenericKubernetesResource bound = endpoints.withName("bound").get();
    spec(bound).put("suspended", true);
    assertThat(endpoints.resource(bound).update().<Object>get("spec", "suspended")).isEqualTo(true);
  }

  /** Roles and databases are keyed by name, and a database's owner must be one of the roles. */
  @Test
  void rolesAndDatabasesHaveUniqueNamesAndOwnersAmongTheRoles() {
    assertRejected("dup-role", """
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: dup-role}
        spec: {roles: [{name: app}, {name: app, options: [LOGIN]}]}
        """, "spec.roles[1]", "Duplicate value");
    assertRejected("dup-db", """
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: dup-db}
        spec: {roles: [{name: app}], databases: [{name: app, owner: app}, {name: app, owner: app}]}
        """, "spec.databases[1]", "Duplicate value");
    assertRejected("stranger", """
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: stranger}
        spec: {roles: [{name: app}], databases: [{name: app, owner: bob}]}
        """, "spec.databases", "spec.databases[].owner must be one of spec.roles[].name");
    assertRejected("no-owner", """
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: no-owner}
        spec: {roles: [{name: app}], databases: [{name: app}]}
        """, "spec.databases[0].owner", "Required value");
    var project = kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: owned}
        spec: {roles: [{name: app}, {name: reporter}], databases: [{name: app, owner: app}, {name: reports, owner: reporter}]}
        """)).inNamespace(NS).create();
    assertThat(project.<List<?>>get("spec", "databases")).hasSize(2);
  }

  /** Only the role options the compute agent applies: the others are refused when the Project is applied, by name. */
  @Test
  void refusesARoleOptionTheComputeDoesNotApply() {
    for (String option : List.of("NOINHERIT", "REPLICATION", "BYPASSRLS", "SUPERUSER")) {
      String name = "option-" + option.toLowerCase(java.util.Locale.ROOT);
      assertRejected(name, """
          apiVersion: arbor.dev/v1alpha1
          kind: Project
          metadata: {name: %s}
          spec: {roles: [{name: app, options: [LOGIN, %s]}]}
          """.formatted(name, option), "spec.roles[0].options[1]", "Unsupported value: \"" + option + "\"");
    }
    var project = kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: all-options}
        spec:
          roles: [{name: app, options: [LOGIN, NOLOGIN, CREATEDB, NOCREATEDB, CREATEROLE, NOCREATEROLE, INHERIT, NOREPLICATION, NOBYPASSRLS]}]
        """)).inNamespace(NS).create();
    assertThat(project.<List<?>>get("spec", "roles")).hasSize(1);
  }

  /** A condition's status is True, False or Unknown and its lastTransitionTime a time, as in metav1.Condition. */
  @Test
  void conditionsHaveTheStatusValuesAndTimesOfMetav1Conditions() {
    var project = kube.client().resource(manifest("""
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: conditions}
        spec: {}
        """)).inNamespace(NS).create();
    assertStatusRejected(project, condition("Yes", "2026-12-07T14:00:00Z"), "status.conditions[0].status", "Unsupported value: \"Yes\"");
    assertStatusRejected(project, condition("True", "yesterday"), "status.conditions[0].lastTransitionTime", "should match");
    for (String status : List.of("True", "False", "Unknown")) {
      project = kube.client().resource(withStatus(project, condition(status, "2026-12-07T14:00:00Z"))).inNamespace(NS).updateStatus();
      assertThat(project.<Object>get("status", "conditions", 0, "status")).isEqualTo(status);
    }
  }

  private static Map<String, Object> condition(String status, String lastTransitionTime) {
    return Map.of("type", "Ready", "status", status, "reason", "Ready", "message", "a test", "lastTransitionTime", lastTransitionTime,
        "observedGeneration", 1);
  }

  private static GenericKubernetesResource withStatus(GenericKubernetesResource resource, Map<String, Object> condition) {
    GenericKubernetesResource copy = kube.client().getKubernetesSerialization().clone(resource);
    copy.getAdditionalProperties().put("status", Map.of("conditions", List.of(condition)));
    return copy;
  }

  private static void assertStatusRejected(GenericKubernetesResource current, Map<String, Object> condition, String field, String message) {
    assertThatThrownBy(() -> kube.client().resource(withStatus(current, condition)).inNamespace(NS).updateStatus())
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getCode()).isEqualTo(422))
        .hasMessageContaining(field)
        .hasMessageContaining(message);
  }

  private static String endpointNamed(String name) {
    return """
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: %s}
        spec: {branchRef: shop-main}
        """.formatted(name);
  }

  private static String projectNamed(String name, String defaultBranch) {
    return """
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: %s}
        spec: {defaultBranch: %s}
        """.formatted(name, defaultBranch);
  }

  private static void assertRejected(String name, String yaml, String field, String... messageParts) {
    GenericKubernetesResource resource = manifest(yaml);
    assertThatThrownBy(() -> kube.client().resource(resource).inNamespace(NS).create())
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getCode()).isEqualTo(422))
        .hasMessageContaining(field)
        .hasMessageContainingAll(messageParts);
    assertThat(kube.client().genericKubernetesResources(resource.getApiVersion(), resource.getKind()).inNamespace(NS).withName(name).get())
        .as("a rejected %s leaves nothing behind", name).isNull();
  }

  private static void assertUpdateRejected(GenericKubernetesResource current, java.util.function.Consumer<Map<String, Object>> change,
      String field, String message) {
    change.accept(spec(current));
    assertThatThrownBy(() -> kube.client().resource(current).inNamespace(NS).update())
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getCode()).isEqualTo(422))
        .hasMessageContaining(field)
        .hasMessageContaining(message);
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> spec(GenericKubernetesResource resource) {
    return (Map<String, Object>) resource.getAdditionalProperties().get("spec");
  }

  private static GenericKubernetesResource manifest(String yaml) {
    return kube.client().getKubernetesSerialization().unmarshal(yaml, GenericKubernetesResource.class);
  }

  private static String kubectl(String... args) throws IOException, InterruptedException {
    Path kubeconfig = tmp.resolve("kubeconfig");
    if (!Files.exists(kubeconfig)) {
      Files.writeString(kubeconfig, kube.kubeconfigYaml());
    }
    List<String> command = new ArrayList<>(List.of(kube.binaryDir().resolve("kubectl").toString(), "--kubeconfig", kubeconfig.toString()));
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("kubectl %s finished", command).isTrue();
    assertThat(process.exitValue()).as("kubectl %s failed: %s", args, output).isZero();
    return output;
  }
}
