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
 * Arbor on Kubernetes from its three images, every pod under Pod Security "restricted" with a read-only
 * root filesystem. arbor-operator (a JRE and the operator, no shell) talks to the API server with its
 * service account and a namespaced Role, takes its leader Lease and reconciles a Project: with no storage
 * engine to reach, the Project says so in a condition; once arbor-storage's pageserver and three
 * safekeepers answer, the Project and its root Branch become Ready. An Endpoint then gets a StatefulSet
 * whose arbor-compute pod starts from the storage engine, and a client pod commits and reads through the
 * Endpoint's Service with the URI of its connection Secret. Arbor's CRDs are created when the cluster
 * lacks them and removed again; the rest lives in one namespace.
 */
@ExtendWith(SharedCluster.class)
class OperatorImageOnClusterE2ETest {
  private static final ResourceDefinitionContext PROJECTS = new ResourceDefinitionContext.Builder()
      .withGroup("arbor.dev").withVersion("v1alpha1").withKind("Project").withPlural("projects").withNamespaced(true).build();
  private static final ResourceDefinitionContext BRANCHES = new ResourceDefinitionContext.Builder()
      .withGroup("arbor.dev").withVersion("v1alpha1").withKind("Branch").withPlural("branches").withNamespaced(true).build();
  private static final ResourceDefinitionContext ENDPOINTS = new ResourceDefinitionContext.Builder()
      .withGroup("arbor.dev").withVersion("v1alpha1").withKind("Endpoint").withPlural("endpoints").withNamespaced(true).build();

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
      // The operator goes first: it loses its permissions at once (a container being killed may still run
      // for a moment, and would put the finalizers back), then its pod. An object it can no longer clean up
      // would hold the namespace's deletion with its finalizer, so those are taken off by hand.
      k.rbac().roleBindings().inNamespace(namespace.name()).withName("arbor-operator").delete();
      k.pods().inNamespace(namespace.name()).withName("arbor-operator").withGracePeriod(0).delete();
      await().atMost(Duration.ofMinutes(1)).until(() -> k.pods().inNamespace(namespace.name()).withName("arbor-operator").get() == null);
      for (ResourceDefinitionContext kind : List.of(PROJECTS, BRANCHES, ENDPOINTS)) {
        for (GenericKubernetesResource r : k.genericKubernetesResources(kind).inNamespace(namespace.name()).list().getItems()) {
          k.genericKubernetesResources(kind).inNamespace(namespace.name()).withName(r.getMetadata().getName()).edit(e -> {
            e.getMetadata().setFinalizers(List.of());
            return e;
          });
        }
      }
      namespace.close();
    }
    for (String name : crdsWeCreated) {
      k.apiextensions().v1().customResourceDefinitions().withName(name).delete();
    }
  }

  @Test
  void projectBranchAndEndpointServeSqlFromArborsImagesInARestrictedNamespace() {
    KubernetesClient k = cluster.client();
    String ns = namespace.name();
    String pageserver = "http://arbor-pageserver." + ns + ".svc:9898";
    k.load(new ByteArrayInputStream(manifests(ns, cluster.image("operator"), cluster.imagePullPolicy(), pageserver, cluster.image("compute"))
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

    // Once the storage engine (arbor-storage's image, restricted too) answers at that address, the operator's
    // retries create the tenant (initdb of PostgreSQL 17 in the pageserver's container) and the root Branch.
    k.load(new ByteArrayInputStream(storage(ns, cluster.image("storage"), cluster.imagePullPolicy())
        .getBytes(StandardCharsets.UTF_8))).inNamespace(ns).create();
    await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
      Map<String, Object> ready = readyCondition(k.genericKubernetesResources(PROJECTS).inNamespace(ns).withName("shop").get());
      assertThat(ready).as("the Project's Ready condition; the operator's log:%n%s%nthe pageserver's log:%n%s", log(k, ns),
          log(k, ns, "arbor-storage", "pageserver")).isNotNull().containsEntry("status", "True");
    });
    await().atMost(Duration.ofMinutes(1)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
      Map<String, Object> ready = readyCondition(k.genericKubernetesResources(BRANCHES).inNamespace(ns).withName("shop-main").get());
      assertThat(ready).as("the root Branch shop-main's Ready condition").isNotNull().containsEntry("status", "True");
    });

    // The safekeepers too (the Project needed only the pageserver): a compute that starts before they
    // answer fails its start and is restarted by the kubelet, with back-off.
    await().atMost(Duration.ofMinutes(2)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() ->
        assertThat(k.pods().inNamespace(ns).withName("arbor-storage").get().getStatus().getConditions())
            .as("storage pod conditions").anyMatch(c -> isTrue(c, "Ready")));

    // An Endpoint on the root Branch: the operator's StatefulSet runs arbor-compute (a restricted pod), which
    // starts from the pageserver and streams to the three safekeepers; a client pod connects with the URI of
    // the connection Secret, through the Endpoint's Service, and its commit is acknowledged by the quorum.
    k.load(new ByteArrayInputStream(("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: shop-main-rw}
        spec: {branchRef: shop-main, mode: ReadWrite}
        ---
        """ + PsqlClient.pod(cluster.image("compute"), cluster.imagePullPolicy(), 240,
            "\"$URI\" -Atc \"CREATE TABLE IF NOT EXISTS t (v int); INSERT INTO t VALUES (42); SELECT 'answer=' || sum(v) FROM t\"",
            "[{name: URI, valueFrom: {secretKeyRef: {name: shop-main-rw-connection, key: uri}}}]")).getBytes(StandardCharsets.UTF_8)))
        .inNamespace(ns).create();
    String phase = PsqlClient.awaitEnd(k, ns, Duration.ofMinutes(5));
    String out = log(k, ns, PsqlClient.NAME, null);
    assertThat(phase)
        .as("client log:%n%s%ncompute log:%n%s%noperator log:%n%s%nwarnings in the namespace:%n%s", out,
            log(k, ns, "shop-main-rw-0", null), log(k, ns), warnings(k, ns))
        .isEqualTo("Succeeded");
    assertThat(out).contains("answer=42");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> readyCondition(GenericKubernetesResource resource) {
    if (resource == null || !(resource.getAdditionalProperties().get("status") instanceof Map<?, ?> status)
        || !(status.get("conditions") instanceof List<?> conditions)) {
      return null;
    }
    return conditions.stream().map(c -> (Map<String, Object>) c).filter(c -> "Ready".equals(c.get("type"))).findFirst().orElse(null);
  }

  /** The namespace's Warning events (a pod the StatefulSet could not create, a failing probe, ...). */
  private static String warnings(KubernetesClient k, String ns) {
    return k.v1().events().inNamespace(ns).list().getItems().stream().filter(e -> "Warning".equals(e.getType()))
        .map(e -> e.getInvolvedObject().getKind() + "/" + e.getInvolvedObject().getName() + ": " + e.getReason() + ": " + e.getMessage())
        .reduce("", (a, b) -> a + b + "\n");
  }

  private static boolean isTrue(PodCondition c, String type) {
    return c.getType().equals(type) && c.getStatus().equals("True");
  }

  private static String log(KubernetesClient k, String ns) {
    return log(k, ns, "arbor-operator", null);
  }

  private static String log(KubernetesClient k, String ns, String pod, String container) {
    return PsqlClient.log(k, ns, pod, container);
  }

  /**
   * The operator with a namespaced Role (it watches only this namespace): what it reads and writes of
   * Arbor's kinds, the StatefulSets, Services and Secrets of endpoints, events, and its Lease.
   */
  private static String manifests(String ns, String image, String pullPolicy, String pageserver, String computeImage) {
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
            - {name: ARBOR_STORAGE_ENGINE_SAFEKEEPERS, value: "sk-0=http://arbor-safekeeper-0.%1$s.svc:7676,sk-1=http://arbor-safekeeper-1.%1$s.svc:7676,sk-2=http://arbor-safekeeper-2.%1$s.svc:7676"}
            - {name: ARBOR_COMPUTE_IMAGE, value: "%5$s"}
            - {name: ARBOR_COMPUTE_IMAGE_PULL_POLICY, value: "%3$s"}
            - {name: ARBOR_STORAGE_ENGINE_ATTEMPTS, value: "1"}
            - {name: QUARKUS_OPERATOR_SDK_NAMESPACES, value: "%1$s"}
            ports: [{name: http, containerPort: 8080}]
            readinessProbe: {httpGet: {path: /q/health/ready, port: 8080}, periodSeconds: 2}
            securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
            volumeMounts: [{name: tmp, mountPath: /tmp}]
          volumes: [{name: tmp, emptyDir: {}}]
        """.formatted(ns, image, pullPolicy, pageserver, computeImage);
  }

  /**
   * The storage engine from arbor-storage: a pageserver and three safekeepers as containers of one pod, so
   * that they share the object store (an emptyDir), each with its own data directory, and a Service each.
   */
  private static String storage(String ns, String image, String pullPolicy) {
    StringBuilder containers = new StringBuilder();
    StringBuilder services = new StringBuilder();
    String common = """
            imagePullPolicy: %s
            securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        """.formatted(pullPolicy);
    containers.append("""
          - name: pageserver
            image: %2$s
            args: [pageserver, --listen, "0.0.0.0:9898", --object-store, /var/lib/arbor/objects, --work-dir, /var/lib/arbor/ps,
                   --safekeepers, "http://arbor-safekeeper-0.%1$s.svc:7676,http://arbor-safekeeper-1.%1$s.svc:7676,http://arbor-safekeeper-2.%1$s.svc:7676",
                   --advertise, "http://arbor-pageserver.%1$s.svc:9898"]
            readinessProbe: {httpGet: {path: /v1/status, port: 9898}, periodSeconds: 1}
            volumeMounts: [{name: objects, mountPath: /var/lib/arbor/objects}, {name: ps, mountPath: /var/lib/arbor/ps}, {name: tmp, mountPath: /tmp}]
        """.formatted(ns, image)).append(common);
    services.append(service("arbor-pageserver", 9898, 9898));
    for (int i = 0; i < 3; i++) {
      containers.append("""
            - name: sk-%1$d
              image: %2$s
              args: [safekeeper, --id, sk-%1$d, --listen, "0.0.0.0:%3$d", --data-dir, /var/lib/arbor/sk, --object-store, /var/lib/arbor/objects]
              readinessProbe: {httpGet: {path: /v1/status, port: %3$d}, periodSeconds: 1}
              volumeMounts: [{name: objects, mountPath: /var/lib/arbor/objects}, {name: sk-%1$d, mountPath: /var/lib/arbor/sk}, {name: tmp, mountPath: /tmp}]
          """.formatted(i, image, 7676 + i)).append(common);
      services.append(service("arbor-safekeeper-" + i, 7676, 7676 + i));
    }
    return """
        apiVersion: v1
        kind: Pod
        metadata: {name: arbor-storage, labels: {app: arbor-storage}}
        spec:
          securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}
          containers:
        %s  volumes: [{name: objects, emptyDir: {}}, {name: ps, emptyDir: {}}, {name: tmp, emptyDir: {}},
                    {name: sk-0, emptyDir: {}}, {name: sk-1, emptyDir: {}}, {name: sk-2, emptyDir: {}}]
        %s""".formatted(containers, services);
  }

  private static String service(String name, int port, int targetPort) {
    return """
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: %s}
        spec:
          selector: {app: arbor-storage}
          ports: [{port: %d, targetPort: %d}]
        """.formatted(name, port, targetPort);
  }
}
