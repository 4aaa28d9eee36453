package dev.arbor.e2e;

import dev.arbor.testing.RepoFiles;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The single-node cluster of {@code e2e/cluster/up} on this machine (root needed). Reuses one that is
 * already up; one that it brought up itself it takes down again on {@link #close()}. Arbor's images are
 * built from the jars this build made ({@code images/build --no-maven}) and loaded into the node.
 */
final class LocalCluster implements ClusterProvider {
  private final KubernetesClient client;
  private final Path kubeconfig;
  private final boolean broughtUp;

  private LocalCluster(KubernetesClient client, Path kubeconfig, boolean broughtUp) {
    this.client = client;
    this.kubeconfig = kubeconfig;
    this.broughtUp = broughtUp;
  }

  static LocalCluster start() {
    Path cluster = RepoFiles.root().resolve("e2e/cluster");
    boolean wasUp = run(List.of("bash", "-c", "source '" + cluster.resolve("lib.sh") + "' && cluster_ready"), false).exit == 0;
    Result up = run(List.of(cluster.resolve("up").toString()), true);
    String[] lines = up.output.strip().split("\n");
    Path kubeconfig = Path.of(lines[lines.length - 1].strip());
    run(List.of(cluster.resolve("images").toString(), "--with-arbor", "--no-maven"), true);
    try {
      Config config = Config.fromKubeconfig(Files.readString(kubeconfig, StandardCharsets.UTF_8));
      return new LocalCluster(new KubernetesClientBuilder().withConfig(config).build(), kubeconfig, !wasUp);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read the cluster's kubeconfig " + kubeconfig, e);
    }
  }

  @Override
  public KubernetesClient client() {
    return client;
  }

  @Override
  public Path kubeconfig() {
    return kubeconfig;
  }

  @Override
  public void close() {
    client.close();
    if (broughtUp) {
      run(List.of(RepoFiles.root().resolve("e2e/cluster/down").toString()), true);
    }
  }

  private record Result(int exit, String output) {}

  /** Runs a script of e2e/cluster; with {@code check}, a failure ends the test with the script's output. */
  private static Result run(List<String> command, boolean check) {
    try {
      Path log = Files.createTempFile("arbor-e2e-", ".log");
      Process p = new ProcessBuilder(command).redirectError(log.toFile()).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(20, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        throw new IllegalStateException(String.join(" ", command) + " did not finish in 20 minutes");
      }
      String err = Files.readString(log);
      Files.delete(log);
      if (check && p.exitValue() != 0) {
        throw new IllegalStateException(String.join(" ", command) + " failed (exit " + p.exitValue() + "). It needs root, "
            + "Go, Docker (apt-get install docker.io; up starts dockerd when none runs) and Debian's containerd, runc and CNI plugins; "
            + "scripts/test installs them. Its output:\n" + out + err);
      }
      return new Result(p.exitValue(), out);
    } catch (IOException e) {
      throw new IllegalStateException("cannot run " + command, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted running " + command, e);
    }
  }
}
