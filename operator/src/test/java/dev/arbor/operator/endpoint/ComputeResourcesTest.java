package dev.arbor.operator.endpoint;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.operator.config.OperatorConfig;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.smallrye.config.WithDefault;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The compute pod template meets Pod Security "restricted" and more, with the operator's default configuration:
 * what LocalPod (the operator integration tests' kubelet) does not reproduce and the e2e cluster's admission does
 * not all check (a read-only root filesystem is not part of "restricted").
 */
class ComputeResourcesTest {

  private static final Endpoint ENDPOINT = Serialization.unmarshal("""
      apiVersion: arbor.dev/v1alpha1
      kind: Endpoint
      metadata: {name: shop-main-rw, namespace: team-a, uid: 6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c}
      spec: {branchRef: shop-main}
      """, Endpoint.class);

  /**
   * The operator's compute settings at their defaults (each method's {@code @WithDefault}, converted as SmallRye
   * converts it), but for {@code overrides} by method name; the template reads nothing else of the configuration.
   * (SmallRye itself cannot build the mapping here: it generates the implementation with ASM, which only Quarkus's
   * build step has.)
   */
  private static OperatorConfig config(Map<String, String> overrides) {
    OperatorConfig.Compute compute = proxy(OperatorConfig.Compute.class, m -> {
      String value = overrides.getOrDefault(m.getName(), m.getAnnotation(WithDefault.class).value());
      Class<?> type = m.getReturnType();
      if (type == int.class) {
        return Integer.parseInt(value);
      }
      if (type == long.class) {
        return Long.parseLong(value);
      }
      return type == List.class ? List.of(value.split(",")) : value;
    });
    return proxy(OperatorConfig.class, m -> {
      if (m.getName().equals("compute")) {
        return compute;
      }
      throw new UnsupportedOperationException("the compute template reads " + m.getName());
    });
  }

  private static <T> T proxy(Class<T> type, Function<Method, Object> answer) {
    return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, (p, m, args) -> answer.apply(m)));
  }

  private static PodSpec podTemplate(OperatorConfig config) {
    var inputs = new ComputeResources.Inputs(ENDPOINT, "shop-main", "shop", "{}", Map.of("app", "app"), "shop-role-passwords", "app",
        "secret", "app", true, Map.of(), false);
    return ComputeResources.statefulSet(inputs, config, false).getSpec().getTemplate().getSpec();
  }

  @Test
  void thePodRunsAsTheImagesNonRootUserUnderTheRuntimesSeccompProfileWithoutAServiceAccountToken() {
    PodSpec pod = podTemplate(config(Map.of()));
    assertThat(pod.getAutomountServiceAccountToken()).as("automountServiceAccountToken").isFalse();
    var security = pod.getSecurityContext();
    assertThat(security.getRunAsNonRoot()).as("runAsNonRoot").isTrue();
    assertThat(security.getRunAsUser()).as("runAsUser: the images' user").isEqualTo(10001L);
    assertThat(security.getRunAsGroup()).as("runAsGroup").isEqualTo(10001L);
    assertThat(security.getFsGroup()).as("fsGroup: the volumes are the user's group's").isEqualTo(10001L);
    assertThat(security.getSeccompProfile().getType()).as("seccompProfile").isEqualTo("RuntimeDefault");
    assertThat(pod.getHostNetwork()).as("hostNetwork").isNotEqualTo(true);
    assertThat(pod.getHostPID()).as("hostPID").isNotEqualTo(true);
    assertThat(pod.getHostIPC()).as("hostIPC").isNotEqualTo(true);
  }

  @Test
  void theContainerHasAReadOnlyRootNoCapabilitiesAndNoPrivilegeEscalation() {
    PodSpec pod = podTemplate(config(Map.of()));
    assertThat(pod.getContainers()).hasSize(1);
    assertThat(pod.getInitContainers()).isEmpty();
    Container c = pod.getContainers().get(0);
    var security = c.getSecurityContext();
    assertThat(security.getReadOnlyRootFilesystem()).as("readOnlyRootFilesystem").isTrue();
    assertThat(security.getAllowPrivilegeEscalation()).as("allowPrivilegeEscalation").isFalse();
    assertThat(security.getPrivileged()).as("privileged").isNotEqualTo(true);
    assertThat(security.getCapabilities().getDrop()).as("capabilities dropped").containsExactly("ALL");
    assertThat(security.getCapabilities().getAdd()).as("capabilities added").isNullOrEmpty();
    // Where it writes, with a read-only root: PGDATA below the data path, sockets and temporary files in /tmp, both
    // emptyDirs (no hostPath). Its storage token is a Secret mounted read-only (0440: the pod's group reads it), whole.
    Map<String, Volume> volumes = pod.getVolumes().stream().collect(Collectors.toMap(Volume::getName, v -> v));
    assertThat(c.getVolumeMounts()).extracting(m -> m.getMountPath()).containsExactlyInAnyOrder("/var/lib/arbor", "/tmp",
        ComputeResources.STORAGE_TOKEN_DIR);
    assertThat(c.getVolumeMounts()).filteredOn(m -> m.getMountPath().equals(ComputeResources.STORAGE_TOKEN_DIR)).singleElement()
        .satisfies(m -> {
          assertThat(m.getReadOnly()).isTrue();
          assertThat(m.getSubPath()).as("subPath: the kubelet would never update the file").isNull();
          assertThat(volumes.get(m.getName()).getSecret().getSecretName()).isEqualTo(ENDPOINT.getMetadata().getName() + "-storage-token");
          assertThat(volumes.get(m.getName()).getSecret().getDefaultMode()).isEqualTo(0440);
        });
    assertThat(c.getVolumeMounts()).filteredOn(m -> !m.getMountPath().equals(ComputeResources.STORAGE_TOKEN_DIR)).allSatisfy(m -> {
      assertThat(m.getReadOnly()).as("%s read-only", m.getMountPath()).isNotEqualTo(true);
      assertThat(volumes.get(m.getName()).getEmptyDir()).as("the volume at %s is an emptyDir", m.getMountPath()).isNotNull();
    });
    assertThat(pod.getVolumes()).allSatisfy(v -> assertThat(v.getHostPath()).as("hostPath of %s", v.getName()).isNull());
  }

  @Test
  void theUserIsTheConfiguredOne() {
    OperatorConfig config = config(Map.of("runAsUser", "20002"));
    var security = podTemplate(config).getSecurityContext();
    assertThat(security.getRunAsUser()).isEqualTo(20002L);
    assertThat(security.getRunAsGroup()).isEqualTo(20002L);
    assertThat(security.getFsGroup()).isEqualTo(20002L);
  }

  /**
   * With TLS, the pod also mounts its certificate Secret whole and read-only, and a headless Service gives it the name its
   * certificate carries: a valid Service name (a DNS label) for the longest Endpoint name the CRD admits (52).
   */
  @Test
  void withTlsTheCertificateIsMountedAndTheReplicationServiceNameFitsTheLongestEndpointName() {
    Endpoint longest = Serialization.unmarshal("""
        apiVersion: arbor.dev/v1alpha1
        kind: Endpoint
        metadata: {name: %s, namespace: team-a, uid: 6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c}
        spec: {branchRef: shop-main}
        """.formatted("e" + "x".repeat(51)), Endpoint.class);
    OperatorConfig config = config(Map.of());
    var inputs = new ComputeResources.Inputs(longest, "shop-main", "shop", "{}", Map.of("app", "app"), "shop-role-passwords", "app",
        "secret", "app", true, Map.of(), true);
    var service = ComputeResources.replicationService(inputs, config);
    assertThat(service.getMetadata().getName()).hasSizeLessThanOrEqualTo(63).matches("^[a-z]([-a-z0-9]*[a-z0-9])?$");
    assertThat(service.getSpec().getClusterIP()).isEqualTo("None");
    assertThat(ComputeResources.specTls(longest, config).dnsName())
        .isEqualTo(service.getMetadata().getName() + ".team-a." + config.compute().serviceDomain());
    PodSpec pod = ComputeResources.statefulSet(inputs, config, false).getSpec().getTemplate().getSpec();
    Map<String, Volume> volumes = pod.getVolumes().stream().collect(Collectors.toMap(Volume::getName, v -> v));
    assertThat(pod.getContainers().getFirst().getVolumeMounts()).filteredOn(m -> m.getMountPath().equals(ComputeResources.TLS_DIR))
        .singleElement().satisfies(m -> {
          assertThat(m.getReadOnly()).isTrue();
          assertThat(m.getSubPath()).isNull();
          assertThat(volumes.get(m.getName()).getSecret().getSecretName()).isEqualTo(longest.getMetadata().getName() + "-tls");
        });
  }
}
