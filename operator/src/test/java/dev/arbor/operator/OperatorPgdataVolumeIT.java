package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Condition;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.EndpointMode;
import dev.arbor.crds.v1alpha1.EndpointPhase;
import dev.arbor.crds.v1alpha1.EndpointSpec;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaimBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * PGDATA across suspends (docs/operator.md): with {@code arbor.compute.pgdata-volume.storage-class} set, a read-write
 * Endpoint gets the PersistentVolumeClaim {@code <endpoint>-pgdata} (that class and size, controller-owned by the
 * Endpoint) and its pod template mounts it at the data path; a suspend keeps it; a claim of that name that is not
 * the Endpoint's is left alone (Stalled NameTaken); read-only Endpoints, and every Endpoint once the setting is off
 * again, stay on an emptyDir, and the claim the setting made is deleted. The API server here runs no controllers:
 * no pod mounts a claim, and a deleted claim keeps Kubernetes' pvc-protection finalizer, so "deleted" is its
 * deletion timestamp.
 */
class OperatorPgdataVolumeIT extends OperatorTestBase {
  private static final String STORAGE_CLASS = "arbor-it-disks";
  private static final Map<String, String> ON = Map.of("ARBOR_COMPUTE_PGDATA_VOLUME_STORAGE_CLASS", STORAGE_CLASS,
      "ARBOR_COMPUTE_PGDATA_VOLUME_SIZE", "3Gi");

