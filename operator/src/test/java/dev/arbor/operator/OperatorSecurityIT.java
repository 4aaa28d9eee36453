package dev.arbor.operator;

import dev.arbor.api.ProblemTypes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.CreateTenantRequest;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.testing.AgentProcess;
import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointMode;
import dev.arbor.crds.v1alpha1.EndpointSpec;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.crds.v1alpha1.Role;
import dev.arbor.crds.v1alpha1.RoleOption;
import dev.arbor.api.ApiProblem;
import dev.arbor.testing.TempDirectory;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import dev.arbor.client.auth.TokenSource;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

/**
 * What a tenant can reach from its own compute, or put into it through an Endpoint (review items 1 and 2): not
 * another tenant's storage, not the Kubernetes API, not any role's password, not the compute's superuser.
 */
class OperatorSecurityIT extends OperatorTestBase {
  private static final String APP_PASSWORD_REF = "$(ARBOR_ROLE_PASSWORD_APP)";

  /**
   * Compute A is given the pageserver's compute port and a compute token of its own timeline; with them, B's tenant
   * can be neither listed, created next to, nor deleted (403: the token does not reach those routes). The pods get
   * no ServiceAccount token.
   */
  @Test
  void aComputeCannotManageAnotherTenantsStorageNorReachTheKubernetesApi() throws Exception {
    readyProject("sec-a", "pa");
    Project b = readyProject("sec-b", "pb");
    Branch bMain = awaitBranchReady("sec-b", "pb-main");
    endpoint("sec-a", "pa-rw", "pa-main");
    endpoint("sec-b", "pb-rw", "pb-main");
    StatefulSet a = awaitStatefulSet("sec-a", "pa-rw");
    StatefulSet bSts = awaitStatefulSet("sec-b", "pb-rw");
    for (StatefulSet sts : List.of(a, bSts)) {
      PodSpec pod = sts.getSpec().getTemplate().getSpec();
      assertThat(pod.getAutomountServiceAccountToken()).as("%s mounts no ServiceAccount token", sts.getMetadata().getName()).isFalse();
    }

    String bTenant = b.getStatus().getTenantId();
    String bTimeline = bMain.getStatus().getTimelineId();
    try (var pods = TempDirectory.create("arbor-sec-pods-")) {
      LocalPod podA = LocalPod.of(client(), "sec-a", "pa-rw", pods.resolve("pa-rw-0"));
      var viaCompute = new PageserverClient(podA.spec.pageserverUrl(), Duration.ofSeconds(30), RetryPolicy.NONE,
          TokenSource.file(podA.storageTokenFile()).allowPlainHttp());
      var bId = new TenantId(bTenant);
      assertForbidden(() -> viaCompute.deleteTenant(bId));
      assertForbidden(() -> viaCompute.deleteTimeline(bId, new TimelineId(bTimeline)));
      assertForbidden(viaCompute::tenants);
      assertForbidden(() -> viaCompute.timelines(bId));
      assertForbidden(() -> viaCompute.createTenant(CreateTenantRequest.withRandomId(15)));
    }
    assertThat(tenant(bTenant).tenantId().toString()).isEqualTo(bTenant);
    assertThat(timelineExists(bTenant, bTimeline)).isTrue();
  }

  /**
   * The compute spec travels in an env value, where the kubelet expands $(NAME) from the variables before it, the
   * role passwords among them: user text must arrive as written. The superuser has no way in over TCP.
   */
  @Test
  void userTextReachesPostgresAsWrittenAndTheSuperuserIsRefusedOnTcp() throws Exception {
    String ns = "sec-escape";
    readyProject(ns, "esc");
    String literal = APP_PASSWORD_REF + "$$(POD_IP)";
    endpoint(ns, "esc-rw", "esc-main", EndpointMode.ReadWrite, null, Map.of("application_name", literal));
    awaitStatefulSet(ns, "esc-rw");
    String password = secretData(ns, "esc-role-passwords").get("app");

    try (var pods = TempDirectory.create("arbor-sec-pods-")) {
      LocalPod pod = LocalPod.of(client(), ns, "esc-rw", pods.resolve("esc-rw-0"));
      assertThat(pod.spec.parameters()).containsEntry("application_name", literal);
      assertThat(pod.spec.listenHost()).as("the operator's own placeholder still expands").isEqualTo(pod.podIp);
      try (AgentProcess agent = pod.start()) {
        agent.awaitRunning();
        try (Connection su = agent.superuser("postgres"); Statement st = su.createStatement()) {
          String configured = one(st, "SELECT setting FROM pg_file_settings WHERE name = 'application_name' AND applied");
          assertThat(configured).isEqualTo(literal).doesNotContain(password);
        }
        Map<String, String> secret = secretData(ns, "esc-rw-connection");
        try (Connection app = connect(pod, secret); Statement st = app.createStatement()) {
          assertThat(one(st, "SELECT current_user")).isEqualTo("app");
        }
        var superuser = new Properties();
        superuser.setProperty("user", "postgres");
        superuser.setProperty("password", password);
        assertThatThrownBy(() -> DriverManager.getConnection("jdbc:postgresql://" + pod.podIp + ":" + secret.get("port") + "/postgres",
            superuser).close())
            .isInstanceOf(SQLException.class).hasMessageContaining("pg_hba.conf rejects connection").hasMessageContaining("\"postgres\"");
        assertThat(agent.outputText()).doesNotContain(password);
      }
    }
  }

