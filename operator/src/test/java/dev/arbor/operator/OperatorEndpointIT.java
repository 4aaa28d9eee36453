package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointMode;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import dev.arbor.crds.v1alpha1.EndpointSpec;
import dev.arbor.crds.v1alpha1.EndpointWake;
import dev.arbor.client.Json;
import dev.arbor.testing.AgentProcess;
import dev.arbor.testing.TempDirectory;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.apps.StatefulSetStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The Endpoint's compute against what happens around it: objects of its names that are not its own, a Branch
 * held in deletion or created again under the same name, a second writer, a rollout that has not finished, a
 * crash-looping pod, a changed role password, and a change of the operator's own configuration. Same fixture as
 * OperatorIT (OperatorTestBase): no kubelet or controller-manager, so StatefulSet and Pod statuses are written by
 * hand here, as those controllers would write them.
 */
class OperatorEndpointIT extends OperatorTestBase {
  private static final String SPEC_ENV = "ARBOR_COMPUTE_SPEC";

  /**
   * A Service and a Secret that already have the Endpoint's names, and are not its own, are left as they are:
   * the Endpoint is Stalled NameTaken naming both, no compute is made, and nothing of theirs points at the
   * Endpoint (so garbage collection will not take them with it).
   */
  @Test
  void anEndpointWhoseNamesAreTakenLeavesThoseObjectsAloneAndSaysSo() {
    String ns = "taken";
    projectIn(ns, "tk");
    client().services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName("db").endMetadata()
        .withNewSpec().withSelector(Map.of("app", "legacy")).addNewPort().withPort(5432).endPort().endSpec().build()).create();
    client().secrets().inNamespace(ns).resource(new SecretBuilder().withNewMetadata().withName("db-connection").endMetadata()
        .withData(Map.of("k", b64("v"))).build()).create();

    endpoint(ns, "db", "tk-main");
    await().atMost(WAIT).untilAsserted(() -> {
      Condition stalled = condition(get(Endpoint.class, ns, "db"), Condition.STALLED);
      assertThat(stalled).isNotNull();
      assertThat(stalled.getStatus()).isEqualTo("True");
      assertThat(stalled.getReason()).isEqualTo("NameTaken");
      assertThat(stalled.getMessage()).contains("Service db", "Secret db-connection", "Rename the Endpoint", "remove");
    });
    assertUntouched(ns);
    assertThat(client().apps().statefulSets().inNamespace(ns).withName("db").get()).isNull();