  @Test
  void aReadWriteEndpointKeepsItsClaimWhileSuspendedAndLosesItWhenTheSettingIsOff() throws Exception {
    String ns = "pgdata";
    OperatorEndpointIT.projectIn(ns, "pd");
    Endpoint rw = endpoint(ns, "pd-rw", "pd-main");
    // Off (the default): an emptyDir, no claim.
    StatefulSet before = awaitStatefulSet(ns, "pd-rw");
    assertThat(dataVolume(before).getEmptyDir()).as("the data volume with the setting off").isNotNull();
    assertThat(before.getSpec().getTemplate().getSpec().getSecurityContext().getFsGroupChangePolicy()).isNull();
    assertThat(claim(ns, "pd-rw")).isNull();

    operator.close();
    boolean on = true;
    try {
      operator = startOperator(ON);
      PersistentVolumeClaim claim = awaitClaim(ns, "pd-rw");
      assertOwnedAndLabelled(claim, rw);
      assertThat(claim.getSpec().getStorageClassName()).isEqualTo(STORAGE_CLASS);
      assertThat(claim.getSpec().getAccessModes()).containsExactly("ReadWriteOnce");
      assertThat(claim.getSpec().getResources().getRequests()).containsEntry("storage", new Quantity("3Gi"));
      // The running compute's template rolls onto the claim (an operator-only change, paced; the first is free).
      await().atMost(WAIT).untilAsserted(() -> {
        StatefulSet sts = client().apps().statefulSets().inNamespace(ns).withName("pd-rw").get();
        assertThat(dataVolume(sts).getPersistentVolumeClaim()).as("the data volume with the setting on").isNotNull()
            .satisfies(v -> assertThat(v.getClaimName()).isEqualTo("pd-rw-pgdata"));
        assertThat(sts.getSpec().getTemplate().getSpec().getContainers().getFirst().getVolumeMounts())
            .anySatisfy(m -> assertThat(m.getName() + " at " + m.getMountPath()).isEqualTo("data at /var/lib/arbor"));
        // A kept PGDATA must stay 0700: the kubelet changes a volume's ownership only while its root lacks the group.
        assertThat(sts.getSpec().getTemplate().getSpec().getSecurityContext().getFsGroupChangePolicy()).isEqualTo("OnRootMismatch");
        assertThat(sts.getSpec().getTemplate().getSpec().getSecurityContext().getFsGroup()).isEqualTo(10001L);
      });

      // A read-only Endpoint stays on an emptyDir: the agent reuses no read-only PGDATA.
      await().atMost(WAIT).until(() -> get(Branch.class, ns, "pd-main").getStatus().getHeadLsn() != null);
      var spec = new EndpointSpec();
      spec.setBranchRef("pd-main");
      spec.setMode(EndpointMode.ReadOnly);
      spec.setLsn(get(Branch.class, ns, "pd-main").getStatus().getHeadLsn());
      var ro = new Endpoint();
      ro.getMetadata().setName("pd-ro");
      ro.getMetadata().setNamespace(ns);
      ro.setSpec(spec);
      client().resource(ro).create();
      assertThat(dataVolume(awaitStatefulSet(ns, "pd-ro")).getEmptyDir()).as("a read-only compute's data volume").isNotNull();
      assertThat(claim(ns, "pd-ro")).isNull();

      // Suspended: no pod, the claim stays as it was.
      client().resources(Endpoint.class).inNamespace(ns).withName("pd-rw")
          .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"suspended\":true}}");
      await().atMost(WAIT).untilAsserted(() -> {
        assertThat(client().apps().statefulSets().inNamespace(ns).withName("pd-rw").get().getSpec().getReplicas()).isZero();
        assertThat(get(Endpoint.class, ns, "pd-rw").getStatus().getPhase()).isEqualTo(EndpointPhase.Suspended);
      });
      PersistentVolumeClaim kept = claim(ns, "pd-rw");
      assertThat(kept).as("the claim of a suspended Endpoint").isNotNull();
      assertThat(kept.getMetadata().getUid()).isEqualTo(claim.getMetadata().getUid());
      assertThat(kept.getMetadata().getDeletionTimestamp()).isNull();

      // Off again: back to an emptyDir (a suspended compute's template changes at once), and the claim is deleted.
      operator.close();
      on = false;
      operator = startOperator();
      await().atMost(WAIT).untilAsserted(() -> {
        assertThat(dataVolume(client().apps().statefulSets().inNamespace(ns).withName("pd-rw").get()).getEmptyDir())
            .as("the data volume once the setting is off").isNotNull();
        PersistentVolumeClaim gone = claim(ns, "pd-rw");
        assertThat(gone == null || gone.getMetadata().getDeletionTimestamp() != null).as("the claim is deleted: %s", gone).isTrue();
      });
      // And no new claim for a new read-write Endpoint.
      branch(ns, "pd-b", "pd", "pd-main", false);
      endpoint(ns, "pd-b-rw", "pd-b");
      assertThat(dataVolume(awaitStatefulSet(ns, "pd-b-rw")).getEmptyDir()).isNotNull();
      assertThat(claim(ns, "pd-b-rw")).isNull();
    } finally {
      if (on) {
        operator.close();
        operator = startOperator();
      }
    }
  }

  @Test
  void aClaimOfTheNameThatIsNotTheEndpointsIsLeftAloneAndSaysSo() throws Exception {
    String ns = "pgdata-taken";
    OperatorEndpointIT.projectIn(ns, "pt");
    client().persistentVolumeClaims().inNamespace(ns).resource(new PersistentVolumeClaimBuilder().withNewMetadata()
        .withName("pt-rw-pgdata").withLabels(Map.of("app", "legacy")).endMetadata().withNewSpec().withAccessModes("ReadWriteOnce")
        .withStorageClassName("legacy").withNewResources().addToRequests("storage", new Quantity("1Gi")).endResources().endSpec()
        .build()).create();
    operator.close();
    try {
      operator = startOperator(ON);
      endpoint(ns, "pt-rw", "pt-main");
      await().atMost(WAIT).untilAsserted(() -> {
        Condition stalled = condition(get(Endpoint.class, ns, "pt-rw"), Condition.STALLED);
        assertThat(stalled).isNotNull();
        assertThat(stalled.getStatus()).isEqualTo("True");
        assertThat(stalled.getReason()).isEqualTo("NameTaken");
        assertThat(stalled.getMessage()).isEqualTo("PersistentVolumeClaim pt-rw-pgdata already exists and does not belong to this "
            + "Endpoint; the operator leaves it untouched. Rename the Endpoint, or remove that object if nothing needs it");
      });
      assertThat(client().apps().statefulSets().inNamespace(ns).withName("pt-rw").get()).isNull();
      PersistentVolumeClaim foreign = claim(ns, "pt-rw");
      assertThat(foreign.getMetadata().getOwnerReferences()).isEmpty();
      assertThat(foreign.getMetadata().getLabels()).isEqualTo(Map.of("app", "legacy"));
      assertThat(foreign.getSpec().getStorageClassName()).isEqualTo("legacy");
      assertThat(foreign.getMetadata().getDeletionTimestamp()).isNull();
    } finally {
      operator.close();
      operator = startOperator();
    }
    // With the setting off the name is not the Endpoint's to take: it runs on an emptyDir beside that claim.
    assertThat(dataVolume(awaitStatefulSet(ns, "pt-rw")).getEmptyDir()).isNotNull();
    PersistentVolumeClaim foreign = claim(ns, "pt-rw");
    assertThat(foreign.getMetadata().getOwnerReferences()).isEmpty();
    assertThat(foreign.getMetadata().getDeletionTimestamp()).isNull();
  }

  @Test
  void anOperatorWhoseClaimSizeIsNoQuantityRefusesToStart() throws Exception {
    assertThat(refusedStartLine(Map.of("ARBOR_COMPUTE_PGDATA_VOLUME_STORAGE_CLASS", STORAGE_CLASS, "ARBOR_COMPUTE_PGDATA_VOLUME_SIZE",
        "10GB"), "arbor.compute.pgdata-volume.size"))
        .isEqualTo("arbor.compute.pgdata-volume.size (ARBOR_COMPUTE_PGDATA_VOLUME_SIZE) '10GB' is not a storage size; write a "
            + "Kubernetes quantity of at least one byte, e.g. 10Gi or 500M");
  }

  private static PersistentVolumeClaim claim(String ns, String endpoint) {
    return client().persistentVolumeClaims().inNamespace(ns).withName(endpoint + "-pgdata").get();
  }

  private static PersistentVolumeClaim awaitClaim(String ns, String endpoint) {
    await().atMost(WAIT).until(() -> claim(ns, endpoint) != null);
    return claim(ns, endpoint);
  }

  private static Volume dataVolume(StatefulSet sts) {
    return sts.getSpec().getTemplate().getSpec().getVolumes().stream().filter(v -> v.getName().equals("data")).findFirst()
        .orElseThrow(() -> new AssertionError("no volume 'data' in " + sts.getSpec().getTemplate().getSpec().getVolumes()));
  }
}
