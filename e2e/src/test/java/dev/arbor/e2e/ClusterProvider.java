package dev.arbor.e2e;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Path;
import java.util.List;

/**
 * Where the end-to-end tests get their Kubernetes cluster, chosen with {@code ARBOR_E2E_CLUSTER}:
 * <ul>
 *   <li>{@code local} (default): the single-node cluster of {@code e2e/cluster/up}, on this machine, with
 *       Arbor's images built and loaded into it;</li>
 *   <li>{@code kubeconfig}: the cluster in {@code $KUBECONFIG}; Arbor's images must already be pullable
 *       there under the names in {@link #image(String)};</li>
 *   <li>{@code kind}: kind in Docker through Testcontainers (kindcontainer), for machines whose Docker can
 *       pull images; Arbor's images are loaded from the local Docker.</li>
 * </ul>
 */
public interface ClusterProvider extends AutoCloseable {

  KubernetesClient client();

  /** A kubeconfig file for {@code kubectl} and {@code helm}, as a user of this cluster has one. */
  Path kubeconfig();

  /** The image reference pods use for an Arbor image ({@code compute}, {@code storage}, {@code operator}, {@code s3-dev}). */
  default String image(String name) {
    return "arbor-" + name + ":" + arborTag();
  }

  /** {@code Never} where the images were loaded into the node; {@code IfNotPresent} where they are pulled. */
  default String imagePullPolicy() {
    return "Never";
  }

  @Override
  void close();

  static ClusterProvider fromEnvironment() {
    String kind = System.getenv().getOrDefault("ARBOR_E2E_CLUSTER", "local");
    return switch (kind) {
      case "local" -> LocalCluster.start();
      case "kubeconfig" -> new KubeconfigCluster();
      case "kind" -> KindCluster.start();
      default -> throw new IllegalArgumentException("ARBOR_E2E_CLUSTER is '" + kind + "': use local, kubeconfig or kind");
    };
  }

  /**
   * What {@code helm/arbor} needs to run these images: the registry prefix (the reference without
   * {@code arbor-NAME:TAG}) and the pull policy.
   */
  default List<String> helmImageValues() {
    String operator = image("operator");
    String prefix = operator.substring(0, operator.indexOf("arbor-operator:"));
    return List.of("--set", "image.registry=" + prefix, "--set", "image.tag=" + arborTag(),
        "--set", "image.pullPolicy=" + imagePullPolicy(), "--set", "compute.pullPolicy=" + imagePullPolicy());
  }

  /**
   * {@code --set} values that put every read-write compute's PGDATA on a PersistentVolumeClaim of the cluster's
   * default StorageClass (docs/operator.md, "PGDATA across suspends"), as an installation that keeps PGDATA across
   * suspends does.
   */
  default List<String> helmPgdataVolumeValues() {
    return List.of("--set", "compute.pgdataVolume.storageClass=" + defaultStorageClass());
  }

  /** The cluster's default StorageClass ({@code storageclass.kubernetes.io/is-default-class: "true"}). */
  default String defaultStorageClass() {
    return client().storage().v1().storageClasses().list().getItems().stream()
        .filter(c -> c.getMetadata().getAnnotations() != null
            && "true".equals(c.getMetadata().getAnnotations().get("storageclass.kubernetes.io/is-default-class")))
        .map(c -> c.getMetadata().getName()).findFirst()
        .orElseThrow(() -> new IllegalStateException("the cluster has no default StorageClass (annotation "
            + "storageclass.kubernetes.io/is-default-class: \"true\"); the chart's volumes need one (e2e/cluster/up makes arbor-e2e-local)"));
  }

  /** Arbor's image tag: the project version, as images/build tags them. */
  static String arborTag() {
    return System.getProperty("arbor.version", "0.1.0-SNAPSHOT");
  }
}
