package dev.arbor.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NodeSelectorRequirement;
import io.fabric8.kubernetes.api.model.PersistentVolume;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A PersistentVolumeClaim that names no StorageClass gets a volume from the cluster's default class, and a
 * pod under Pod Security "restricted" (UID 10001, fsGroup 10001, read-only root filesystem) writes a file
 * into it and reads it back: what the Helm chart's pageserver, safekeepers and S3 server rely on. The
 * volume goes when the claim goes (the default class's reclaim policy must be Delete, as the local
 * cluster's and kind's are). On the local cluster the volume is e2e/cluster/provisioner's: a local volume
 * in a directory on this machine, which is checked there too.
 */
@ExtendWith(SharedCluster.class)
class DynamicVolumeOnClusterE2ETest {
  // Names from e2e/cluster/lib.sh.
  private static final String LOCAL_CLASS = "arbor-e2e-local";
  private static final String LOCAL_PROVISIONER = "arbor.dev/e2e-local";
  private static final String LOCAL_NODE = "arbor-e2e";
  private static final Path LOCAL_VOLUMES =
      Path.of(System.getenv().getOrDefault("ARBOR_CLUSTER_DIR", "/var/tmp/arbor-e2e-cluster"), "volumes");
  private static final String SIZE = "64Mi";

  @Test
  void aClaimWithoutAClassGetsAVolumeThatANonRootPodWritesAndThatGoesWithTheClaim(ClusterProvider cluster) throws IOException {
    try (TestNamespace namespace = TestNamespace.create(cluster.client())) {
      claimWriteAndDelete(cluster, namespace.name());
    }
  }

  private static void claimWriteAndDelete(ClusterProvider cluster, String ns) throws IOException {
    KubernetesClient k = cluster.client();
    String word = "arbor-" + UUID.randomUUID();
    k.load(new ByteArrayInputStream(manifests(cluster.image("compute"), cluster.imagePullPolicy(), word).getBytes(StandardCharsets.UTF_8)))
        .inNamespace(ns).create();

    await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() ->
        assertThat(k.pods().inNamespace(ns).withName("writer").get().getStatus().getPhase())
            .as("writer pod phase; events:%n%s", events(k, ns)).isIn("Succeeded", "Failed"));
    String log = PsqlClient.log(k, ns, "writer", null);
    assertThat(k.pods().inNamespace(ns).withName("writer").get().getStatus().getPhase())
        .as("writer log:%n%s%nevents:%n%s", log, events(k, ns)).isEqualTo("Succeeded");
    // tar -tv with numeric owners: the volume's root is the group's (fsGroup applied: g+rwx, setgid), so the
    // pod, not root, could write the file.
    assertThat(log).contains("read back: " + word)
        .containsPattern("(?m)^drwxrws\\S* \\d+/10001 .* data/$")
        .containsPattern("(?m)^-rw\\S* 10001/10001 .* data/probe$");

    PersistentVolumeClaim claim = k.persistentVolumeClaims().inNamespace(ns).withName("data").get();
    assertThat(claim.getStatus().getPhase()).isEqualTo("Bound");
    String volumeName = claim.getSpec().getVolumeName();
    PersistentVolume volume = k.persistentVolumes().withName(volumeName).get();
    assertThat(volume.getSpec().getClaimRef().getUid()).isEqualTo(claim.getMetadata().getUid());
    Path directory = null;
    if (cluster instanceof LocalCluster) {
      assertThat(claim.getSpec().getStorageClassName()).as("the default class").isEqualTo(LOCAL_CLASS);
      assertThat(volume.getMetadata().getAnnotations()).containsEntry("pv.kubernetes.io/provisioned-by", LOCAL_PROVISIONER);
      assertThat(volume.getSpec().getStorageClassName()).isEqualTo(LOCAL_CLASS);
      assertThat(volume.getSpec().getCapacity()).containsEntry("storage", new Quantity(SIZE));
      assertThat(volume.getSpec().getPersistentVolumeReclaimPolicy()).isEqualTo("Delete");
      List<NodeSelectorRequirement> affinity =
          volume.getSpec().getNodeAffinity().getRequired().getNodeSelectorTerms().getFirst().getMatchExpressions();
      assertThat(affinity).singleElement().satisfies(r -> {
        assertThat(r.getKey()).isEqualTo("kubernetes.io/hostname");
        assertThat(r.getValues()).containsExactly(LOCAL_NODE);
      });
      directory = Path.of(volume.getSpec().getLocal().getPath());
      assertThat(directory).isEqualTo(LOCAL_VOLUMES.resolve(volumeName));
      assertThat(Files.readString(directory.resolve("probe")).strip()).isEqualTo(word);
    }

    k.pods().inNamespace(ns).withName("writer").delete();
    k.persistentVolumeClaims().inNamespace(ns).withName("data").delete();
    await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofSeconds(1))
        .alias("volume " + volumeName + " deleted after its claim (events: kubectl get events -n " + ns + ")")
        .until(() -> k.persistentVolumes().withName(volumeName).get() == null);
    if (directory != null) {
      assertThat(directory).as("the provisioner's directory of the deleted volume").doesNotExist();
    }
  }

  private static String manifests(String image, String pullPolicy, String word) {
    return """
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: %4$s}}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: writer}
        spec:
          restartPolicy: Never
          securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: writer
            image: %1$s
            imagePullPolicy: %2$s
            command: [sh, -c]
            args:
            - |
              set -e
              echo "%3$s" > /data/probe
              read -r line < /data/probe
              echo "read back: $line"
              tar -cf - --no-recursion -C / data data/probe | tar -tvf - --numeric-owner
            securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
            volumeMounts: [{name: data, mountPath: /data}]
          volumes:
          - {name: data, persistentVolumeClaim: {claimName: data}}
        """.formatted(image, pullPolicy, word, SIZE);
  }

  /** The namespace's events, oldest first: why a claim stays Pending or a pod does not start. */
  private static String events(KubernetesClient k, String ns) {
    return k.v1().events().inNamespace(ns).list().getItems().stream()
        .map(e -> e.getInvolvedObject().getKind() + "/" + e.getInvolvedObject().getName() + " " + e.getReason() + ": " + e.getMessage())
        .collect(Collectors.joining("\n"));
  }
}
