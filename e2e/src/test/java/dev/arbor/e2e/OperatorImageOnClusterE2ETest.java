package dev.arbor.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.testing.RepoFiles;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * arbor-operator's image (a JRE and the operator, no shell) runs as a Pod Security "restricted" pod with
 * a read-only root filesystem, talks to the API server with its service account, takes the leader Lease,
 * and reconciles a Project: with no storage engine to reach, the Project says so in a condition. Arbor's
 * CRDs are created when the cluster lacks them and then removed again; the rest lives in one namespace.
 */
@ExtendWith(SharedCluster.class)
class OperatorImageOnClusterE2ETest {
  private static final ResourceDefinitionContext PROJECTS = new ResourceDefinitionContext.Builder()
      .withGroup("arbor.dev").withVersion("v1alpha1").withKind("Project").withPlural("projects").withNamespaced(true).build();

  private static ClusterProvider cluster;
  private static TestNamespace namespace;
  private static final List<String> crdsWeCreated = new ArrayList<>();

  @BeforeAll
  static void cluster(ClusterProvider provider) throws IOException {
    cluster = provider;
    KubernetesClient k = cluster.client();
    try (Stream<Path> files = Files.list(RepoFiles.root().resolve("helm/arbor/crds"))) {
      for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
        CustomResourceDefinition crd;
        try (InputStream in = Files.newInputStream(file)) {
          crd = k.apiextensions().v1().customResourceDefinitions().load(in).item();
        }
        if (k.apiextensions().v1().customResourceDefinitions().withName(crd.getMetadata().getName()).get() == null) {
          k.apiextensions().v1().customResourceDefinitions().resource(crd).create();
          crdsWeCreated.add(crd.getMetadata().getName());
        }
      }
    }
    for (String name : crdsWeCreated) {
      k.apiextensions().v1().customResourceDefinitions().withName(name)
          .waitUntilCondition(c -> c.getStatus() != null && c.getStatus().getConditions().stream()
              .anyMatch(cond -> cond.getType().equals("Established") && cond.getStatus().equals("True")), 1, TimeUnit.MINUTES);
    }
    namespace = TestNamespace.create(k);
  }

  @AfterAll
  static void removeWhatWeMade() {
    if (cluster == null) {
      return;
    }
    KubernetesClient k = cluster.client();
    if (namespace != null) {
      // The operator goes first; a Project it can no longer clean up would hold the namespace's deletion
      // with its finalizer, so that is taken off by hand.
      k.pods().inNamespace(namespace.name()).withName("arbor-operator").withGracePeriod(0).delete();
      for (GenericKubernetesResource p : k.genericKubernetesResources(PROJECTS).inNamespace(namespace.name()).list().getItems()) {
        k.genericKubernetesResources(PROJECTS).inNamespace(namespace.name()).withName(p.getMetadata().getName())
            .edit(r -> {
              r.getMetadata().setFinalizers(List.of());
              return r;
            });
      }
      namespace.close();
    }
    for (String name : crdsWeCreated) {
      k.apiextensions().v1().customResourceDefinitions().withName(name).delete();
    }
  }

  @Test
  void theOperatorImageRunsRestrictedAndReconcilesAProject() {
    KubernetesClient k = cluster.client();
    String ns = namespace.name();
    String pageserver = "http://arbor-pageserver." + ns + ".svc:9898";
    k.load(new ByteArrayInputStream(manifests(ns, cluster.image("operator"), cluster.imagePullPolicy(), pageserver)
        .getBytes(StandardCharsets.UTF_8))).inNamespace(ns).create();

    await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
      Pod pod = k.pods().inNamespace(ns).withName("arbor-operator").get();
      assertThat(pod.getStatus().getConditions()).as("operator pod conditions; its log:%n%s", log(k, ns))
          .anyMatch(c -> isTrue(c, "Ready"));
    });
    Lease lease = k.leases().inNamespace(ns).withName("arbor-operator").get();
    assertThat(lease).as("the operator's leader Lease").isNotNull();
    assertThat(lease.getSpec().getHolderIdentity()).isEqualTo("arbor-operator");

    k.load(new ByteArrayInputStream("""
        apiVersion: arbor.dev/v1alpha1
        kind: Project
        metadata: {name: shop}
        spec:
          roles: [{name: app, options: [LOGIN]}]
          databases: [{name: app, owner: app}]
        """.getBytes(StandardCharsets.UTF_8))).inNamespace(ns).create();
    await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
      Map<String, Object> ready = readyCondition(k.genericKubernetesResources(PROJECTS).inNamespace(ns).withName("shop").get());
      assertThat(ready).as("the Project's Ready condition; the operator's log:%n%s", log(k, ns)).isNotNull()
          .containsEntry("status", "False").containsEntry("reason", "StorageEngineUnavailable");
      assertThat((String) ready.get("message")).contains(pageserver);
    });
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> readyCondition(GenericKubernetesResource project) {
    if (project == null || !(project.getAdditionalProperties().get("status") instanceof Map<?, ?> status)
        || !(status.get("conditions") instanceof List<?> conditions)) {
      return null;
    }
    return conditions.stream().map(c -> (Map<String, Object>) c).filter(c -> "Ready".equals(c.get("type"))).findFirst().orElse(null);
  }

  private static boolean isTrue(PodCondition c, String type) {
    return c.getType().equals(type) && c.getStatus().equals("True");
  }

  private static String log(KubernetesClient k, String ns) {
    try {
      return k.pods().inNamespace(ns).withName("arbor-operator").getLog();
    } catch (RuntimeException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  /**
   * The operator with a namespaced Role (it watches only this namespace): what it reads and writes of
   * Arbor's kinds, the StatefulSets, Services and Secrets of endpoints, events, and its Lease.
   */
  private static String manifests(String ns, String image, String pullPolicy, String pageserver) {
    return """
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: arbor-operator}
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: Role
        metadata: {name: arbor-operator}
        rules:
        - apiGroups: [arbor.dev]
          resources: [projects, projects/status, projects/finalizers, branches, branches/status, branches/finalizers,
                      endpoints, endpoints/status, endpoints/finalizers]
          verbs: [get, list, watch, create, update, patch, delete]
        - apiGroups: [apps]
          resources: [statefulsets]
          verbs: [get, list, watch, create, update, patch, delete]
        - apiGroups: [""]
          resources: [services, secrets]
          verbs: [get, list, watch, create, update, patch, delete]
        - apiGroups: ["", events.k8s.io]
          resources: [events]
          verbs: [create, update, patch]
        - apiGroups: [coordination.k8s.io]
          resources: [leases]
          verbs: [get, list, watch, create, update, patch]
        ---
        apiVersion: rbac.authorization.k8s.io/v1
        kind: RoleBinding
        metadata: {name: arbor-operator}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: arbor-operator}
        subjects: [{kind: ServiceAccount, name: arbor-operator, namespace: %1$s}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: arbor-operator}
        spec:
          serviceAccountName: arbor-operator
          securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: operator
            image: %2$s
            imagePullPolicy: %3$s
            env:
            - {name: ARBOR_STORAGE_ENGINE_PAGESERVER_URL, value: "%4$s"}
            - {name: ARBOR_STORAGE_ENGINE_SAFEKEEPERS, value: "sk-0=http://arbor-safekeeper-0.%1$s.svc:7676"}
            - {name: ARBOR_STORAGE_ENGINE_ATTEMPTS, value: "1"}
            - {name: QUARKUS_OPERATOR_SDK_NAMESPACES, value: "%1$s"}
            ports: [{name: http, containerPort: 8080}]
            readinessProbe: {httpGet: {path: /q/health/ready, port: 8080}, periodSeconds: 2}
            securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
            volumeMounts: [{name: tmp, mountPath: /tmp}]
          volumes: [{name: tmp, emptyDir: {}}]
        """.formatted(ns, image, pullPolicy, pageserver);
  }
}
