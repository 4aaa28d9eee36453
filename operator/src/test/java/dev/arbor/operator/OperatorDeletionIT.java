package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.testing.AgentProcess;
import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.BranchSpec;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Database;
import dev.arbor.crds.v1alpha1.DeletionPolicy;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.crds.v1alpha1.ProjectSpec;
import dev.arbor.crds.v1alpha1.Role;
import dev.arbor.testing.TempDirectory;
import io.fabric8.kubernetes.client.CustomResource;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What deleting Arbor objects does to their storage, and the ways out of a stuck or lost state: deletion holds
 * (a protected root branch, Endpoints still running), deletionPolicy Retain, the skip-storage-cleanup escape hatch
 * for a storage engine that is gone, the root Branch deleted or declared by hand, a lost role-passwords Secret, and
 * disaster recovery by adopting a tenant and timeline by id. Same fixture as OperatorIT (OperatorTestBase).
 */
class OperatorDeletionIT extends OperatorTestBase {

  /**
   * Deleting a Project deletes its tenant with every timeline, the root's included: a protected root Branch holds
   * that (Stalled RootBranchProtected, tenant untouched) until it is unprotected.
   */
  @Test
  void aProtectedRootBranchHoldsTheProjectsDeletion() throws Exception {
    String ns = "del-protected";
    namespace(ns);
    project(ns, "pr", List.of());
    String tenant = awaitProjectReady(ns, "pr").getStatus().getTenantId();
    awaitBranchReady(ns, "pr-main");
    client().resources(Branch.class).inNamespace(ns).withName("pr-main").edit(b -> {
      b.getSpec().setProtected(true);
      return b;
    });
    client().resources(Project.class).inNamespace(ns).withName("pr").delete();
    awaitStalled(Project.class, ns, "pr", "RootBranchProtected", "pr-main", "spec.protected");
    // One more cleanup pass (a Branch event wakes the Project), and still nothing is deleted.
    client().resources(Branch.class).inNamespace(ns).withName("pr-main").edit(b -> {
      b.getMetadata().getLabels().put("touched", "yes");
      return b;
    });
    Thread.sleep(3000);
    assertThat(get(Project.class, ns, "pr")).isNotNull();
    assertThat(tenant(tenant).tenantId().toString()).isEqualTo(tenant);

    client().resources(Branch.class).inNamespace(ns).withName("pr-main").edit(b -> {
      b.getSpec().setProtected(false);
      return b;
    });
    await().atMost(WAIT).until(() -> get(Project.class, ns, "pr") == null && get(Branch.class, ns, "pr-main") == null);
    assertThat(tenants()).noneMatch(t -> t.tenantId().toString().equals(tenant));
  }

  /** With deletionPolicy Retain a Branch and a Project go and their timeline and tenant stay, said in an Event. */
  @Test
  void retainLetsTheObjectsGoAndKeepsTheirStorage() throws Exception {
    String ns = "del-retain";
    namespace(ns);
    var spec = new ProjectSpec();
    spec.setDeletionPolicy(DeletionPolicy.Retain);
    var keep = new Project();
    keep.getMetadata().setName("rt");
    keep.getMetadata().setNamespace(ns);
    keep.setSpec(spec);
    client().resource(keep).create();
    String kept = awaitProjectReady(ns, "rt").getStatus().getTenantId();
    var branchSpec = new BranchSpec();
    branchSpec.setProjectRef("rt");
    branchSpec.setDeletionPolicy(DeletionPolicy.Retain);
    var b = new Branch();
    b.getMetadata().setName("rt-b");
    b.getMetadata().setNamespace(ns);
    b.setSpec(branchSpec);
    client().resource(b).create();
    String keptTimeline = awaitBranchReady(ns, "rt-b").getStatus().getTimelineId();
    client().resources(Branch.class).inNamespace(ns).withName("rt-b").delete();
    await().atMost(WAIT).until(() -> get(Branch.class, ns, "rt-b") == null);
    assertThat(timelineExists(kept, keptTimeline)).isTrue();
    client().resources(Project.class).inNamespace(ns).withName("rt").delete();
    await().atMost(WAIT).until(() -> get(Project.class, ns, "rt") == null);
    assertThat(timelines(kept)).extracting(t -> t.timelineId().toString()).contains(keptTimeline);
    assertThat(client().v1().events().inNamespace(ns).list().getItems()).filteredOn(e -> "StorageRetained".equals(e.getReason()))
        .extracting(e -> e.getMessage()).anyMatch(m -> m.contains(keptTimeline)).anyMatch(m -> m.contains(kept));
  }

