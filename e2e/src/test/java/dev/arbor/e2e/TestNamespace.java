package dev.arbor.e2e;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.time.Duration;
import java.util.UUID;

/**
 * A namespace of its own for one test class, enforcing Pod Security "restricted"; closing it deletes it
 * with everything in it and waits until it is gone.
 */
final class TestNamespace implements AutoCloseable {
  private final KubernetesClient client;
  private final String name;

  private TestNamespace(KubernetesClient client, String name) {
    this.client = client;
    this.name = name;
  }

  static TestNamespace create(KubernetesClient client) {
    String name = "arbor-e2e-" + UUID.randomUUID().toString().substring(0, 8);
    client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name)
        .addToLabels("pod-security.kubernetes.io/enforce", "restricted").endMetadata().build()).create();
    return new TestNamespace(client, name);
  }

  String name() {
    return name;
  }

  @Override
  public void close() {
    client.namespaces().withName(name).delete();
    await().atMost(Duration.ofMinutes(2)).alias("namespace " + name + " deleted (what holds it is in its status conditions)")
        .until(() -> client.namespaces().withName(name).get() == null);
  }
}
