package dev.arbor.e2e;

import io.fabric8.kubernetes.client.KubernetesClient;

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

  /** Arbor's image tag: the project version, as images/build tags them. */
  static String arborTag() {
    return System.getProperty("arbor.version", "0.1.0-SNAPSHOT");
  }
}
