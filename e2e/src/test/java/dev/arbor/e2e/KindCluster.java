package dev.arbor.e2e;

import com.dajudge.kindcontainer.KindContainer;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.testcontainers.utility.MountableFile;

/**
 * kind in Docker through Testcontainers (kindcontainer), for machines whose Docker can pull kind's node
 * image. Arbor's images must be in the local Docker (images/build); they are loaded into the node.
 * Not used on the machines Arbor is developed on, which reach no container registry.
 */
final class KindCluster implements ClusterProvider {
  private final KindContainer<?> kind;
  private final KubernetesClient client;

  private KindCluster(KindContainer<?> kind) {
    this.kind = kind;
    this.client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kind.getKubeconfig())).build();
  }

  static KindCluster start() {
    KindContainer<?> kind = new KindContainer<>();
    kind.start();
    for (String name : List.of("compute", "storage", "operator", "s3-dev")) {
      load(kind, "arbor-" + name + ":" + ClusterProvider.arborTag());
    }
    return new KindCluster(kind);
  }

  /** {@code docker save} here, {@code ctr images import} in the node: what {@code kind load docker-image} does. */
  private static void load(KindContainer<?> kind, String image) {
    try {
      Path tar = Files.createTempFile("arbor-image-", ".tar");
      try {
        Process save = new ProcessBuilder("docker", "save", "-o", tar.toString(), image).inheritIO().start();
        if (save.waitFor() != 0) {
          throw new IllegalStateException("docker save " + image + " failed: build it first with images/build");
        }
        kind.copyFileToContainer(MountableFile.forHostPath(tar), "/tmp/image.tar");
        var result = kind.execInContainer("ctr", "-n", "k8s.io", "images", "import", "/tmp/image.tar");
        if (result.getExitCode() != 0) {
          throw new IllegalStateException("loading " + image + " into kind failed: " + result.getStderr());
        }
      } finally {
        Files.deleteIfExists(tar);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  @Override
  public KubernetesClient client() {
    return client;
  }

  @Override
  public void close() {
    client.close();
    kind.stop();
  }
}