  /**
   * Deleting the root Branch deletes only the object (the root timeline is the tenant's): the Project makes it again,
   * on the same timeline, and new Branches from it work.
   */
  @Test
  void aDeletedRootBranchComesBackOnTheSameTimeline() throws Exception {
    String ns = "del-root";
    namespace(ns);
    project(ns, "rb", List.of(loginRole("app")));
    Project rb = awaitProjectReady(ns, "rb");
    Branch before = awaitBranchReady(ns, "rb-main");
    String rootTimeline = tenant(rb.getStatus().getTenantId()).rootTimelineId().toString();
    endpoint(ns, "rb-rw", "rb-main");
    await().atMost(WAIT).untilAsserted(() -> assertThat(get(Endpoint.class, ns, "rb-rw").getStatus()).isNotNull()
        .extracting(s -> s.getTimelineId()).isEqualTo(rootTimeline));
    client().resources(Branch.class).inNamespace(ns).withName("rb-main").delete();
    await().atMost(WAIT).untilAsserted(() -> {
      Branch again = get(Branch.class, ns, "rb-main");
      assertThat(again).isNotNull();
      assertThat(again.getMetadata().getUid()).isNotEqualTo(before.getMetadata().getUid());
      assertThat(isTrue(again, Condition.READY)).isTrue();
      assertThat(again.getStatus().getTimelineId()).isEqualTo(rootTimeline);
    });
    awaitProjectReady(ns, "rb");
    // The Endpoint on main serves on: same timeline, same data, although the Branch object is new.
    client().resources(Endpoint.class).inNamespace(ns).withName("rb-rw").edit(e -> {
      e.getSpec().setSuspended(true);
      return e;
    });
    await().atMost(WAIT).untilAsserted(() -> {
      assertThat(client().apps().statefulSets().inNamespace(ns).withName("rb-rw").get().getSpec().getReplicas()).isZero();
      assertThat(isTrue(get(Endpoint.class, ns, "rb-rw"), Condition.STALLED)).as("rb-rw Stalled").isFalse();
    });
    branch(ns, "rb-x", "rb", null, false);
    String x = awaitBranchReady(ns, "rb-x").getStatus().getTimelineId();
    assertThat(timeline(rb.getStatus().getTenantId(), x).ancestorTimelineId().toString()).isEqualTo(rootTimeline);
  }

  /**
   * A root Branch declared before its Project (as Git may apply it) is adopted; a Branch of another Project in the way
   * is a clear Stalled RootBranchNameTaken, released when it goes.
   */
  @Test
  void aDeclaredRootBranchIsAdoptedAndAnotherProjectsIsNamed() throws Exception {
    String ns = "del-declared";
    namespace(ns);
    project(ns, "rb", List.of());
    awaitProjectReady(ns, "rb");
    branch(ns, "dc-main", "dc", null, false);
    project(ns, "dc", List.of());
    Project dc = awaitProjectReady(ns, "dc");
    Branch declared = awaitBranchReady(ns, "dc-main");
    assertThat(declared.getMetadata().getOwnerReferences()).singleElement().satisfies(o -> {
      assertThat(o.getUid()).isEqualTo(dc.getMetadata().getUid());
      assertThat(o.getController()).isTrue();
    });
    assertThat(declared.getStatus().getTimelineId()).isEqualTo(tenant(dc.getStatus().getTenantId()).rootTimelineId().toString());

    // Another Project's Branch has the name: said on the Project, and released once that Branch is gone.
    branch(ns, "nt-main", "rb", null, false);
    awaitBranchReady(ns, "nt-main");
    project(ns, "nt", List.of());
    awaitStalled(Project.class, ns, "nt", "RootBranchNameTaken", "nt-main", "belongs to Project rb");
    client().resources(Branch.class).inNamespace(ns).withName("nt-main").delete();
    awaitProjectReady(ns, "nt");
    assertThat(get(Branch.class, ns, "nt-main").getSpec().getProjectRef()).isEqualTo("nt");
  }

