package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testing.KubernetesFixture;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The chart grants the operator exactly what its code uses, no more: each grant below names the code that
 * needs it. The operator integration tests run the operator with the chart's rendered RBAC ({@link ChartRbac}),
 * which shows that nothing is missing on the paths they take; this test also catches a grant nobody uses.
 */
class ChartRbacTest {

  /** "group/resource" → verbs, with why. The core group is "". */
  static final Map<String, List<String>> NEEDED = Map.ofEntries(
      // JOSDK informers (list, watch); the finalizer added by server-side apply and removed by JSON patch, whose
      // conflict retry reads the object again (get, patch); the status patched (SSA or merge patch).
      Map.entry("arbor.dev/projects", List.of("get", "list", "watch", "patch")),
      Map.entry("arbor.dev/projects/status", List.of("patch")),
      // blockOwnerDeletion on what a Project owns (its root Branch, its role-passwords Secret).
      Map.entry("arbor.dev/projects/finalizers", List.of("update")),
      // As projects, plus the root Branch the Project creates, and the expiry that deletes a Branch.
      Map.entry("arbor.dev/branches", List.of("get", "list", "watch", "patch", "create", "delete")),
      Map.entry("arbor.dev/branches/status", List.of("patch")),
      // Endpoints have no finalizer: informers and the status only (no code reads an Endpoint by name).
      Map.entry("arbor.dev/endpoints", List.of("list", "watch")),
      Map.entry("arbor.dev/endpoints/status", List.of("patch")),
      // blockOwnerDeletion on an Endpoint's StatefulSet, Service and connection Secret.
      Map.entry("arbor.dev/endpoints/finalizers", List.of("update")),
      // The role-passwords and connection-secrets informers (label-selected); the Project reads its Secret, creates it,
      // and merge-patches a missing password into it; the connection Secret, applied server-side (create, patch).
      Map.entry("/secrets", List.of("get", "list", "watch", "create", "patch")),
      // The compute's Service: applied server-side, read by name (takenNames, proxyPort), and its informer
      // (label-selected), so that a deleted one is applied again at once.
      Map.entry("/services", List.of("get", "list", "watch", "create", "patch")),
      // The compute's StatefulSet: applied server-side, watched for readiness, removed from a second writer.
      Map.entry("apps/statefulsets", List.of("get", "list", "watch", "create", "patch", "delete")),
      // The EndpointSlice of an Endpoint's Service: applied server-side, and its informer (label-selected).
      Map.entry("discovery.k8s.io/endpointslices", List.of("list", "watch", "create", "patch")),
      // The PGDATA claims of read-write Endpoints (PgdataVolume): their informer (label-selected), the GET that finds
      // a foreign claim of the name (NameTaken), the create of a missing one, the delete when the setting is off.
      Map.entry("/persistentvolumeclaims", List.of("get", "list", "watch", "create", "delete")),
      // The compute pods' informer (label-selected), for a crash-looping compute.
      Map.entry("/pods", List.of("list", "watch")),
      // KubeEvents creates core/v1 Events.
      Map.entry("/events", List.of("create")));

  /** The leader election Lease (fabric8 LeaseLock: created, then renewed by patch), in the release's namespace only. */
  static final Map<String, List<String>> NEEDED_IN_RELEASE_NAMESPACE = Map.of(
      "coordination.k8s.io/leases", List.of("get", "create", "update", "patch"));

  /**
   * TokenIssuer, in the release's namespace: the signing-key Secret created when missing, else read; the key-set ConfigMap
   * and the daemons' token Secret read and applied server-side (create when new, patch after); the key Secret updated at
   * each step of a key rotation (an update of the version read, so two replicas cannot both step). By name only (the Role's
   * resourceNames), but for create, which RBAC cannot narrow by name.
   */
  static final Map<String, List<String>> NEEDED_FOR_STORAGE_AUTH = Map.of("/secrets", List.of("get", "create", "patch", "update"),
      "/configmaps", List.of("get", "create", "patch"));

  /** The proxy pods' informer (ProxyPods), in the release's namespace, where the chart runs arbor-proxy. */
  static final Map<String, List<String>> NEEDED_FOR_PROXY_PODS = Map.of("/pods", List.of("list", "watch"));

  @Test
  void theChartGrantsExactlyWhatTheOperatorUses() throws Exception {
    List<HasMetadata> objects = new KubernetesSerialization().unmarshal(ChartRbac.renderRbac(new KubernetesFixture()));
    ClusterRole cluster = objects.stream().filter(ClusterRole.class::isInstance).map(ClusterRole.class::cast).findFirst().orElseThrow();
    Role leader = role(objects, "arbor-operator-leader-election");
    Role proxyPods = role(objects, "arbor-operator-proxy-pods");
    Role storageAuth = role(objects, "arbor-operator-storage-auth");
    assertThat(grants(cluster.getRules())).as("the chart's ClusterRole (helm/arbor/templates/operator-rbac.yaml)").isEqualTo(sorted(NEEDED));
    assertThat(grants(leader.getRules())).as("the chart's leader-election Role").isEqualTo(sorted(NEEDED_IN_RELEASE_NAMESPACE));
    assertThat(grants(proxyPods.getRules())).as("the chart's proxy-pods Role").isEqualTo(sorted(NEEDED_FOR_PROXY_PODS));
    assertThat(proxyPods.getMetadata().getNamespace()).isEqualTo(ChartRbac.NAMESPACE);
    assertThat(grants(storageAuth.getRules())).as("the chart's storage-auth Role").isEqualTo(sorted(NEEDED_FOR_STORAGE_AUTH));
    assertThat(storageAuth.getMetadata().getNamespace()).isEqualTo(ChartRbac.NAMESPACE);
    // Reading and changing are by name: the signing key and the tokens only, not every Secret of the namespace.
    assertThat(storageAuth.getRules()).filteredOn(r -> r.getVerbs().contains("get") || r.getVerbs().contains("patch"))
        .allSatisfy(r -> assertThat(r.getResourceNames()).as("resourceNames of %s", r).isNotEmpty());
  }

  private static Role role(List<HasMetadata> objects, String name) {
    return objects.stream().filter(Role.class::isInstance).map(Role.class::cast).filter(r -> r.getMetadata().getName().equals(name))
        .findFirst().orElseThrow(() -> new AssertionError("the chart renders no Role " + name));
  }

  private static Map<String, TreeSet<String>> grants(List<PolicyRule> rules) {
    Map<String, TreeSet<String>> out = new TreeMap<>();
    for (PolicyRule r : rules) {
      for (String group : r.getApiGroups()) {
        for (String resource : r.getResources()) {
          out.computeIfAbsent(group + "/" + resource, k -> new TreeSet<>()).addAll(r.getVerbs());
        }
      }
    }
    return out;
  }

  private static Map<String, TreeSet<String>> sorted(Map<String, List<String>> in) {
    Map<String, TreeSet<String>> out = new TreeMap<>();
    in.forEach((k, v) -> out.put(k, new TreeSet<>(v)));
    return out;
  }
}
