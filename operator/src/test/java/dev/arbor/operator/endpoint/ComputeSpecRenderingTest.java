package dev.arbor.operator.endpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import dev.arbor.api.Lsn;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.api.compute.ComputeAgentSpec.Mode;
import dev.arbor.api.compute.InvalidSpecException;
import dev.arbor.client.ComputeSpecJson;
import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.operator.LocalPod;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The operator's compute spec for the three kinds of start — read-write, read-only at an LSN, read-write on a
 * child branch — is one the compute agent accepts: rendered from the manifests, written by the shared writer,
 * escaped into the pod's environment, expanded the way the kubelet expands it, then put through
 * {@link ComputeSpecJson#parse} (what {@code ComputeAgent.acceptSpec} runs; {@code ServiceLaunchTest} in compute pins that), the check the agent runs before anything else.
 */
class ComputeSpecRenderingTest {
  private static final String TENANT = "0123456789abcdef0123456789abcdef";
  private static final String MAIN_TIMELINE = "fedcba9876543210fedcba9876543210";
  private static final String DEV_TIMELINE = "00112233445566778899aabbccddeeff";
  private static final String POD_IP = "10.244.0.7";
  // As the chart renders it until TLS runs on Kubernetes: http:// URLs, the token allowed over them (insecure-http).
  private static final ComputeSpecRendering.Placement PLACEMENT = new ComputeSpecRendering.Placement(
      "http://arbor-pageserver.arbor-system.svc:9898", Map.of("sk-0", "http://arbor-safekeeper-0.arbor-safekeeper:7676",
          "sk-1", "http://arbor-safekeeper-1.arbor-safekeeper:7676", "sk-2", "http://arbor-safekeeper-2.arbor-safekeeper:7676"),
      5432, 3080, "/var/lib/arbor", ComputeResources.STORAGE_TOKEN_FILE, true);

  private static final Project PROJECT = Serialization.unmarshal("""
      apiVersion: arbor.dev/v1alpha1
      kind: Project
      metadata: {name: shop, namespace: team-a}
      spec:
        roles:
          - {name: app, options: [LOGIN, CREATEDB]}
          - {name: reporter, options: [LOGIN]}
        databases:
          - {name: app, owner: app}
      status: {tenantId: %s, postgresVersion: 17}
      """.formatted(TENANT), Project.class);

  private static Branch branch(String name, String parent, String timeline) {
    return Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Branch
        metadata: {name: %s, namespace: team-a}
        spec: {projectRef: shop%s}
        status: {timelineId: %s}
        """.formatted(name, parent == null ? "" : ", parent: " + parent + ", parentLsn: 0/1B62D90", timeline), Branch.class);
  }

  private static Endpoint endpoint(String branch, String modeAndLsn) {
    return Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: %s-ep, namespace: team-a}
        spec:
          branchRef: %s
          %s
          suspendTimeout: 5m
          postgresParameters: {work_mem: 64MB, application_name: "$(NOT_A_VARIABLE)"}
        """.formatted(branch, branch, modeAndLsn), Endpoint.class);
  }

  /** What the agent in the pod makes of the spec the operator rendered. */
  private static ComputeAgentSpec acceptedInThePod(ComputeAgentSpec rendered) {
    String envValue = ComputeResources.specEnvValue(ComputeSpecJson.toJson(rendered));
    String delivered = LocalPod.expand(envValue, Map.of(ComputeResources.POD_IP_ENV, POD_IP));
    return ComputeSpecJson.parse(delivered);
  }

  @Test
  void aReadWriteStartIsAcceptedByTheAgent() {
    ComputeAgentSpec spec = acceptedInThePod(ComputeSpecRendering.render(endpoint("main", "mode: ReadWrite"),
        branch("main", null, MAIN_TIMELINE), PROJECT, PLACEMENT));
    assertThat(spec.mode()).isEqualTo(Mode.READ_WRITE);
    assertThat(spec.lsn()).isNull();
    assertThat(spec.tenantId().toString()).isEqualTo(TENANT);
    assertThat(spec.timelineId().toString()).isEqualTo(MAIN_TIMELINE);
    assertThat(spec.safekeepers()).isEqualTo(PLACEMENT.safekeepers());
    assertThat(spec.pageserverUrl()).isEqualTo(PLACEMENT.pageserverUrl());
    assertThat(spec.listenHost()).as("the kubelet put the pod IP in").isEqualTo(POD_IP);
    assertThat(spec.workDir()).isEqualTo(Path.of("/var/lib/arbor/compute"));
    assertThat(spec.postgresVersion()).isEqualTo(17);
    assertThat(spec.parameters()).as("a $ the user wrote reaches the agent as written")
        .containsEntry("application_name", "$(NOT_A_VARIABLE)").containsEntry("work_mem", "64MB");
    assertThat(spec.suspendTimeout()).isEqualTo(Duration.ofMinutes(5));
    assertThat(spec.roles()).extracting(ComputeAgentSpec.Role::name, ComputeAgentSpec.Role::passwordEnv, ComputeAgentSpec.Role::createdb)
        .containsExactly(tuple("app", "ARBOR_ROLE_PASSWORD_APP", true),
            tuple("reporter", "ARBOR_ROLE_PASSWORD_REPORTER", false));
    assertThat(spec.databases()).containsExactly(new ComputeAgentSpec.Database("app", "app"));
  }

  @Test
  void anEndpointWithoutASuspendTimeoutGetsItsProjectsDefault() {
    Endpoint own = endpoint("main", "mode: ReadWrite");
    own.getSpec().setSuspendTimeout(null);
    Project withDefault = Serialization.clone(PROJECT);
    withDefault.getSpec().setEndpointDefaults(new dev.arbor.crds.v1alpha1.EndpointDefaults());
    withDefault.getSpec().getEndpointDefaults().setSuspendTimeout("90s");
    assertThat(acceptedInThePod(ComputeSpecRendering.render(own, branch("main", null, MAIN_TIMELINE), withDefault, PLACEMENT))
        .suspendTimeout()).isEqualTo(Duration.ofSeconds(90));
    assertThat(acceptedInThePod(ComputeSpecRendering.render(own, branch("main", null, MAIN_TIMELINE), PROJECT, PLACEMENT))
        .suspendTimeout()).as("neither sets one").isNull();
    own.getSpec().setSuspendTimeout("0");
    assertThat(acceptedInThePod(ComputeSpecRendering.render(own, branch("main", null, MAIN_TIMELINE), withDefault, PLACEMENT))
        .suspendTimeout()).isZero();
  }

  @Test
  void aReadOnlyStartAtAnLsnIsAcceptedByTheAgent() {
    ComputeAgentSpec spec = acceptedInThePod(ComputeSpecRendering.render(endpoint("main", "mode: ReadOnly\n  lsn: 0/16B5A50"),
        branch("main", null, MAIN_TIMELINE), PROJECT, PLACEMENT));
    assertThat(spec.mode()).isEqualTo(Mode.READ_ONLY);
    assertThat(spec.lsn()).isEqualTo(Lsn.parse("0/16B5A50"));
    assertThat(spec.timelineId().toString()).isEqualTo(MAIN_TIMELINE);
    assertThat(spec.safekeepers()).as("a snapshot needs no safekeepers").isEmpty();
  }

  @Test
  void aStartOnAChildBranchIsAcceptedByTheAgent() {
    ComputeAgentSpec spec = acceptedInThePod(ComputeSpecRendering.render(endpoint("dev", "mode: ReadWrite"),
        branch("dev", "main", DEV_TIMELINE), PROJECT, PLACEMENT));
    assertThat(spec.mode()).isEqualTo(Mode.READ_WRITE);
    assertThat(spec.timelineId().toString()).as("the child's own timeline").isEqualTo(DEV_TIMELINE);
    assertThat(spec.tenantId().toString()).isEqualTo(TENANT);
    assertThat(spec.safekeepers()).isEqualTo(PLACEMENT.safekeepers());
  }

  /** The acceptance above is a real check: a spec the agent cannot run is refused on the same path. */
  @Test
  void aParameterOutsideTheAllowlistIsRefusedOnTheSamePath() {
    Endpoint endpoint = endpoint("main", "mode: ReadWrite");
    endpoint.getSpec().getPostgresParameters().put("shared_preload_libraries", "evil");
    ComputeAgentSpec rendered = ComputeSpecRendering.render(endpoint, branch("main", null, MAIN_TIMELINE), PROJECT, PLACEMENT);
    assertThatThrownBy(() -> acceptedInThePod(rendered)).isInstanceOfSatisfying(InvalidSpecException.class,
        e -> assertThat(e.errors()).singleElement().satisfies(f -> assertThat(f.field()).isEqualTo("parameters.shared_preload_libraries")));
  }
}
