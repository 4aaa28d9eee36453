package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.testing.AgentProcess;
import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.BranchSpec;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointSpec;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.crds.v1alpha1.ProjectSpec;
import dev.arbor.crds.v1alpha1.Role;
import dev.arbor.api.Lsn;
import dev.arbor.api.ApiProblem;
import dev.arbor.client.Json;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.TempDirectory;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.CustomResource;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The operator as it runs in a cluster — the packaged Quarkus app as its own process — against a real
 * kube-apiserver with the committed CRDs, a real storage engine (pageserver and a safekeeper as processes) and
 * real PostgreSQL 15 computes started from exactly what the operator put into the API server (OperatorTestBase):
 * one API server, storage engine and operator for the class; each test works in its own namespace. The pageserver
 * runs as the Helm chart runs it, with a management listener: the operator's calls go to that port, and computes
 * start through the other one, which refuses management calls.
 */
class OperatorIT extends OperatorTestBase {

  /**
   * The examples, applied verbatim: Project shop → tenant + Ready root Branch; a compute on shop-main (started
   * from the operator's StatefulSet) writes until the head passes 0/3000000; the example Branch at that LSN ends
   * Ready with status.lsn = 0/3000000 and the same ancestry in the storage engine; the example Endpoint's compute
   * serves shop-dev: exactly what shop-main had committed at the LSN, reached with the connection Secret.
   */
  @Test
  void examplesGiveATenantABranchAtTheLsnAndAWorkingComputeOnIt() throws Exception {
    String ns = "examples";
    namespace(ns);
    applyExample(ns, "project.yaml");
    Project shop = awaitProjectReady(ns, "shop");
    assertThat(shop.getStatus().getPostgresVersion()).isEqualTo(15);
    assertThat(shop.getStatus().getObservedGeneration()).isEqualTo(shop.getMetadata().getGeneration());
    TenantInfo tenant = tenant(shop.getStatus().getTenantId());
    assertThat(tenant.pgVersion()).isEqualTo(15);

    Branch main = awaitBranchReady(ns, "shop-main");
    assertThat(main.getStatus().getTimelineId()).isEqualTo(tenant.rootTimelineId().toString());
    assertThat(main.getMetadata().getOwnerReferences()).singleElement()
        .satisfies(o -> assertThat(o.getUid()).isEqualTo(shop.getMetadata().getUid()));

    // A writer on the root branch, through the operator's own wiring.
    Endpoint mainRw = endpoint(ns, "shop-main-rw", "shop-main");
    await().atMost(WAIT).until(() -> client().apps().statefulSets().inNamespace(ns).withName("shop-main-rw").get() != null);
    Lsn target = Lsn.parse("0/3000000");
    List<long[]> batches = new ArrayList<>(); // {batch, lsn before, lsn after commit}
    try (var pods = TempDirectory.create("arbor-pods-")) {
      LocalPod mainPod = LocalPod.of(client(), ns, "shop-main-rw", pods.resolve("shop-main-rw-0"));
      try (AgentProcess agent = mainPod.start()) {
        assertThat(agent.awaitRunning().timeline().toString()).isEqualTo(main.getStatus().getTimelineId());
        assertThat(mainPod.readiness()).as("the readiness probe of the running compute, %s", mainPod.readinessUrl).isEqualTo(200);
        Map<String, String> mainSecret = secretData(ns, "shop-main-rw-connection");
        try (Connection c = connect(mainPod, mainSecret); Statement st = c.createStatement()) {
          st.execute("CREATE TABLE items (batch int, payload text)");
          for (int batch = 1; ; batch++) {
            Lsn before = Lsn.parse(one(st, "SELECT pg_current_wal_lsn()"));
            st.execute("INSERT INTO items SELECT " + batch + ", repeat('x', 200) FROM generate_series(1, 5000)");
            Lsn after = Lsn.parse(one(st, "SELECT pg_current_wal_lsn()"));
            batches.add(new long[] {batch, before.value(), after.value()});
            if (before.isAfter(target)) {
              break; // one whole batch after the branch point, which the branch must not see
            }
          }
        }
        await().atMost(WAIT).until(() -> !timeline(shop.getStatus().getTenantId(), main.getStatus().getTimelineId())
            .lastDurableLsn().isBefore(target));

        applyExample(ns, "branch-at-lsn.yaml");
        Branch dev = awaitBranchReady(ns, "shop-dev");
        assertThat(dev.getStatus().getLsn()).isEqualTo("0/3000000");
        TimelineInfo devTimeline = timeline(shop.getStatus().getTenantId(), dev.getStatus().getTimelineId());
        assertThat(devTimeline.ancestorTimelineId().toString()).isEqualTo(main.getStatus().getTimelineId());
        assertThat(devTimeline.ancestorLsn()).isEqualTo(target);
        assertThat(agent.sigterm()).isZero();
      }

      applyExample(ns, "endpoint.yaml");
      await().atMost(WAIT).until(() -> client().apps().statefulSets().inNamespace(ns).withName("shop-dev-rw").get() != null);
      Endpoint devRw = get(Endpoint.class, ns, "shop-dev-rw");
      StatefulSet sts = client().apps().statefulSets().inNamespace(ns).withName("shop-dev-rw").get();
      Service svc = client().services().inNamespace(ns).withName("shop-dev-rw").get();
      Secret secret = client().secrets().inNamespace(ns).withName("shop-dev-rw-connection").get();
      for (HasMetadata child : List.of(sts, svc, secret)) {
        assertOwnedAndLabelled(child, devRw);
      }
      assertThat(sts.getSpec().getReplicas()).isEqualTo(1);
      // Computes are given the pageserver's compute port; its management port would refuse their start.
      String computeSpec = sts.getSpec().getTemplate().getSpec().getContainers().getFirst().getEnv().stream()
          .filter(v -> v.getName().equals("ARBOR_COMPUTE_SPEC")).findFirst().orElseThrow().getValue();
      assertThat(Json.MAPPER.readTree(computeSpec).path("pageserver_url").asText()).isEqualTo(storage.pageserverUrl())
          .isNotEqualTo(storage.pageserverManagementUrl());
      // The Service selects nothing: its EndpointSlice sends it to arbor-proxy (OperatorProxyRoutingIT).
      assertThat(svc.getSpec().getSelector()).isNullOrEmpty();
      Map<String, String> devSecret = secretData(ns, "shop-dev-rw-connection");
      assertThat(devSecret).containsOnlyKeys("host", "port", "dbname", "user", "password", "uri", "jdbc-uri")
          .containsEntry("host", "shop-dev-rw.examples.svc").containsEntry("port", "5432")
          .containsEntry("dbname", "app").containsEntry("user", "app");
      assertThat(devSecret.get("uri")).isEqualTo("postgresql://app:" + devSecret.get("password") + "@shop-dev-rw.examples.svc:5432/app");
      assertThat(devSecret.get("jdbc-uri")).startsWith("jdbc:postgresql://shop-dev-rw.examples.svc:5432/app?user=app&password=");
      await().atMost(WAIT).untilAsserted(() -> {
        Endpoint e = get(Endpoint.class, ns, "shop-dev-rw");
        assertThat(e.getStatus()).isNotNull();
        assertThat(e.getStatus().getConnectionSecret()).isEqualTo("shop-dev-rw-connection");
        assertThat(e.getStatus().getHost()).isEqualTo("shop-dev-rw.examples.svc");
        assertThat(e.getStatus().getPort()).isEqualTo(5432);
        assertThat(e.getStatus().getPhase()).hasToString("Starting"); // no kubelet: the pod never becomes ready here
      });

      Branch dev = get(Branch.class, ns, "shop-dev");
      LocalPod devPod = LocalPod.of(client(), ns, "shop-dev-rw", pods.resolve("shop-dev-rw-0"));
      try (AgentProcess agent = devPod.start()) {
        var status = agent.awaitRunning();
        assertThat(status.timeline().toString()).isEqualTo(dev.getStatus().getTimelineId());
        assertThat(status.tenant().toString()).isEqualTo(shop.getStatus().getTenantId());
        try (Connection c = connect(devPod, devSecret); Statement st = c.createStatement()) {
          List<Long> seen = new ArrayList<>();
          try (ResultSet rs = st.executeQuery("SELECT DISTINCT batch FROM items ORDER BY 1")) {
            while (rs.next()) {
              seen.add(rs.getLong(1));
            }
          }
          for (long[] b : batches) {
            if (b[2] <= target.value()) {
              assertThat(seen).as("batch %d, committed before the branch point", b[0]).contains(b[0]);
            }
            if (b[1] > target.value()) {
              assertThat(seen).as("batch %d, written after the branch point", b[0]).doesNotContain(b[0]);
            }
          }
          st.execute("INSERT INTO items VALUES (-1, 'written on shop-dev')"); // read-write on its own branch
        }
        assertThat(agent.sigterm()).isZero();
      }
    }
    assertThat(client().v1().events().inNamespace(ns).list().getItems()).extracting(e -> e.getReason())
        .contains("TenantCreated", "RootBranchCreated", "TimelineCreated");
    // The compute on shop-main is the one ReadWrite endpoint of its branch; a second one is refused.
    endpoint(ns, "shop-main-rw2", "shop-main");
    await().atMost(WAIT).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, "shop-main-rw2");
      assertThat(isTrue(e, Condition.STALLED)).isTrue();
      assertThat(condition(e, Condition.STALLED).getReason()).isEqualTo("ReadWriteEndpointExists");
      assertThat(condition(e, Condition.STALLED).getMessage()).contains("Endpoint shop-main-rw is already");
    });
    assertThat(client().apps().statefulSets().inNamespace(ns).withName("shop-main-rw2").get()).isNull();
    assertThat(mainRw.getMetadata().getName()).isEqualTo("shop-main-rw");
  }

  /**
   * A Branch with children, or a protected one, stays (with its timeline) and says why; a leaf goes with its
   * timeline; and once its child is gone, the held parent goes too.
   */
  @Test
  void deletionIsHeldForParentsAndProtectedBranchesAndRemovesLeafTimelines() throws Exception {
    String ns = "deletion";
    namespace(ns);
    project(ns, "del", List.of());
    String tenant = awaitProjectReady(ns, "del").getStatus().getTenantId();
    branch(ns, "del-a", "del", null, false);
    String a = awaitBranchReady(ns, "del-a").getStatus().getTimelineId();
    branch(ns, "del-b", "del", "del-a", false);
    String b = awaitBranchReady(ns, "del-b").getStatus().getTimelineId();
    branch(ns, "del-p", "del", null, true);
    String p = awaitBranchReady(ns, "del-p").getStatus().getTimelineId();
    assertThat(timeline(tenant, b).ancestorTimelineId().toString()).isEqualTo(a);

    client().resources(Branch.class).inNamespace(ns).withName("del-a").delete();
    client().resources(Branch.class).inNamespace(ns).withName("del-p").delete();
    await().atMost(WAIT).untilAsserted(() -> {
      Branch parent = get(Branch.class, ns, "del-a");
      assertThat(parent).isNotNull();
      assertThat(condition(parent, Condition.STALLED)).isNotNull().satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getReason()).isEqualTo("HasChildren");
        assertThat(c.getMessage()).contains("del-b", "delete them first");
      });
      Branch prot = get(Branch.class, ns, "del-p");
      assertThat(prot).isNotNull();
      assertThat(condition(prot, Condition.STALLED)).isNotNull().satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getReason()).isEqualTo("Protected");
        assertThat(c.getMessage()).contains("spec.protected");
      });
    });
    assertThat(timelineExists(tenant, a)).isTrue();
    assertThat(timelineExists(tenant, p)).isTrue();

    // A hold freezes nothing: the held Branches keep serving (Ready), their child stays Ready, and a protected root
    // held in deletion leaves its Project Ready, not RecreatingRootBranch (it is not going anywhere).
    String rootUid = get(Branch.class, ns, "del-main").getMetadata().getUid();
    client().resources(Branch.class).inNamespace(ns).withName("del-main").edit(x -> {
      x.getSpec().setProtected(true);
      return x;
    });
    client().resources(Branch.class).inNamespace(ns).withName("del-main").delete();
    await().atMost(WAIT).untilAsserted(() -> assertThat(condition(get(Branch.class, ns, "del-main"), Condition.STALLED))
        .extracting(Condition::getStatus, Condition::getReason).containsExactly("True", "Protected"));
    await().during(Duration.ofSeconds(20)).atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500)).untilAsserted(() -> {
      Branch child = get(Branch.class, ns, "del-b");
      assertThat(condition(child, Condition.READY)).as("del-b Ready").satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getObservedGeneration()).isEqualTo(child.getMetadata().getGeneration());
      });
      for (String held : List.of("del-a", "del-p", "del-main")) {
        Branch h = get(Branch.class, ns, held);
        assertThat(condition(h, Condition.READY)).as("%s Ready while held", held).extracting(Condition::getStatus).isEqualTo("True");
        assertThat(isTrue(h, Condition.STALLED)).as("%s Stalled while held", held).isTrue();
      }
      Project project = get(Project.class, ns, "del");
      assertThat(condition(project, Condition.READY)).as("Project del Ready").satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getReason()).isNotEqualTo("RecreatingRootBranch");
        assertThat(c.getMessage()).contains("its deletion is held");
      });
      assertThat(isTrue(project, Condition.RECONCILING)).as("Project del Reconciling").isFalse();
    });
    assertThat(timelineExists(tenant, b)).isTrue();
    // Unprotected, the root object goes (its timeline is the tenant's) and the Project makes it again.
    client().resources(Branch.class).inNamespace(ns).withName("del-main").edit(x -> {
      x.getSpec().setProtected(false);
      return x;
    });
    await().atMost(WAIT).until(() -> get(Branch.class, ns, "del-main") != null
        && !get(Branch.class, ns, "del-main").getMetadata().getUid().equals(rootUid));
    awaitBranchReady(ns, "del-main");

    client().resources(Branch.class).inNamespace(ns).withName("del-b").delete();
    await().atMost(WAIT).until(() -> get(Branch.class, ns, "del-b") == null);
    assertThat(timelineExists(tenant, b)).isFalse();
    await().atMost(WAIT).until(() -> get(Branch.class, ns, "del-a") == null); // its only child is gone
    assertThat(timelineExists(tenant, a)).isFalse();

    client().resources(Branch.class).inNamespace(ns).withName("del-p")
        .edit(x -> {
          x.getSpec().setProtected(false);
          return x;
        });
    await().atMost(WAIT).until(() -> get(Branch.class, ns, "del-p") == null);
    assertThat(timelineExists(tenant, p)).isFalse();
    assertThat(timelines(tenant)).extracting(t -> t.timelineId().toString())
        .containsExactly(get(Branch.class, ns, "del-main").getStatus().getTimelineId());

    // An ephemeral branch goes by itself, timeline and all.
    var spec = new BranchSpec();
    spec.setProjectRef("del");
    spec.setTtl("5s");
    var e = new Branch();
    e.getMetadata().setName("del-ephemeral");
    e.getMetadata().setNamespace(ns);
    e.setSpec(spec);
    client().resource(e).create();
    String ephemeral = awaitBranchReady(ns, "del-ephemeral").getStatus().getTimelineId();
    await().atMost(WAIT).until(() -> get(Branch.class, ns, "del-ephemeral") == null);
    assertThat(timelineExists(tenant, ephemeral)).isFalse();

    // The Project goes with its tenant and root branch.
    client().resources(Project.class).inNamespace(ns).withName("del").delete();
    await().atMost(WAIT).until(() -> get(Project.class, ns, "del") == null && get(Branch.class, ns, "del-main") == null);
    assertThat(tenants()).noneMatch(t -> t.tenantId().toString().equals(tenant));
  }

  /** What the storage engine cannot do yet is said on the object, not faked. */
  @Test
  void aBranchAtATimestampSaysTheStorageEngineCannotResolveItYet() {
    String ns = "timestamps";
    namespace(ns);
    project(ns, "ts", List.of());
    awaitProjectReady(ns, "ts");
    var spec = new BranchSpec();
    spec.setProjectRef("ts");
    spec.setParentTimestamp(java.time.OffsetDateTime.parse("2026-11-29T10:00:00Z"));
    var b = new Branch();
    b.getMetadata().setName("ts-then");
    b.getMetadata().setNamespace(ns);
    b.setSpec(spec);
    client().resource(b).create();
    await().atMost(WAIT).untilAsserted(() -> {
      Branch then = get(Branch.class, ns, "ts-then");
      assertThat(condition(then, Condition.STALLED)).isNotNull().satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getReason()).isEqualTo("ParentTimestampNotSupported");
        assertThat(c.getMessage()).contains("spec.parentLsn");
      });
      assertThat(condition(then, Condition.READY)).isNotNull().extracting(Condition::getStatus).isEqualTo("False");
      assertThat(then.getStatus().getTimelineId()).isNull();
    });
  }

  /**
   * A Project may ask only for a PostgreSQL major the compute image carries (arbor.postgres.available-versions,
   * 15 here): another one is Stalled with a message naming the field and the choices, and nothing is created
   * for it in the storage engine. Such a Project can still be deleted.
   */
  @Test
  void aProjectOfAVersionTheImageDoesNotCarryIsStalledAndCreatesNothing() throws Exception {
    String ns = "versions";
    namespace(ns);
    var spec = new ProjectSpec();
    spec.setPostgresVersion(16);
    var p = new Project();
    p.getMetadata().setName("sixteen");
    p.getMetadata().setNamespace(ns);
    p.setSpec(spec);
    Project created = client().resource(p).create();
    await().atMost(WAIT).untilAsserted(() -> {
      Project sixteen = get(Project.class, ns, "sixteen");
      assertThat(condition(sixteen, Condition.STALLED)).isNotNull().satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getReason()).isEqualTo("PostgresVersionUnavailable");
        assertThat(c.getMessage()).isEqualTo("spec.postgresVersion 16 is not available in this installation: its compute image "
            + "carries PostgreSQL 15; set spec.postgresVersion to 15 or leave it out");
      });
      assertThat(condition(sixteen, Condition.READY)).extracting(Condition::getStatus).isEqualTo("False");
      assertThat(sixteen.getStatus().getTenantId()).isNull();
      assertThat(sixteen.getStatus().getPostgresVersion()).isNull();
    });
    String tenantId = created.getMetadata().getUid().replace("-", "");
    assertThat(tenants()).noneMatch(t -> t.tenantId().toString().equals(tenantId));
    assertThat(client().resources(Branch.class).inNamespace(ns).list().getItems()).isEmpty();
    assertThat(client().secrets().inNamespace(ns).withName("sixteen-role-passwords").get()).isNull();

    client().resources(Project.class).inNamespace(ns).withName("sixteen").delete();
    await().atMost(WAIT).until(() -> get(Project.class, ns, "sixteen") == null);
  }

  /** An operator whose default version the compute image does not carry refuses to start, saying so in one line. */
  @Test
  void anOperatorWhoseDefaultVersionIsNotAvailableRefusesToStart() throws Exception {
    assertThat(refusedStartLine(Map.of("ARBOR_POSTGRES_DEFAULT_VERSION", "15", "ARBOR_POSTGRES_AVAILABLE_VERSIONS", "16,17"),
        "arbor.postgres.default-version"))
        .isEqualTo("arbor.postgres.default-version (ARBOR_POSTGRES_DEFAULT_VERSION) 15 is not among arbor.postgres.available-versions "
            + "(ARBOR_POSTGRES_AVAILABLE_VERSIONS) 16,17, the PostgreSQL majors of the compute image: set the default to 16 or 17, "
            + "or list 15 as available if the image carries it");
  }

  /**
   * The operator is killed (SIGKILL) after it created the tenant and timelines and before it could record
   * anything more; the statuses it wrote are wiped while it is down, as if those writes had been lost. A new
   * operator converges to the same tenant and timelines: none is created twice.
   */
  @Test
  void aRestartedOperatorConvergesWithoutDuplicateTenantsOrTimelines() throws Exception {
    String ns = "restart";
    namespace(ns);
    int tenantsBefore = tenants().size();
    project(ns, "rs", List.of(new Role("app")));
    branch(ns, "rs-x", "rs", null, false);
    branch(ns, "rs-y", "rs", "rs-x", false);
    // Mid-way: the tenant exists in the storage engine; the branches may or may not have their timelines yet.
    // (Listing tenants can fail while one is being written, hence the ignored ApiProblem.)
    await().atMost(WAIT).pollInterval(Duration.ofMillis(50)).ignoreExceptionsInstanceOf(ApiProblem.class)
        .until(() -> tenants().size() > tenantsBefore);
    operator.kill();

    for (Class<? extends CustomResource<?, ?>> type : List.of(Project.class, Branch.class)) {
      for (var item : client().resources(type).inNamespace(ns).list().getItems()) {
        var lean = client().resources(type).inNamespace(ns).withName(item.getMetadata().getName()).get();
        lean.getMetadata().setResourceVersion(null);
        lean.setStatus(null);
        client().resource(lean).updateStatus();
      }
    }
    operator = startOperator();

    awaitProjectReady(ns, "rs");
    Branch x = awaitBranchReady(ns, "rs-x");
    Branch y = awaitBranchReady(ns, "rs-y");
    Branch root = awaitBranchReady(ns, "rs-main");
    String tenant = get(Project.class, ns, "rs").getStatus().getTenantId();
    assertThat(tenants()).hasSize(tenantsBefore + 1).anyMatch(t -> t.tenantId().toString().equals(tenant));
    assertThat(timelines(tenant)).extracting(t -> t.timelineId().toString()).containsExactlyInAnyOrder(
        root.getStatus().getTimelineId(), x.getStatus().getTimelineId(), y.getStatus().getTimelineId());
    assertThat(timeline(tenant, y.getStatus().getTimelineId()).ancestorTimelineId().toString()).isEqualTo(x.getStatus().getTimelineId());
    assertThat(client().resources(Branch.class).inNamespace(ns).list().getItems()).hasSize(3);
    // Leader election: the operator holds its Lease.
    var lease = client().leases().inNamespace("default").withName("arbor-operator").get();
    assertThat(lease).isNotNull();
    assertThat(lease.getSpec().getHolderIdentity()).isNotBlank();
  }

  /** A storage engine that is down shows on the objects (and is retried); once it is back, they become Ready. */
  @Test
  void aStorageEngineThatIsDownIsAConditionNotACrash() throws Exception {
    String ns = "outage";
    namespace(ns);
    storage.killPageserver();
    try {
      project(ns, "down", List.of());
      await().atMost(WAIT).untilAsserted(() -> {
        Project p = get(Project.class, ns, "down");
        assertThat(condition(p, Condition.READY)).isNotNull().satisfies(c -> {
          assertThat(c.getStatus()).isEqualTo("False");
          assertThat(c.getReason()).isEqualTo("StorageEngineUnavailable");
          assertThat(c.getMessage()).contains(storage.pageserverManagementUrl(), "arbor.storage-engine.pageserver-management-url");
        });
      });
    } finally {
      storage.startPageserver();
    }
    awaitProjectReady(ns, "down");
    assertThat(operator.get("/q/health/live")).contains("UP");
    // JOSDK's reconciliation metrics, failures included, per controller.
    assertThat(operator.get("/q/metrics")).contains("reconciliations_started_total", "reconciliations_failure_total", "project");
  }

  /**
   * The Endpoint's phase follows its StatefulSet: Starting until the StatefulSet controller reports the current
   * template rolled out with a ready replica (reported by hand here, as that controller would: there is no
   * controller-manager), Running then, and Suspended — Ready, with no replica — when spec.suspended is set.
   */
  @Test
  void anEndpointIsStartingRunningOrSuspendedAsItsStatefulSetIs() {
    String ns = "phases";
    namespace(ns);
    project(ns, "ph", List.of(loginRole("app")));
    awaitProjectReady(ns, "ph");
    endpoint(ns, "ph-rw", "ph-main");
    await().atMost(WAIT).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, "ph-rw");
      assertThat(e.getStatus()).isNotNull();
      assertThat(e.getStatus().getPhase()).hasToString("Starting");
      assertThat(condition(e, Condition.READY)).isNotNull().extracting(Condition::getStatus).isEqualTo("False");
      assertThat(isTrue(e, Condition.RECONCILING)).isTrue();
    });
    Map<String, String> secret = secretData(ns, "ph-rw-connection");
    assertThat(secret).containsEntry("user", "app").containsEntry("dbname", "postgres");
    assertThat(secret.get("password")).isEqualTo(secretData(ns, "ph-role-passwords").get("app"));

    var sts = client().apps().statefulSets().inNamespace(ns).withName("ph-rw");
    sts.editStatus(s -> {
      String revision = "ph-rw-" + s.getMetadata().getGeneration();
      s.setStatus(new io.fabric8.kubernetes.api.model.apps.StatefulSetStatusBuilder()
          .withObservedGeneration(s.getMetadata().getGeneration()).withReplicas(1).withReadyReplicas(1)
          .withAvailableReplicas(1).withCurrentReplicas(1).withUpdatedReplicas(1)
          .withCurrentRevision(revision).withUpdateRevision(revision).build());
      return s;
    });
    await().atMost(WAIT).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, "ph-rw");
      assertThat(e.getStatus().getPhase()).hasToString("Running");
      assertThat(condition(e, Condition.READY)).extracting(Condition::getStatus, Condition::getReason).containsExactly("True", "Running");
    });

    client().resources(Endpoint.class).inNamespace(ns).withName("ph-rw").edit(e -> {
      e.getSpec().setSuspended(true);
      return e;
    });
    await().atMost(WAIT).untilAsserted(() -> {
      assertThat(sts.get().getSpec().getReplicas()).isZero();
      Endpoint e = get(Endpoint.class, ns, "ph-rw");
      assertThat(e.getStatus().getPhase()).hasToString("Suspended");
      assertThat(condition(e, Condition.READY)).extracting(Condition::getStatus, Condition::getReason).containsExactly("True", "Suspended");
      assertThat(e.getStatus().getObservedGeneration()).isEqualTo(e.getMetadata().getGeneration());
    });
    // The password a compute sets stays the same across reconciles and restarts of the compute.
    assertThat(secretData(ns, "ph-rw-connection").get("password")).isEqualTo(secret.get("password"));

    // A parameter the compute agent owns is refused on the Endpoint, naming the field; no compute is made.
    var spec = new EndpointSpec();
    spec.setBranchRef("ph-main");
    spec.setMode(dev.arbor.crds.v1alpha1.EndpointMode.ReadOnly);
    spec.setLsn(get(Branch.class, ns, "ph-main").getStatus().getHeadLsn());
    spec.setPostgresParameters(Map.of("listen_addresses", "*"));
    var bad = new Endpoint();
    bad.getMetadata().setName("ph-bad");
    bad.getMetadata().setNamespace(ns);
    bad.setSpec(spec);
    client().resource(bad).create();
    await().atMost(WAIT).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, "ph-bad");
      assertThat(condition(e, Condition.STALLED)).isNotNull().satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getReason()).isEqualTo("InvalidComputeSpec");
        assertThat(c.getMessage()).contains("spec.postgresParameters.listen_addresses", "remove it");
      });
    });
    assertThat(client().apps().statefulSets().inNamespace(ns).withName("ph-bad").get()).isNull();
  }
}