    client().resources(Endpoint.class).inNamespace(ns).withName("db").delete();
    await().atMost(WAIT).until(() -> get(Endpoint.class, ns, "db") == null);
    assertUntouched(ns);
  }

  private static void assertUntouched(String ns) {
    var service = client().services().inNamespace(ns).withName("db").get();
    assertThat(service.getSpec().getSelector()).isEqualTo(Map.of("app", "legacy"));
    assertThat(service.getMetadata().getOwnerReferences()).isEmpty();
    var secret = client().secrets().inNamespace(ns).withName("db-connection").get();
    assertThat(secret.getData()).isEqualTo(Map.of("k", b64("v")));
    assertThat(secret.getMetadata().getOwnerReferences()).isEmpty();
  }

  /**
   * An Endpoint needs its Branch's timeline, not its Ready: with the Branch held in deletion (protected, so
   * Stalled), suspending and resuming the Endpoint still scales its compute.
   */
  @Test
  void anEndpointOfABranchHeldInDeletionStillTakesItsOwnChanges() {
    String ns = "held";
    projectIn(ns, "hd");
    branch(ns, "hd-b", "hd", null, true);
    awaitBranchReady(ns, "hd-b");
    endpoint(ns, "hd-rw", "hd-b");
    var sts = client().apps().statefulSets().inNamespace(ns).withName("hd-rw");
    await().atMost(WAIT).until(() -> sts.get() != null && sts.get().getSpec().getReplicas() == 1);

    client().resources(Branch.class).inNamespace(ns).withName("hd-b").delete();
    await().atMost(WAIT).untilAsserted(() -> {
      Branch held = get(Branch.class, ns, "hd-b");
      assertThat(held.getMetadata().getDeletionTimestamp()).isNotNull();
      assertThat(isTrue(held, Condition.STALLED)).as("the Branch is held: %s", held.getStatus().getConditions()).isTrue();
    });

    setSuspended(ns, "hd-rw", true);
    await().atMost(Duration.ofSeconds(30)).until(() -> sts.get().getSpec().getReplicas() == 0);
    setSuspended(ns, "hd-rw", false);
    await().atMost(Duration.ofSeconds(30)).until(() -> sts.get().getSpec().getReplicas() == 1);
  }

  /**
   * The Endpoint records the Branch it serves (UID and timeline). When that Branch is deleted and a new one is
   * created under the same name, the Endpoint does not move onto the new, empty timeline: it is Stalled
   * BranchReplaced naming the timeline its data is in, and its compute is scaled to zero, still naming that timeline.
   */
  @Test
  void anEndpointDoesNotServeABranchCreatedAgainUnderItsName() throws Exception {
    String ns = "rebind";
    projectIn(ns, "rb");
    branch(ns, "rb-b", "rb", null, false);
    Branch first = awaitBranchReady(ns, "rb-b");
    String oldTimeline = first.getStatus().getTimelineId();
    endpoint(ns, "rb-rw", "rb-b");
    var sts = client().apps().statefulSets().inNamespace(ns).withName("rb-rw");
    await().atMost(WAIT).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, "rb-rw");
      assertThat(e.getStatus()).isNotNull();
      assertThat(e.getStatus().getBranchUid()).isEqualTo(first.getMetadata().getUid());
      assertThat(e.getStatus().getTimelineId()).isEqualTo(oldTimeline);
      assertThat(sts.get()).isNotNull();
    });

    // Gone for good, whatever holds a deletion would apply: the finalizers are taken off by hand.
    client().resources(Branch.class).inNamespace(ns).withName("rb-b").delete();
    try {
      client().resources(Branch.class).inNamespace(ns).withName("rb-b")
          .patch(PatchContext.of(PatchType.JSON), "[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]");
    } catch (KubernetesClientException alreadyGoneOrNoFinalizers) {
      // the operator's finalizer went by itself
    }
    await().atMost(WAIT).until(() -> get(Branch.class, ns, "rb-b") == null);
    branch(ns, "rb-b", "rb", null, false);
    Branch second = awaitBranchReady(ns, "rb-b");
    assertThat(second.getStatus().getTimelineId()).isNotEqualTo(oldTimeline);

    await().atMost(WAIT).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, "rb-rw");
      assertThat(condition(e, Condition.STALLED)).isNotNull().satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getReason()).isEqualTo("BranchReplaced");
        assertThat(c.getMessage()).contains(oldTimeline, "delete and re-create the Endpoint");
      });
      assertThat(e.getStatus().getPhase()).hasToString("Failed");
      assertThat(sts.get().getSpec().getReplicas()).isZero();
    });
    assertThat(timelineOf(sts.get())).isEqualTo(oldTimeline);
    assertThat(get(Endpoint.class, ns, "rb-rw").getStatus().getTimelineId()).isEqualTo(oldTimeline);
  }

  /**
   * Of two ReadWrite Endpoints of a Branch the second waits (Stalled, naming the writer and that it runs); when the
   * writer is deleted the waiting one gets its compute within seconds, not at the next periodic reconcile. Three
   * rounds, to give the race between the informers a chance to show.
   */
  @Test
  void aWaitingWriterTakesOverWithinSecondsWhenTheWriterGoes() {
    String ns = "writers";
    projectIn(ns, "wr");
    for (int round = 1; round <= 3; round++) {
      String a = "a" + round;
      String b = "b" + round;
      endpoint(ns, a, "wr-main");
      awaitStatefulSet(ns, a);
      endpoint(ns, b, "wr-main");
      await().atMost(WAIT).untilAsserted(() -> {
        Condition stalled = condition(get(Endpoint.class, ns, b), Condition.STALLED);
        assertThat(stalled).isNotNull();
        assertThat(stalled.getReason()).isEqualTo("ReadWriteEndpointExists");
        assertThat(stalled.getMessage()).contains("Endpoint " + a + " is already", "holds the compute");
      });
      assertThat(client().apps().statefulSets().inNamespace(ns).withName(b).get()).isNull();

      client().resources(Endpoint.class).inNamespace(ns).withName(a).delete();
      await().atMost(Duration.ofSeconds(20)).alias("round " + round + ": " + b + " takes over")
          .until(() -> client().apps().statefulSets().inNamespace(ns).withName(b).get() != null);
      client().resources(Endpoint.class).inNamespace(ns).withName(b).delete();
      await().atMost(WAIT).until(() -> get(Endpoint.class, ns, b) == null);
    }

    // A suspended writer keeps its place; the one that waits is told it is suspended.
    endpoint(ns, "s1", "wr-main");
    awaitStatefulSet(ns, "s1");
    setSuspended(ns, "s1", true);
    endpoint(ns, "s2", "wr-main");
    await().atMost(WAIT).untilAsserted(() -> assertThat(condition(get(Endpoint.class, ns, "s2"), Condition.STALLED))
        .isNotNull().extracting(Condition::getMessage).asString().contains("Endpoint s1 is already", "is suspended"));
  }

  /**
   * An Endpoint cannot be pointed at a Branch whose writer runs: spec.branchRef is immutable, so the API server
   * refuses the edit (422) and the running writer keeps its compute. The election itself, that a running writer
   * keeps its place before an older Endpoint, is WriterElectionTest's.
   */
  @Test
  void anOlderEndpointCannotBePointedAtTheBranchOfARunningWriter() {
    String ns = "election";
    projectIn(ns, "el");
    endpoint(ns, "old", "el-main");
    branch(ns, "el-b", "el", null, false);
    awaitBranchReady(ns, "el-b");
    endpoint(ns, "prod", "el-b");
    var prod = client().apps().statefulSets().inNamespace(ns).withName("prod");
    await().atMost(WAIT).untilAsserted(() -> {
      assertThat(prod.get()).isNotNull();
      assertThat(get(Endpoint.class, ns, "prod").getStatus().getPhase()).hasToString("Starting");
      assertThat(client().apps().statefulSets().inNamespace(ns).withName("old").get()).isNotNull();
    });

    assertThatThrownBy(() -> client().resources(Endpoint.class).inNamespace(ns).withName("old")
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"branchRef\":\"el-b\"}}"))
        .isInstanceOfSatisfying(KubernetesClientException.class, refused -> {
          assertThat(refused.getCode()).isEqualTo(422);
          assertThat(refused.getMessage()).contains("spec.branchRef");
        });
    assertThat(get(Endpoint.class, ns, "old").getSpec().getBranchRef()).isEqualTo("el-main");
    await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(6)).untilAsserted(() -> {
      assertThat(prod.get()).as("prod's StatefulSet").isNotNull();
      assertThat(isTrue(get(Endpoint.class, ns, "prod"), Condition.STALLED)).isFalse();
    });
  }

  /**
   * The connection Secret and the Service are watched: deleted, each is made again within seconds, and a value of the
   * Secret someone else changed is put back, not left until the periodic reconcile (5 minutes).
   */
  @Test
  void aDeletedOrEditedConnectionSecretOrServiceIsRepairedWithinSeconds() {
    String ns = "repair";
    projectIn(ns, "rp");
    endpoint(ns, "rp-rw", "rp-main");
    awaitStatefulSet(ns, "rp-rw");
    var secret = client().secrets().inNamespace(ns).withName("rp-rw-connection");
    var service = client().services().inNamespace(ns).withName("rp-rw");
    await().atMost(WAIT).until(() -> secret.get() != null && service.get() != null);
    String host = secretData(ns, "rp-rw-connection").get("host");
    String secretUid = secret.get().getMetadata().getUid();
    String serviceUid = service.get().getMetadata().getUid();

    secret.withGracePeriod(0).delete();
    service.withGracePeriod(0).delete();
    await().atMost(Duration.ofSeconds(10)).alias("both made again").untilAsserted(() -> {
      assertThat(secret.get()).as("Secret rp-rw-connection").isNotNull()
          .extracting(s -> s.getMetadata().getUid()).isNotEqualTo(secretUid);
      assertThat(service.get()).as("Service rp-rw").isNotNull()
          .extracting(s -> s.getMetadata().getUid()).isNotEqualTo(serviceUid);
    });
    assertThat(secretData(ns, "rp-rw-connection").get("host")).isEqualTo(host);

    secret.edit(s -> {
      s.getData().put("host", b64("elsewhere.example"));
      return s;
    });
    await().atMost(Duration.ofSeconds(10)).alias("the edited host put back")
        .untilAsserted(() -> assertThat(secretData(ns, "rp-rw-connection").get("host")).isEqualTo(host));
  }

  /**
   * Ready means the current template is rolled out: after a spec change (a new StatefulSet generation) the
   * Endpoint is Reconciling RollingOut, not Ready, while the StatefulSet controller has not reported the
   * rollout of that generation, although the previous pod is still ready.
   */
  @Test
  void anEndpointIsReadyOnlyOnceTheRolloutOfItsCurrentTemplateHasFinished() {
    String ns = "rollout";
    projectIn(ns, "ro");
    endpoint(ns, "ro-rw", "ro-main");
    awaitStatefulSet(ns, "ro-rw");
    reportRolledOut(ns, "ro-rw");
    await().atMost(WAIT).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, "ro-rw");
      assertThat(e.getStatus().getPhase()).hasToString("Running");
      assertThat(condition(e, Condition.READY)).extracting(Condition::getStatus, Condition::getReason).containsExactly("True", "Running");
    });

    client().resources(Endpoint.class).inNamespace(ns).withName("ro-rw")
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"postgresParameters\":{\"work_mem\":\"8MB\"}}}");
    await().atMost(WAIT).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, "ro-rw");
      assertThat(e.getStatus().getObservedGeneration()).isEqualTo(e.getMetadata().getGeneration());
      assertThat(condition(e, Condition.READY)).extracting(Condition::getStatus, Condition::getReason)
          .containsExactly("False", "RollingOut");
      assertThat(isTrue(e, Condition.RECONCILING)).isTrue();
      assertThat(e.getStatus().getPhase()).hasToString("Starting");
    });
    reportRolledOut(ns, "ro-rw");
    await().atMost(WAIT).untilAsserted(() -> assertThat(condition(get(Endpoint.class, ns, "ro-rw"), Condition.READY))
        .extracting(Condition::getStatus, Condition::getReason).containsExactly("True", "Running"));
  }

  /**
   * A compute pod whose container keeps failing makes the Endpoint Failed and Stalled ComputeFailing, with the
   * container's last termination message.
   */
  @Test
  void aCrashLoopingComputeIsFailedWithItsLastTerminationMessage() {
    String ns = "crash";
    projectIn(ns, "cr");
    // A pod needs its ServiceAccount to exist (admission); no controller-manager makes "default" here.
    client().serviceAccounts().inNamespace(ns).resource(new ServiceAccountBuilder().withNewMetadata().withName("default")
        .endMetadata().build()).create();
    endpoint(ns, "cr-rw", "cr-main");
    StatefulSet sts = awaitStatefulSet(ns, "cr-rw");

    // The pod the StatefulSet controller would make, with the status a kubelet would report after a few crashes.
    var template = sts.getSpec().getTemplate();
    Pod pod = client().pods().inNamespace(ns).resource(new PodBuilder().withNewMetadata().withName("cr-rw-0")
        .withLabels(template.getMetadata().getLabels()).endMetadata()
        .withNewSpec().withAutomountServiceAccountToken(false).addNewContainer().withName("compute").withImage("arbor-compute:test")
        .endContainer().endSpec().build()).create();
    String fatal = "FATAL:  invalid value for parameter \"shared_buffers\": \"lots\"";
    client().pods().inNamespace(ns).withName(pod.getMetadata().getName()).editStatus(p -> {
      p.setStatus(new PodStatusBuilder().withPhase("Running").addNewContainerStatus().withName("compute").withImage("arbor-compute:test")
          .withImageID("").withReady(false).withStarted(false).withRestartCount(5)
          .withNewState().withNewWaiting().withReason("CrashLoopBackOff").withMessage("back-off 2m40s restarting failed container")
          .endWaiting().endState()
          .withNewLastState().withNewTerminated().withExitCode(1).withReason("Error").withMessage(fatal)
          .withStartedAt(Instant.now().minusSeconds(5).toString()).withFinishedAt(Instant.now().toString()).endTerminated()
          .endLastState().endContainerStatus().build());
      return p;
    });

    await().atMost(WAIT).untilAsserted(() -> {
      Endpoint e = get(Endpoint.class, ns, "cr-rw");
      assertThat(e.getStatus().getPhase()).hasToString("Failed");
      assertThat(condition(e, Condition.STALLED)).isNotNull().satisfies(c -> {
        assertThat(c.getStatus()).isEqualTo("True");
        assertThat(c.getReason()).isEqualTo("ComputeFailing");
        assertThat(c.getMessage()).contains("cr-rw-0", fatal, "exited with code 1");
      });
    });
  }

  /** A changed role password changes the compute's pod template, so the compute restarts with it. */
  @Test
  void aChangedRolePasswordRollsTheCompute() {
    String ns = "passwords";
    projectIn(ns, "pw");
    endpoint(ns, "pw-rw", "pw-main");
    var sts = client().apps().statefulSets().inNamespace(ns).withName("pw-rw");
    await().atMost(WAIT).until(() -> sts.get() != null);
    Map<String, String> before = sts.get().getSpec().getTemplate().getMetadata().getAnnotations();
    assertThat(before).containsKey("arbor.dev/role-passwords-hash");

    client().secrets().inNamespace(ns).withName("pw-role-passwords").edit(s -> {
      s.getData().put("app", b64("a-new-password-for-app"));
      return s;
    });
    await().atMost(WAIT).untilAsserted(() -> {
      Map<String, String> after = sts.get().getSpec().getTemplate().getMetadata().getAnnotations();
      assertThat(after.get("arbor.dev/role-passwords-hash")).isNotEqualTo(before.get("arbor.dev/role-passwords-hash"));
    });
    assertThat(secretData(ns, "pw-rw-connection")).containsEntry("password", "a-new-password-for-app");
  }

  /**
   * The default compute image is the operator's own version, not a moving tag. A new compute image in the
   * operator's configuration does not restart every running compute at once: at most
   * arbor.compute.max-config-rollouts-per-minute (2) of them a minute, the others wait (Reconciling
   * ConfigRolloutPending) and follow.
   */
  @Test
  void theComputeImageIsTheOperatorsVersionAndItsChangesArePaced() throws Exception {
    String ns = "pacing";
    projectIn(ns, "pc");
    endpoint(ns, "pc-rw", "pc-main");
    String lsn = awaitBranchReady(ns, "pc-main").getStatus().getHeadLsn();
    List<String> names = List.of("pc-rw", "pc-ro1", "pc-ro2");
    for (String name : names.subList(1, 3)) {
      var spec = new EndpointSpec();
      spec.setBranchRef("pc-main");
      spec.setMode(EndpointMode.ReadOnly);
      spec.setLsn(lsn);
      var e = new Endpoint();
      e.getMetadata().setName(name);
      e.getMetadata().setNamespace(ns);
      e.setSpec(spec);
      client().resource(e).create();
    }
    String defaultImage = "ghcr.io/arbor-dev/arbor-compute:" + System.getProperty("arbor.version");
    await().atMost(WAIT).untilAsserted(() -> assertThat(names).allSatisfy(n -> assertThat(image(ns, n)).isEqualTo(defaultImage)));

    String next = "registry.example/arbor-compute:next";
    operator.close();
    try {
      // Only this namespace, so that computes of the other tests do not take this minute's rollouts.
      operator = startOperator(Map.of("ARBOR_COMPUTE_IMAGE", next, "QUARKUS_OPERATOR_SDK_NAMESPACES", ns));
      Instant started = Instant.now();
      boolean pendingSeen = false;
      while (Duration.between(started, Instant.now()).compareTo(Duration.ofSeconds(10)) < 0) {
        assertThat(names.stream().filter(n -> image(ns, n).equals(next)).count()).as("computes on the new image within 10 s")
            .isLessThan(3);
        pendingSeen |= names.stream().anyMatch(n -> "ConfigRolloutPending".equals(
            condition(get(Endpoint.class, ns, n), Condition.RECONCILING).getReason()));
        Thread.sleep(200);
      }
      assertThat(pendingSeen).as("an Endpoint waiting its turn says so").isTrue();
      await().atMost(Duration.ofMinutes(3)).untilAsserted(() -> assertThat(names).allSatisfy(n -> assertThat(image(ns, n)).isEqualTo(next)));
    } finally {
      operator.close();
      operator = startOperator();
    }
  }

  /**
   * Suspend when idle, and wake: an Endpoint with a suspend timeout of a few seconds stays up while a client of the
   * app role holds a transaction open past it, and once nothing happens for that long the operator scales it to zero:
   * phase Suspended, Ready True with reason Suspended, status.lastActive and suspendedAt, and an Event. An agent that
   * cannot be reached suspends nothing. The wake annotation starts it again (phase Waking, then Running) with its data;
   * once suspended with spec.suspended: true, the annotation does not.
   */
  @Test
  void anIdleEndpointIsSuspendedAndTheWakeAnnotationStartsItAgainUnlessSuspendedByHand() throws Exception {
    String ns = "idle";
    readyProjectWithDatabase(ns, "id");
    client().serviceAccounts().inNamespace(ns).resource(new ServiceAccountBuilder().withNewMetadata().withName("default")
        .endMetadata().build()).create();
    var spec = new EndpointSpec();
    spec.setBranchRef("id-main");
    spec.setSuspendTimeout("4s");
    var endpoint = new Endpoint();
    endpoint.getMetadata().setName("id-rw");
    endpoint.getMetadata().setNamespace(ns);
    endpoint.setSpec(spec);
    client().resource(endpoint).create();
    var sts = client().apps().statefulSets().inNamespace(ns).withName("id-rw");
    awaitStatefulSet(ns, "id-rw");

    try (var volumes = TempDirectory.create("arbor-idle-pods-")) {
      LocalPod first = LocalPod.of(client(), ns, "id-rw", volumes.resolve("first"));
      Map<String, String> secret = secretData(ns, "id-rw-connection");
      try (AgentProcess agent = first.start()) {
        agent.awaitRunning();
        try (Connection c = connect(first, secret); Statement st = c.createStatement()) {
          st.execute("CREATE TABLE kept AS SELECT generate_series(1, 1000) AS v");
        }
        try (Connection held = connect(first, secret)) {
          held.setAutoCommit(false);
          held.createStatement().execute("SELECT 1");
          runPod(ns, "id-rw", first);
          await().atMost(WAIT).until(() -> get(Endpoint.class, ns, "id-rw").getStatus().getPhase() == EndpointPhase.Running);
          await().during(Duration.ofSeconds(10)).atMost(Duration.ofSeconds(15)).alias("an open transaction holds it awake")
              .untilAsserted(() -> {
                assertThat(sts.get().getSpec().getReplicas()).isEqualTo(1);
                assertThat(get(Endpoint.class, ns, "id-rw").getStatus().getPhase()).isEqualTo(EndpointPhase.Running);
              });
          assertThat(get(Endpoint.class, ns, "id-rw").getStatus().getLastActive()).isNotNull();
          held.rollback();
        }

        await().atMost(Duration.ofSeconds(40)).untilAsserted(() -> {
          Endpoint e = get(Endpoint.class, ns, "id-rw");
          assertThat(sts.get().getSpec().getReplicas()).isZero();
          assertThat(e.getStatus().getPhase()).isEqualTo(EndpointPhase.Suspended);
          assertThat(condition(e, Condition.READY)).satisfies(c -> {
            assertThat(c.getStatus()).isEqualTo("True");
            assertThat(c.getReason()).isEqualTo("Suspended");
            assertThat(c.getMessage()).contains("suspended after 4s without activity", "a client connection wakes it");
          });
          assertThat(e.getStatus().getSuspendedAt()).isNotNull();
          assertThat(Instant.parse(e.getStatus().getLastActive())).isBefore(Instant.parse(e.getStatus().getSuspendedAt()));
        });
        assertThat(eventReasons(ns, "id-rw")).contains("Suspended");
      }
      stopPod(ns, "id-rw");

      // Two wake requests at once, as two proxy replicas send them: the compute is woken once.
      Instant asked = Instant.now();
      for (Instant at : List.of(asked, asked.plusMillis(1))) {
        client().resources(Endpoint.class).inNamespace(ns).withName("id-rw").patch(PatchContext.of(PatchType.JSON_MERGE),
            "{\"metadata\":{\"annotations\":{\"" + EndpointWake.REQUESTED_AT + "\":\"" + at + "\"}}}");
      }
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        Endpoint e = get(Endpoint.class, ns, "id-rw");
        assertThat(sts.get().getSpec().getReplicas()).isEqualTo(1);
        assertThat(e.getStatus().getPhase()).isEqualTo(EndpointPhase.Waking);
        assertThat(condition(e, Condition.READY)).extracting(Condition::getStatus, Condition::getReason).containsExactly("True", "Waking");
        assertThat(e.getStatus().getSuspendedAt()).isNull();
      });
      assertThat(eventReasons(ns, "id-rw")).contains("Waking");
      await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
          operator.logText().lines().filter(l -> l.contains("event=compute_woken endpoint=" + ns + "/id-rw ")).count())
          .as("compute_woken lines for two wake requests").isEqualTo(1));

      LocalPod second = LocalPod.of(client(), ns, "id-rw", volumes.resolve("second"));
      try (AgentProcess agent = second.start()) {
        agent.awaitRunning();
        try (Connection c = connect(second, secret); Statement st = c.createStatement()) {
          runPod(ns, "id-rw", second);
          await().atMost(WAIT).untilAsserted(() -> assertThat(condition(get(Endpoint.class, ns, "id-rw"), Condition.READY))
              .extracting(Condition::getStatus, Condition::getReason).containsExactly("True", "Running"));
          assertThat(one(st, "SELECT count(*) || ' ' || sum(v) FROM kept")).isEqualTo("1000 500500");
        }
      }
      // The agent is gone but its pod is still there: what cannot be read suspends nothing.
      await().during(Duration.ofSeconds(6)).atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
        assertThat(sts.get().getSpec().getReplicas()).isEqualTo(1);
        assertThat(get(Endpoint.class, ns, "id-rw").getStatus().getPhase()).isEqualTo(EndpointPhase.Running);
      });

      setSuspended(ns, "id-rw", true);
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        Endpoint e = get(Endpoint.class, ns, "id-rw");
        assertThat(sts.get().getSpec().getReplicas()).isZero();
        assertThat(condition(e, Condition.READY)).satisfies(c -> {
          assertThat(c.getReason()).isEqualTo("Suspended");
          assertThat(c.getMessage()).contains("spec.suspended: true", "client connections do not wake it");
        });
      });
      stopPod(ns, "id-rw");
      client().resources(Endpoint.class).inNamespace(ns).withName("id-rw").patch(PatchContext.of(PatchType.JSON_MERGE),
          "{\"metadata\":{\"annotations\":{\"" + EndpointWake.REQUESTED_AT + "\":\"" + Instant.now().plusSeconds(1) + "\"}}}");
      await().during(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(10)).alias("a manual suspend is not woken").untilAsserted(() -> {
        assertThat(sts.get().getSpec().getReplicas()).isZero();
        assertThat(get(Endpoint.class, ns, "id-rw").getStatus().getPhase()).isEqualTo(EndpointPhase.Suspended);
      });
    }
  }

  /**
   * What the StatefulSet controller and the kubelet report once a compute runs: pod {@code <name>-0} with the
   * template's labels and containers, on the local pod's IP, ready; the StatefulSet rolled out.
   */
  static void runPod(String ns, String name, LocalPod local) {
    var template = client().apps().statefulSets().inNamespace(ns).withName(name).get().getSpec().getTemplate();
    client().pods().inNamespace(ns).resource(new PodBuilder().withNewMetadata().withName(name + "-0")
        .withLabels(template.getMetadata().getLabels()).endMetadata().withSpec(template.getSpec()).build()).create();
    client().pods().inNamespace(ns).withName(name + "-0").editStatus(p -> {
      p.setStatus(new PodStatusBuilder().withPhase("Running").withPodIP(local.podIp).addNewPodIP().withIp(local.podIp).endPodIP()
          .addNewCondition().withType("Ready").withStatus("True").endCondition()
          .addNewContainerStatus().withName("compute").withImage("arbor-compute:test").withImageID("").withReady(true).withStarted(true)
          .withRestartCount(0).withNewState().withNewRunning().withStartedAt(Instant.now().toString()).endRunning().endState()
          .endContainerStatus().build());
      return p;
    });
    reportRolledOut(ns, name);
  }

  /** What follows a scale to zero: the pod is gone and the StatefulSet controller reports no replicas. */
  private static void stopPod(String ns, String name) {
    client().pods().inNamespace(ns).withName(name + "-0").withGracePeriod(0).delete();
    await().atMost(WAIT).until(() -> client().pods().inNamespace(ns).withName(name + "-0").get() == null);
    reportRolledOut(ns, name);
  }

  private static List<String> eventReasons(String ns, String name) {
    return client().v1().events().inNamespace(ns).list().getItems().stream()
        .filter(e -> name.equals(e.getInvolvedObject().getName()) && "Endpoint".equals(e.getInvolvedObject().getKind()))
        .map(io.fabric8.kubernetes.api.model.Event::getReason).toList();
  }

  /** A namespace with a Project (one login role, app) that is Ready. */
  static void projectIn(String ns, String project) {
    namespace(ns);
    project(ns, project, List.of(loginRole("app")));
    awaitProjectReady(ns, project);
  }

  private static String image(String ns, String name) {
    StatefulSet sts = client().apps().statefulSets().inNamespace(ns).withName(name).get();
    return sts == null ? "(no StatefulSet)" : sts.getSpec().getTemplate().getSpec().getContainers().getFirst().getImage();
  }

  /** What the StatefulSet controller reports once the current template runs on every wanted replica, all ready. */
  static void reportRolledOut(String ns, String name) {
    client().apps().statefulSets().inNamespace(ns).withName(name).editStatus(s -> {
      int replicas = s.getSpec().getReplicas();
      String revision = name + "-" + s.getMetadata().getGeneration();
      s.setStatus(new StatefulSetStatusBuilder().withObservedGeneration(s.getMetadata().getGeneration()).withReplicas(replicas)
          .withReadyReplicas(replicas).withAvailableReplicas(replicas).withCurrentReplicas(replicas).withUpdatedReplicas(replicas)
          .withCurrentRevision(revision).withUpdateRevision(revision).build());
      return s;
    });
  }

  private static void setSuspended(String ns, String name, boolean suspended) {
    client().resources(Endpoint.class).inNamespace(ns).withName(name)
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"suspended\":" + suspended + "}}");
  }

  private static String timelineOf(StatefulSet sts) throws Exception {
    String json = sts.getSpec().getTemplate().getSpec().getContainers().getFirst().getEnv().stream()
        .filter(v -> v.getName().equals(SPEC_ENV)).findFirst().orElseThrow().getValue();
    return Json.MAPPER.readTree(json).path("timeline_id").asText();
  }

  private static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }
}
