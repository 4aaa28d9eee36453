package dev.arbor.testing;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A real kube-apiserver with etcd for a test class, through fabric8 kube-api-test in offline mode. The
 * binaries are the ones {@code scripts/kube-binaries} builds from Go module sources at the Kubernetes
 * version pinned in {@code scripts/kube-from-source/kubernetes/go.mod}; nothing is downloaded.
 *
 * <pre>{@code @RegisterExtension static final KubernetesFixture kube = new KubernetesFixture();}</pre>
 */
public final class KubernetesFixture implements ClassFixture {

  private static final Pattern K8S_REQUIRE = Pattern.compile("(?m)^require k8s\\.io/kubernetes v(\\S+)$");
  private static final List<String> BINARIES = List.of("etcd", "kube-apiserver", "kubectl");

  private final Path testDir;
  private KubeAPIServer apiServer;
  private KubernetesClient client;

  public KubernetesFixture() {
    this(defaultTestDir());
  }

  /** A fixture whose binaries live under {@code testDir}/k8s/&lt;version&gt;-linux-amd64. */
  public KubernetesFixture(Path testDir) {
    this.testDir = testDir;
  }

  /** The pinned Kubernetes version, e.g. {@code 1.32.13}. */
  public static String kubernetesVersion() {
    var m = K8S_REQUIRE.matcher(RepoFiles.read("scripts/kube-from-source/kubernetes/go.mod"));
    if (!m.find()) {
      throw new IllegalStateException("no 'require k8s.io/kubernetes vX.Y.Z' line in scripts/kube-from-source/kubernetes/go.mod");
    }
    return m.group(1);
  }

  /** Where kube-api-test looks for binaries; {@code scripts/kube-binaries} builds into the same place. */
  public static Path defaultTestDir() {
    String dir = System.getenv("ARBOR_KUBE_DIR");
    return dir != null ? Path.of(dir) : Path.of(System.getProperty("user.home"), ".kubeapitest");
  }

  public Path binaryDir() {
    return testDir.resolve("k8s").resolve(kubernetesVersion() + "-linux-amd64");
  }

  @Override
  public KubernetesFixture start() {
    Path bin = binaryDir();
    List<String> missing = BINARIES.stream().filter(b -> !Files.isExecutable(bin.resolve(b))).toList();
    if (!missing.isEmpty()) {
      throw new IllegalStateException("Kubernetes test binaries " + missing + " are missing in " + bin
          + ". Build them from Go module sources with 'scripts/kube-binaries' (needs go; about 10 minutes cold, "
          + "cached afterwards), or run the whole suite with 'scripts/test', which does it first.");
    }
    var config = KubeAPIServerConfigBuilder.anAPIServerConfig()
        .withOfflineMode(true)
        .withTestDir(testDir.toString())
        .withApiServerVersion(kubernetesVersion())
        .build();
    apiServer = new KubeAPIServer(config);
    apiServer.start();
    client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(apiServer.getKubeConfigYaml())).build();
    return this;
  }

  public KubernetesClient client() {
    if (client == null) {
      throw new IllegalStateException("the Kubernetes fixture is not started");
    }
    return client;
  }

  /**
   * Creates every CRD in {@code directory} ({@code *.yaml}, one CRD each, in name order) and waits until each is
   * Established; returns the files.
   */
  public List<Path> installCrds(Path directory) throws IOException {
    List<Path> files;
    try (Stream<Path> s = Files.list(directory)) {
      files = s.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
    }
    var crds = client().apiextensions().v1().customResourceDefinitions();
    for (Path file : files) {
      try (InputStream in = Files.newInputStream(file)) {
        CustomResourceDefinition crd = crds.load(in).item();
        crds.resource(crd).create();
        crds.withName(crd.getMetadata().getName()).waitUntilCondition(c -> c != null && c.getStatus() != null
            && c.getStatus().getConditions() != null && c.getStatus().getConditions().stream()
            .anyMatch(x -> x.getType().equals("Established") && x.getStatus().equals("True")), 60, TimeUnit.SECONDS);
      }
    }
    return files;
  }

  /** A kubeconfig for this API server, for processes that tests start (kubectl, the operator). */
  public String kubeconfigYaml() {
    return apiServer.getKubeConfigYaml();
  }

  @Override
  public void close() {
    try {
      if (client != null) {
        client.close();
      }
    } finally {
      client = null;
      if (apiServer != null) {
        apiServer.stop();
        apiServer = null;
      }
    }
  }
}