  /** Parameters are an allowlist: a name outside it stalls the Endpoint, naming the field, and makes no compute. */
  @Test
  void aParameterOutsideTheAllowlistIsRefusedNamingTheField() {
    String ns = "sec-params";
    readyProject(ns, "par");
    String lsn = awaitBranchReady(ns, "par-main").getStatus().getHeadLsn();
    // Read-only snapshots, so that the two do not compete for the Branch's one writer.
    endpoint(ns, "par-log", "par-main", EndpointMode.ReadOnly, lsn, Map.of("log_statement", "ddl"));
    endpoint(ns, "par-leak", "par-main", EndpointMode.ReadOnly, lsn, Map.of("arbor.leak", APP_PASSWORD_REF));
    for (String[] refused : List.of(new String[] {"par-log", "log_statement"}, new String[] {"par-leak", "arbor.leak"})) {
      await().atMost(WAIT).untilAsserted(() -> assertThat(condition(get(Endpoint.class, ns, refused[0]), Condition.STALLED)).isNotNull()
          .satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("True");
            assertThat(c.getReason()).isEqualTo("InvalidComputeSpec");
            assertThat(c.getMessage()).contains("spec.postgresParameters." + refused[1] + " is not allowed",
                "docs/compute-agent.md", "remove it");
          }));
      assertThat(client().apps().statefulSets().inNamespace(ns).withName(refused[0]).get()).isNull();
    }
  }

  /**
   * Before PostgreSQL 16, CREATEROLE reaches every non-superuser role, pg_execute_server_program and the compute's own
   * replication role included: the Endpoint of such a Project is Stalled, naming the role and the fix, and gets no pod.
   */
  @Test
  void createroleBeforePostgres16IsRefusedNamingTheRoleAndTheFix() {
    String ns = "sec-createrole";
    namespace(ns);
    Role admin = loginRole("admin");
    admin.setOptions(new ArrayList<>(List.of(RoleOption.LOGIN, RoleOption.CREATEROLE)));
    project(ns, "cr", List.of(loginRole("app"), admin));
    Project ready = awaitProjectReady(ns, "cr");
    assertThat(ready.getStatus().getPostgresVersion()).as("the operator's default major in these tests").isLessThan(16);
    endpoint(ns, "cr-rw", "cr-main");
    await().atMost(WAIT).untilAsserted(() -> assertThat(condition(get(Endpoint.class, ns, "cr-rw"), Condition.STALLED)).isNotNull()
        .satisfies(c -> {
          assertThat(c.getStatus()).isEqualTo("True");
          assertThat(c.getReason()).isEqualTo("UnsafeRoleOption");
          assertThat(c.getMessage()).contains("spec.roles[1].options has CREATEROLE on PostgreSQL 15",
              "pg_execute_server_program", "remove CREATEROLE, or use PostgreSQL 16 or later");
        }));
    assertThat(client().apps().statefulSets().inNamespace(ns).withName("cr-rw").get()).isNull();
  }

  private static void endpoint(String ns, String name, String branch, EndpointMode mode, String lsn, Map<String, String> parameters) {
    var spec = new EndpointSpec();
    spec.setBranchRef(branch);
    spec.setMode(mode);
    spec.setLsn(lsn);
    spec.setPostgresParameters(parameters);
    var e = new Endpoint();
    e.getMetadata().setName(name);
    e.getMetadata().setNamespace(ns);
    e.setSpec(spec);
    client().resource(e).create();
  }

  private static void assertForbidden(ThrowingCallable call) {
    assertThatThrownBy(call).isInstanceOfSatisfying(ApiProblem.class, p -> {
      assertThat(p.status()).as(p.getMessage()).isEqualTo(403);
      assertThat(p.is(ProblemTypes.FORBIDDEN)).as("refused for its token's scope: %s", p.getMessage()).isTrue();
    });
  }
}
