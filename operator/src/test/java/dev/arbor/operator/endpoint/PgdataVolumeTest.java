package dev.arbor.operator.endpoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.crds.v1alpha1.Endpoint;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The PGDATA claim settings the operator accepts at start, and the claim it makes of them. */
class PgdataVolumeTest {

  @Test
  void sizesAreKubernetesQuantitiesOfAtLeastOneByte() {
    for (String ok : new String[] {"10Gi", "500M", "1.5Gi", "1", " 2Ti "}) {
      assertThat(new PgdataVolume(Optional.of("fast"), ok).problem()).as(ok).isEmpty();
    }
    for (String bad : new String[] {"10GB", "lots", "0", "0Gi", "-1Gi", "", "10 Gi", "1e3", "100m"}) {
      assertThat(new PgdataVolume(Optional.of("fast"), bad).problem()).as(bad).hasValueSatisfying(p ->
          assertThat(p).startsWith("arbor.compute.pgdata-volume.size (ARBOR_COMPUTE_PGDATA_VOLUME_SIZE) '" + bad.trim() + "'"));
    }
  }

  @Test
  void theStorageClassIsANameOrUnset() {
    assertThat(new PgdataVolume(Optional.of("arbor-e2e-local"), "10Gi").problem()).isEmpty();
    assertThat(new PgdataVolume(Optional.of("ebs.gp3"), "10Gi").problem()).isEmpty();
    assertThat(new PgdataVolume(Optional.of("Fast_SSD"), "10Gi").problem()).hasValueSatisfying(p ->
        assertThat(p).startsWith("arbor.compute.pgdata-volume.storage-class (ARBOR_COMPUTE_PGDATA_VOLUME_STORAGE_CLASS) 'Fast_SSD'"));
    // Unset or empty (the chart's default ""): no claims.
    assertThat(new PgdataVolume(Optional.empty(), "10Gi").enabled()).isFalse();
    assertThat(new PgdataVolume(Optional.of(""), "10Gi").enabled()).isFalse();
    assertThat(new PgdataVolume(Optional.of("fast"), "10Gi").enabled()).isTrue();
  }

  @Test
  void theClaimIsTheEndpointsReadWriteOnceOfTheClassAndSize() {
    Endpoint e = Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: shop-rw, namespace: team, uid: 0b5c1c8e-0000-4000-8000-000000000001}
        spec: {branchRef: shop-main}
        """, Endpoint.class);
    PersistentVolumeClaim c = new PgdataVolume(Optional.of("fast"), "20Gi").claim(e, Map.of("arbor.dev/endpoint", "shop-rw"));
    assertThat(c.getMetadata().getName()).isEqualTo("shop-rw-pgdata");
    assertThat(c.getMetadata().getNamespace()).isEqualTo("team");
    assertThat(c.getMetadata().getLabels()).isEqualTo(Map.of("arbor.dev/endpoint", "shop-rw"));
    assertThat(c.getMetadata().getOwnerReferences()).singleElement().satisfies(o -> {
      assertThat(o.getUid()).isEqualTo("0b5c1c8e-0000-4000-8000-000000000001");
      assertThat(o.getController()).isTrue();
      assertThat(o.getBlockOwnerDeletion()).isTrue();
    });
    assertThat(c.getSpec().getAccessModes()).containsExactly("ReadWriteOnce");
    assertThat(c.getSpec().getStorageClassName()).isEqualTo("fast");
    assertThat(c.getSpec().getResources().getRequests()).isEqualTo(Map.of("storage", new Quantity("20Gi")));
  }
}
