package dev.arbor.e2e;

import dev.arbor.testing.RepoFiles;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The single-node cluster of {@code e2e/cluster/up} on this machine (root needed). Reuses one that is
 * already up; one that it brought up itself it takes down again on {@link #close()}. Arbor's images are
 * built from the jars this build made ({@code images/build --no-maven}) and loaded into the node.
 *
 * <p>The cluster, its fixed ports and the images' tag are the machine's, so one e2e run at a time uses it: a
 * second run (another checkout, another build) waits on a file lock beside the cluster's directory until the
 * first one has closed its cluster, instead of the two replacing each other's images and releases.
 */
final class LocalCluster implements ClusterProvider {
  private final KubernetesClient client;
  private final Path kubeconfig;
  private final boolean broughtUp;
  private final FileChannel lock;

  private LocalCluster(KubernetesClient client, Path kubeconfig, boolean broughtUp, FileChannel lock) {
    this.client = client;
    this.kubeconfig = kubeconfig;
    this.broughtUp = broughtUp;
    this.lock = lock;
  }

  static LocalCluster start() {
    FileChannel lock = lockMachineCluster();
    try {
      return start(lock);
    } catch (RuntimeException e) {
      closeQuietly(lock);
      throw e;
    }
  }

  private static LocalCluster start(FileChannel lock) {
    Path cluster = RepoFiles.root().resolve("e2e/cluster");
    boolean wasUp = run(List.of("bash", "-c", "source '" + cluster.resolve("lib.sh") + "' && cluster_ready"), false).exit == 0;
    Result up = run(List.of(cluster.resolve("up").toString()), true);
    String[] lines = up.output.strip().split("\n");
    Path kubeconfig = Path.of(lines[lines.length - 1].strip());
    run(List.of(cluster.resolve("images").toString(), "--with-arbor", "--no-maven"), true);
    try {
      Config config = Config.fromKubeconfig(Files.readString(kubeconfig, StandardCharsets.UTF_8));
      return new LocalCluster(new KubernetesClientBuilder().withConfig(config).build(), kubeconfig, !wasUp, lock);
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
    try {
      if (broughtUp) {
        run(List.of(RepoFiles.root().resolve("e2e/cluster/down").toString()), true);
      }
    } finally {
      closeQuietly(lock);
    }
  }

  /**
   * Takes the machine's e2e lock ({@code $ARBOR_CLUSTER_DIR.lock}), waiting for the run that holds it. The kernel
   * drops the lock when its process ends, so a run that was killed leaves none behind.
   */
  private static FileChannel lockMachineCluster() {
    Path file = Path.of(System.getenv().getOrDefault("ARBOR_CLUSTER_DIR", "/var/tmp/arbor-e2e-cluster") + ".lock");
    try {
      FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
      if (channel.tryLock() == null) {
        String holder = new String(Files.readAllBytes(file), StandardCharsets.UTF_8).strip();
        System.err.println("e2e: another e2e run (" + holder + ") uses this machine's cluster; waiting for it to finish (lock " + file + ")");
        channel.lock();
      }
      channel.truncate(0).write(ByteBuffer.wrap(("pid " + ProcessHandle.current().pid() + " from "
          + RepoFiles.root()).getBytes(StandardCharsets.UTF_8)), 0);
      return channel;
    } catch (IOException e) {
      throw new IllegalStateException("cannot take the e2e cluster lock " + file + ": " + e.getMessage(), e);
    }
  }

  private static void closeQuietly(FileChannel channel) {
    try {
      channel.close();
    } catch (IOException e) {
      // the lock goes with the process in any case
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
