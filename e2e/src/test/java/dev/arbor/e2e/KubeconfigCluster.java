package dev.arbor.e2e;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.file.Path;

/**
 * Any cluster in {@code $KUBECONFIG} (fabric8's usual configuration). Arbor's images must be pullable
 * there: {@code ARBOR_E2E_IMAGE_PREFIX} (e.g. {@code registry.example/arbor/}) is put before
 * {@code arbor-NAME:TAG}.
 */
final class KubeconfigCluster implements ClusterProvider {
  private final KubernetesClient client = new KubernetesClientBuilder().build();

  @Override
  public KubernetesClient client() {
    return client;
  }

  @Override
  public Path kubeconfig() {
    String env = System.getenv("KUBECONFIG");
    return env != null && !env.isBlank() ? Path.of(env.split(java.io.File.pathSeparator)[0])
        : Path.of(System.getProperty("user.home"), ".kube", "config");
  }

  @Override
  public String image(String name) {
    return System.getenv().getOrDefault("ARBOR_E2E_IMAGE_PREFIX", "") + ClusterProvider.super.image(name);
  }

  @Override
  public String imagePullPolicy() {
    return "IfNotPresent";
  }

  @Override
  public void close() {
    client.close();
  }
}
