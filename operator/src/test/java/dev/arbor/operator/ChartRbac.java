package dev.arbor.operator;

import dev.arbor.testing.KubernetesFixture;
import dev.arbor.testing.RepoFiles;
import io.fabric8.kubernetes.api.model.AuthInfo;
import io.fabric8.kubernetes.api.model.Config;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.internal.KubeConfigUtils;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The operator's identity in the integration tests: the ServiceAccount and RBAC that the Helm chart ships
 * ({@code helm template} of {@code templates/operator-rbac.yaml}, applied as rendered), so that every
 * operator test also proves that the chart grants what the code uses. The operator gets a kubeconfig with a
 * token of that ServiceAccount instead of the API server's admin certificate.
 */
final class ChartRbac {
  static final String NAMESPACE = "default";
  static final String SERVICE_ACCOUNT = "arbor-operator";

  private ChartRbac() {}

  /** Applies the chart's operator RBAC to the API server and returns a kubeconfig that authenticates as its ServiceAccount. */
  static String operatorKubeconfig(KubernetesFixture kube) throws IOException, InterruptedException {
    KubernetesClient admin = kube.client();
    admin.load(new ByteArrayInputStream(renderRbac(kube).getBytes(StandardCharsets.UTF_8))).inNamespace(NAMESPACE).createOrReplace();
    if (admin.serviceAccounts().inNamespace(NAMESPACE).withName(SERVICE_ACCOUNT).get() == null) {
      admin.serviceAccounts().inNamespace(NAMESPACE)
          .resource(new ServiceAccountBuilder().withNewMetadata().withName(SERVICE_ACCOUNT).endMetadata().build()).create();
    }
    String token = admin.serviceAccounts().inNamespace(NAMESPACE).withName(SERVICE_ACCOUNT)
        .tokenRequest(new TokenRequestBuilder().withNewSpec().withExpirationSeconds(TimeUnit.HOURS.toSeconds(12)).endSpec().build())
        .getStatus().getToken();
    Config config = KubeConfigUtils.parseConfigFromString(kube.kubeconfigYaml());
    for (var user : config.getUsers()) {
      AuthInfo auth = new AuthInfo();
      auth.setToken(token);
      user.setUser(auth);
    }
    return Serialization.asYaml(config);
  }

  /** The chart's operator RBAC for a release "arbor" in {@value #NAMESPACE}, watching every namespace (its default). */
  static String renderRbac(KubernetesFixture kube) throws IOException, InterruptedException {
    Path helm = kube.binaryDir().resolve("helm");
    if (!Files.isExecutable(helm)) {
      throw new IllegalStateException("helm is missing in " + kube.binaryDir() + "; the operator tests render the chart's RBAC with it. "
          + "Build it from Go module sources with 'scripts/kube-binaries' (or run the whole suite with 'scripts/test', which does it first).");
    }
    Process p = new ProcessBuilder(List.of(helm.toString(), "template", "arbor", "helm/arbor", "--namespace", NAMESPACE,
        "--set", "objectStore.dev.enabled=true", "--show-only", "templates/operator-rbac.yaml"))
        .directory(RepoFiles.root().toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException("helm template of the chart's operator RBAC failed:\n" + out);
    }
    return out;
  }
}
