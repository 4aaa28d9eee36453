package dev.arbor.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.JSONSchemaPropsBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Proves the Kubernetes fixture is a real API server: CRDs are served, watched and schema-validated. */
class KubernetesFixtureTest {

  @RegisterExtension
  static final KubernetesFixture kube = new KubernetesFixture();

  static final ResourceDefinitionContext WIDGETS = new ResourceDefinitionContext.Builder()
      .withGroup("smoke.arbor.dev").withVersion("v1").withPlural("widgets").withKind("Widget").withNamespaced(true).build();

  @BeforeAll
  static void installCrd() {
    CustomResourceDefinition crd = new CustomResourceDefinitionBuilder()
        .withNewMetadata().withName("widgets.smoke.arbor.dev").endMetadata()
        .withNewSpec()
          .withGroup("smoke.arbor.dev").withScope("Namespaced")
          .withNewNames().withKind("Widget").withPlural("widgets").withSingular("widget").endNames()
          .addNewVersion().withName("v1").withServed(true).withStorage(true)
            .withNewSchema().withOpenAPIV3Schema(new JSONSchemaPropsBuilder()
                .withType("object")
                .addToProperties("spec", new JSONSchemaPropsBuilder()
                    .withType("object").withRequired("lsn")
                    .addToProperties("lsn", new JSONSchemaPropsBuilder()
                        .withType("string").withPattern("^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$").build())
                    .addToProperties("replicas", new JSONSchemaPropsBuilder().withType("integer").withMinimum(0.0).build())
                    .build())
                .build())
            .endSchema()
          .endVersion()
        .endSpec()
        .build();
    kube.client().apiextensions().v1().customResourceDefinitions().resource(crd).create();
    kube.client().apiextensions().v1().customResourceDefinitions().withName("widgets.smoke.arbor.dev")
        .waitUntilCondition(c -> c != null && c.getStatus() != null && c.getStatus().getConditions() != null
            && c.getStatus().getConditions().stream()
            .anyMatch(cond -> cond.getType().equals("Established") && cond.getStatus().equals("True")), 60, TimeUnit.SECONDS);
  }

  @Test
  void servesTheKubernetesVersionBuiltFromSource() {
    assertThat(kube.client().getKubernetesVersion().getGitVersion()).isEqualTo("v" + KubernetesFixture.kubernetesVersion());
  }

  @Test
  void createsAndWatchesACustomObject() throws Exception {
    BlockingQueue<String> events = new LinkedBlockingQueue<>();
    try (Watch ignored = kube.client().genericKubernetesResources(WIDGETS).inNamespace("default").watch(new Watcher<>() {
      @Override
      public void eventReceived(Action action, GenericKubernetesResource resource) {
        events.add(action + " " + resource.getMetadata().getName());
      }

      @Override
      public void onClose(WatcherException cause) {}
    })) {
      kube.client().genericKubernetesResources(WIDGETS).inNamespace("default").resource(widget("w1", "0/16B5A50", 2)).create();
      assertThat(events.poll(Duration.ofSeconds(30).toMillis(), TimeUnit.MILLISECONDS)).isEqualTo("ADDED w1");
    }
    GenericKubernetesResource stored = kube.client().genericKubernetesResources(WIDGETS).inNamespace("default").withName("w1").get();
    assertThat(stored.<String>get("spec", "lsn")).isEqualTo("0/16B5A50");
  }

  @Test
  void rejectsAnObjectThatBreaksTheSchemaAndNamesTheField() {
    var widgets = kube.client().genericKubernetesResources(WIDGETS).inNamespace("default");
    assertThatThrownBy(() -> widgets.resource(widget("bad-lsn", "not-an-lsn", 1)).create())
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getCode()).isEqualTo(422))
        .hasMessageContaining("spec.lsn");
    assertThatThrownBy(() -> widgets.resource(widget("bad-replicas", "0/1", -1)).create())
        .isInstanceOf(KubernetesClientException.class)
        .hasMessageContaining("spec.replicas");
    assertThat(widgets.withName("bad-lsn").get()).isNull();
  }

  private static GenericKubernetesResource widget(String name, String lsn, int replicas) {
    return new GenericKubernetesResourceBuilder()
        .withApiVersion("smoke.arbor.dev/v1").withKind("Widget")
        .withNewMetadata().withName(name).withNamespace("default").endMetadata()
        .withAdditionalProperties(Map.of("spec", Map.of("lsn", lsn, "replicas", replicas)))
        .build();
  }
}