  /**
   * A Branch whose timeline cannot be deleted because the storage engine is down says so (Ready False,
   * StorageEngineUnavailable, naming the escape annotation) instead of keeping a stale Ready=True; with
   * arbor.dev/skip-storage-cleanup it goes and its timeline is left as it is.
   */
  @Test
  void aFailingCleanupIsVisibleAndTheEscapeAnnotationLetsTheBranchGo() throws Exception {
    String ns = "del-escape";
    namespace(ns);
    project(ns, "sc", List.of());
    String tenant = awaitProjectReady(ns, "sc").getStatus().getTenantId();
    branch(ns, "sc-b", "sc", null, false);
    String timeline = awaitBranchReady(ns, "sc-b").getStatus().getTimelineId();
    storage.killPageserver();
    try {
      client().resources(Branch.class).inNamespace(ns).withName("sc-b").delete();
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        Branch b = get(Branch.class, ns, "sc-b");
        assertThat(condition(b, Condition.READY)).isNotNull().satisfies(c -> {
          assertThat(c.getStatus()).isEqualTo("False");
          assertThat(c.getReason()).isEqualTo("StorageEngineUnavailable");
          assertThat(c.getMessage()).contains(timeline, "arbor.dev/skip-storage-cleanup");
        });
      });
      client().resources(Branch.class).inNamespace(ns).withName("sc-b").edit(b -> {
        b.getMetadata().setAnnotations(new HashMap<>(Map.of("arbor.dev/skip-storage-cleanup", "true")));
        return b;
      });
      await().atMost(WAIT).until(() -> get(Branch.class, ns, "sc-b") == null);
    } finally {
      storage.startPageserver();
    }
    assertThat(timelineExists(tenant, timeline)).isTrue();
    assertThat(client().v1().events().inNamespace(ns).list().getItems()).filteredOn(e -> "StorageLeft".equals(e.getReason()))
        .singleElement().satisfies(e -> assertThat(e.getMessage()).contains(timeline, tenant));
  }

  /**
   * The same for a Project: its tenant cannot be deleted while the storage engine is down, which the Project says
   * (Ready False, StorageEngineUnavailable, naming the escape annotation); annotated, it goes at once (its annotations
   * are watched) and its tenant is left as it is.
   */
  @Test
  void aFailingProjectCleanupIsVisibleAndTheEscapeAnnotationLetsTheProjectGo() throws Exception {
    String ns = "del-escape-project";
    namespace(ns);
    project(ns, "sp", List.of());
    String tenant = awaitProjectReady(ns, "sp").getStatus().getTenantId();
    awaitBranchReady(ns, "sp-main");
    storage.killPageserver();
    try {
      client().resources(Project.class).inNamespace(ns).withName("sp").delete();
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        Project p = get(Project.class, ns, "sp");
        assertThat(condition(p, Condition.READY)).isNotNull().satisfies(c -> {
          assertThat(c.getStatus()).isEqualTo("False");
          assertThat(c.getReason()).isEqualTo("StorageEngineUnavailable");
          assertThat(c.getMessage()).contains(tenant, "arbor.dev/skip-storage-cleanup");
        });
      });
      client().resources(Project.class).inNamespace(ns).withName("sp").edit(p -> {
        p.getMetadata().setAnnotations(new HashMap<>(Map.of("arbor.dev/skip-storage-cleanup", "true")));
        return p;
      });
      await().atMost(Duration.ofSeconds(10)).until(() -> get(Project.class, ns, "sp") == null);
    } finally {
      storage.startPageserver();
    }
    assertThat(tenant(tenant).tenantId().toString()).isEqualTo(tenant);
    assertThat(client().v1().events().inNamespace(ns).list().getItems()).filteredOn(e -> "StorageLeft".equals(e.getReason()))
        .singleElement().satisfies(e -> assertThat(e.getMessage()).contains(tenant));
  }

  /**
   * A Branch applied after its spec.expiresAt (GitOps re-applying an old manifest) is deleted before it gets a timeline.
   * Protected, it stays held in deletion, and meanwhile the pageserver lists no timeline for it; unprotected, it goes as
   * expired Branches do.
   */
  @Test
  void aBranchAppliedAfterItsExpiryGetsNoTimelineAndGoes() throws Exception {
    String ns = "del-expired";
    namespace(ns);
    project(ns, "ex", List.of());
    String tenant = awaitProjectReady(ns, "ex").getStatus().getTenantId();
    String root = awaitBranchReady(ns, "ex-main").getStatus().getTimelineId();
    var spec = new BranchSpec();
    spec.setProjectRef("ex");
    spec.setExpiresAt(OffsetDateTime.now(ZoneOffset.UTC).minusHours(1));
    spec.setProtected(true);
    var late = new Branch();
    late.getMetadata().setName("ex-late");
    late.getMetadata().setNamespace(ns);
    late.setSpec(spec);
    client().resource(late).create();
    awaitStalled(Branch.class, ns, "ex-late", "Protected", "spec.protected");
    assertThat(get(Branch.class, ns, "ex-late").getStatus().getTimelineId()).isNull();
    assertThat(timelines(tenant)).extracting(t -> t.timelineId().toString()).containsExactly(root);
    client().resources(Branch.class).inNamespace(ns).withName("ex-late").edit(b -> {
      b.getSpec().setProtected(false);
      return b;
    });
    await().atMost(WAIT).until(() -> get(Branch.class, ns, "ex-late") == null);
    assertThat(timelines(tenant)).extracting(t -> t.timelineId().toString()).containsExactly(root);
    var reasons = client().v1().events().inNamespace(ns).list().getItems().stream()
        .filter(e -> "ex-late".equals(e.getInvolvedObject().getName())).map(e -> e.getReason()).toList();
    assertThat(reasons).contains("Expired").doesNotContain("TimelineCreated");
  }

  /**
   * A Branch with an Endpoint on it stays (Stalled HasEndpoints, timeline kept) until the Endpoint is gone, then goes
   * with its timeline; a Project waits for the Endpoints on its root branch the same way.
   */
  @Test
  void branchesAndProjectsWaitForTheirEndpoints() throws Exception {
    String ns = "del-endpoints";
    namespace(ns);
    project(ns, "ep", List.of(loginRole("app")));
    String tenant = awaitProjectReady(ns, "ep").getStatus().getTenantId();
    branch(ns, "ep-b", "ep", null, false);
    String timeline = awaitBranchReady(ns, "ep-b").getStatus().getTimelineId();
    endpoint(ns, "ep-e", "ep-b");
    endpoint(ns, "ep-r", "ep-main");
    client().resources(Branch.class).inNamespace(ns).withName("ep-b").delete();
    awaitStalled(Branch.class, ns, "ep-b", "HasEndpoints", "[ep-e]", "delete them first");
    assertThat(timelineExists(tenant, timeline)).isTrue();
    client().resources(Endpoint.class).inNamespace(ns).withName("ep-e").delete();
    await().atMost(WAIT).until(() -> get(Branch.class, ns, "ep-b") == null);
    assertThat(timelineExists(tenant, timeline)).isFalse();

    client().resources(Project.class).inNamespace(ns).withName("ep").delete();
    awaitStalled(Project.class, ns, "ep", "HasBranches", "Endpoints [ep-r]", "ep-main");
    assertThat(tenant(tenant).tenantId().toString()).isEqualTo(tenant);
    client().resources(Endpoint.class).inNamespace(ns).withName("ep-r").delete();
    await().atMost(WAIT).until(() -> get(Project.class, ns, "ep") == null);
    assertThat(tenants()).noneMatch(t -> t.tenantId().toString().equals(tenant));
  }

  /** Adding a role adds its key to the role-passwords Secret and keeps the other passwords and what others put on it. */
  @Test
  void aNewRolesPasswordKeepsWhatOthersPutOnTheSecret() {
    String ns = "del-new-role";
    namespace(ns);
    project(ns, "pw", List.of(loginRole("app")));
    awaitProjectReady(ns, "pw");
    String secret = "pw-role-passwords";
    String app = secretData(ns, secret).get("app");
    client().secrets().inNamespace(ns).withName(secret).edit(s -> {
      s.getMetadata().setAnnotations(new HashMap<>(Map.of("reflector.example.com/reflects", "yes")));
      return s;
    });
    client().resources(Project.class).inNamespace(ns).withName("pw").edit(p -> {
      p.getSpec().setRoles(List.of(loginRole("app"), new Role("report")));
      return p;
    });
    await().atMost(WAIT).until(() -> secretData(ns, secret).containsKey("report"));
    assertThat(secretData(ns, secret)).containsEntry("app", app);
    assertThat(client().secrets().inNamespace(ns).withName(secret).get().getMetadata().getAnnotations())
        .containsEntry("reflector.example.com/reflects", "yes");
  }

  /**
   * Role passwords are never made again silently: a deleted role-passwords Secret is Stalled RolePasswordsLost and
   * nothing is regenerated until a person annotates the Project, which is honoured once.
   */
  @Test
  void aLostRolePasswordsSecretIsStalledUntilAPersonAcceptsNewPasswords() throws Exception {
    String ns = "del-passwords";
    namespace(ns);
    project(ns, "pw", List.of(loginRole("app"), new Role("report")));
    awaitProjectReady(ns, "pw");
    String secret = "pw-role-passwords";
    String app = secretData(ns, secret).get("app");
    client().secrets().inNamespace(ns).withName(secret).delete();
    awaitStalled(Project.class, ns, "pw", "RolePasswordsLost", secret, "restore it", "arbor.dev/regenerate-role-passwords");
    Thread.sleep(2000);
    assertThat(client().secrets().inNamespace(ns).withName(secret).get()).isNull();

    client().resources(Project.class).inNamespace(ns).withName("pw").edit(p -> {
      p.getMetadata().setAnnotations(new HashMap<>(Map.of("arbor.dev/regenerate-role-passwords", "true")));
      return p;
    });
    awaitProjectReady(ns, "pw");
    Map<String, String> regenerated = secretData(ns, secret);
    assertThat(regenerated).containsOnlyKeys("app", "report");
    assertThat(regenerated.get("app")).isNotEqualTo(app);
    await().atMost(WAIT).untilAsserted(() -> assertThat(get(Project.class, ns, "pw").getMetadata().getAnnotations())
        .doesNotContainKey("arbor.dev/regenerate-role-passwords"));
    assertThat(client().v1().events().inNamespace(ns).list().getItems()).extracting(e -> e.getReason())
        .contains("RolePasswordsLost", "RolePasswordsRegenerated");
  }

  /**
   * Disaster recovery: a row is written on a Branch; the cluster's objects are lost (finalizers stripped while the
   * operator is down, the storage stays); the Project and Branch, re-applied in a new namespace with
   * arbor.dev/tenant-id and arbor.dev/timeline-id, adopt their tenant and timeline, and a new compute on the Branch
   * reads the row. An adoption of a tenant that does not exist, or that another Project uses, is refused.
   */
  @Test
  void aRestoredProjectAndBranchAdoptTheirStorageById() throws Exception {
    String ns = "dr-old";
    namespace(ns);
    adoptingProject(ns, "dr", null);
    String tenant = awaitProjectReady(ns, "dr").getStatus().getTenantId();
    branch(ns, "dr-b", "dr", null, false);
    Branch old = awaitBranchReady(ns, "dr-b");
    String timeline = old.getStatus().getTimelineId();
    endpoint(ns, "dr-e", "dr-b");
    await().atMost(WAIT).until(() -> client().apps().statefulSets().inNamespace(ns).withName("dr-e").get() != null);
    try (var pods = TempDirectory.create("arbor-dr-pods-")) {
      LocalPod pod = LocalPod.of(client(), ns, "dr-e", pods.resolve("dr-e-0"));
      try (AgentProcess agent = pod.start()) {
        agent.awaitRunning();
        try (Connection c = connect(pod, secretData(ns, "dr-e-connection")); Statement st = c.createStatement()) {
          st.execute("CREATE TABLE survivors (name text)");
          st.execute("INSERT INTO survivors VALUES ('the row')");
        }
        assertThat(agent.sigterm()).isZero();
      }

      // Refused adoptions: a tenant the storage engine does not have, and one another Project uses.
      String other = "dr-other";
      namespace(other);
      adoptingProject(other, "missing", "0123456789abcdef0123456789abcdef");
      awaitStalled(Project.class, other, "missing", "AdoptionTargetMissing", "arbor.dev/tenant-id", "0123456789abcdef0123456789abcdef");
      adoptingProject(other, "twin", tenant);
      awaitStalled(Project.class, other, "twin", "AdoptionTargetInUse", tenant, "dr-old/dr");

      // The cluster is lost: the objects go without their finalizers running; the storage stays.
      operator.kill();
      for (String n : List.of("twin", "missing")) {
        forget(Project.class, other, n);
      }
      client().resources(Endpoint.class).inNamespace(ns).withName("dr-e").delete();
      forget(Branch.class, ns, "dr-b");
      forget(Branch.class, ns, "dr-main");
      forget(Project.class, ns, "dr");
      operator = startOperator();
      assertThat(timelineExists(tenant, timeline)).isTrue();

      String restored = "dr-new";
      namespace(restored);
      adoptingProject(restored, "dr", tenant);
      var spec = new BranchSpec();
      spec.setProjectRef("dr");
      var b = new Branch();
      b.getMetadata().setName("dr-b");
      b.getMetadata().setNamespace(restored);
      b.getMetadata().setAnnotations(Map.of("arbor.dev/timeline-id", timeline));
      b.setSpec(spec);
      client().resource(b).create();
      assertThat(awaitProjectReady(restored, "dr").getStatus().getTenantId()).isEqualTo(tenant);
      Branch adopted = awaitBranchReady(restored, "dr-b");
      assertThat(adopted.getStatus().getTimelineId()).isEqualTo(timeline);
      assertThat(adopted.getStatus().getLsn()).isEqualTo(old.getStatus().getLsn());
      assertThat(timelines(tenant)).hasSize(2);

      endpoint(restored, "dr-e", "dr-b");
      await().atMost(WAIT).until(() -> client().apps().statefulSets().inNamespace(restored).withName("dr-e").get() != null);
      LocalPod again = LocalPod.of(client(), restored, "dr-e", pods.resolve("dr-e-restored-0"));
      try (AgentProcess agent = again.start()) {
        assertThat(agent.awaitRunning().timeline().toString()).isEqualTo(timeline);
        try (Connection c = connect(again, secretData(restored, "dr-e-connection")); Statement st = c.createStatement()) {
          assertThat(one(st, "SELECT name FROM survivors")).isEqualTo("the row");
        }
        assertThat(agent.sigterm()).isZero();
      }
    }
  }

  /** A Project with a role app that owns database app (the public schema of postgres is not writable for it), adopting
   * {@code tenant} unless it is null. */
  private static void adoptingProject(String ns, String name, String tenant) {
    var p = new Project();
    p.getMetadata().setName(name);
    p.getMetadata().setNamespace(ns);
    if (tenant != null) {
      p.getMetadata().setAnnotations(Map.of("arbor.dev/tenant-id", tenant));
    }
    p.setSpec(new ProjectSpec());
    p.getSpec().setRoles(List.of(loginRole("app")));
    p.getSpec().setDatabases(List.of(new Database("app", "app")));
    client().resource(p).create();
  }

  /** Deletes an object without its finalizer running, as a lost cluster does. */
  private static <T extends CustomResource<?, ?>> void forget(Class<T> type, String ns, String name) {
    client().resources(type).inNamespace(ns).withName(name).edit(o -> {
      o.getMetadata().setFinalizers(List.of());
      return o;
    });
    client().resources(type).inNamespace(ns).withName(name).delete();
    await().atMost(WAIT).until(() -> client().resources(type).inNamespace(ns).withName(name).get() == null);
  }

  private static <T extends CustomResource<?, ? extends dev.arbor.crds.v1alpha1.ArborStatus>> void awaitStalled(Class<T> type, String ns,
      String name, String reason, String... message) {
    await().atMost(WAIT).untilAsserted(() -> {
      T o = get(type, ns, name);
      assertThat(o).as("%s %s", type.getSimpleName(), name).isNotNull();
      assertThat(condition(o, Condition.STALLED)).as("%s %s Stalled; now %s", type.getSimpleName(), name,
          o.getStatus() == null ? null : o.getStatus().getConditions()).isNotNull().satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("True");
            assertThat(c.getReason()).isEqualTo(reason);
            assertThat(c.getMessage()).contains(message);
          });
    });
  }
}
