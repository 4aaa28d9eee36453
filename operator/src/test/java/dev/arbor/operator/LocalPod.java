package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.client.ServiceLaunch;
import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.client.ComputeSpecJson;
import dev.arbor.client.auth.SigningKey;
import dev.arbor.testing.AgentProcess;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Plays kubelet for one pod of a compute StatefulSet, without a cluster: reads the pod template and the Secrets
 * it references from the API server, builds the container's environment the way the kubelet does (fieldRef,
 * secretKeyRef, {@code $(VAR)} expansion from earlier variables), and runs the container's main class, the
 * compute agent, as a local process. It substitutes three things, each explicit here:
 * <ul>
 *   <li>the pod IP ({@code status.podIP}) is a fresh loopback address, so the pod's ports are its own;</li>
 *   <li>the data emptyDir is a local directory: the spec's work_dir below the volume's mount path is moved
 *       under that directory;</li>
 *   <li>a Secret volume is a local directory holding the Secret's items as files (0600), and the spec's
 *       storage_token_file below its mount path is moved there; {@link #syncSecretVolumes()} writes them again from
 *       the API server, each file replaced whole, as the kubelet's periodic sync does;</li>
 *   <li>the image's {@code java -cp ...} becomes this JVM with the test classpath (the same classes).</li>
 * </ul>
 * And it does not reproduce the rest of the pod, so the tests that use it show nothing about these:
 * <ul>
 *   <li>the image: its files, its JVM options and its PostgreSQL build (the agent finds this machine's);</li>
 *   <li>the securityContext: the agent runs as the test's user, with a writable root filesystem (no /tmp
 *       emptyDir either), with the test process's capabilities and seccomp;</li>
 *   <li>the resources: no requests or limits apply;</li>
 *   <li>the probes: nothing runs the liveness probe (a hung agent is not restarted), and the readiness probe
 *       only when a test calls {@link #readiness()}; nor is a crashed agent restarted.</li>
 * </ul>
 * ComputeResourcesTest checks the pod template's security settings; e2e/HelmInstallE2ETest runs real pods.
 */
public final class LocalPod {
  final String podIp;
  final Map<String, String> env;
  final ComputeAgentSpec spec;
  /** The container's readiness probe as the kubelet would run it: an HTTP GET of this URL. */
  final URI readinessUrl;
  private final KubernetesClient client;
  private final String namespace;
  /** Secret name → the local directory standing for its volume. */
  private final Map<String, Path> secretVolumes;

  private LocalPod(String podIp, Map<String, String> env, ComputeAgentSpec spec, URI readinessUrl, KubernetesClient client,
      String namespace, Map<String, Path> secretVolumes) {
    this.podIp = podIp;
    this.env = env;
    this.spec = spec;
    this.readinessUrl = readinessUrl;
    this.client = client;
    this.namespace = namespace;
    this.secretVolumes = secretVolumes;
  }

  /** The local file holding the compute's storage token (the spec's storage_token_file, moved here). */
  Path storageTokenFile() {
    assertThat(spec.storageTokenFile()).as("the compute spec's storage_token_file").isNotNull();
    return Path.of(spec.storageTokenFile());
  }

  /** Writes every Secret volume's files again from the API server, as the kubelet does after a Secret changed. */
  void syncSecretVolumes() throws IOException {
    for (var v : secretVolumes.entrySet()) {
      writeSecret(client, namespace, v.getKey(), v.getValue());
    }
  }

  private static void writeSecret(KubernetesClient client, String ns, String name, Path dir) throws IOException {
    Secret s = client.secrets().inNamespace(ns).withName(name).get();
    assertThat(s).as("Secret " + name + " mounted by the pod").isNotNull();
    for (var item : s.getData().entrySet()) {
      SigningKey.writePrivately(dir.resolve(item.getKey()), new String(Base64.getDecoder().decode(item.getValue()), StandardCharsets.UTF_8));
    }
  }

  static LocalPod of(KubernetesClient client, String namespace, String statefulSet, Path volumeRoot) throws IOException {
    StatefulSet sts = client.apps().statefulSets().inNamespace(namespace).withName(statefulSet).get();
    assertThat(sts).as("StatefulSet " + statefulSet).isNotNull();
    PodSpec pod = sts.getSpec().getTemplate().getSpec();
    assertThat(pod.getContainers()).hasSize(1);
    Container c = pod.getContainers().get(0);
    assertThat(c.getCommand()).as("the container runs the compute agent").last().isEqualTo(ServiceLaunch.COMPUTE_AGENT.mainClass());

    String podIp = freeLoopbackAddress(c.getPorts().stream().map(p -> p.getContainerPort()).toList());
    Map<String, String> env = new LinkedHashMap<>();
    for (EnvVar v : c.getEnv()) {
      env.put(v.getName(), value(client, namespace, v, env, podIp));
    }
    String specJson = env.get("ARBOR_COMPUTE_SPEC");
    assertThat(specJson).as("the compute spec in the container's environment").isNotNull();

    ComputeAgentSpec podSpec = ComputeSpecJson.parse(specJson);
    Path workDir = podSpec.workDir();
    VolumeMount data = c.getVolumeMounts().stream()
        .filter(m -> pod.getVolumes().stream().anyMatch(v -> v.getName().equals(m.getName()) && v.getEmptyDir() != null))
        .filter(m -> workDir.startsWith(Path.of(m.getMountPath())))
        .findFirst().orElseThrow(() -> new AssertionError("work_dir " + workDir + " lies on none of the pod's emptyDirs "
            + c.getVolumeMounts()));
    Path mount = Path.of(data.getMountPath());
    Path local = volumeRoot.resolve(data.getName()).resolve(mount.relativize(workDir).toString());
    Files.createDirectories(volumeRoot.resolve(data.getName()));
    // Secret volumes: the kubelet would not start the pod before the Secret exists.
    Map<String, Path> secretVolumes = new LinkedHashMap<>();
    String tokenFile = podSpec.storageTokenFile();
    for (VolumeMount m : c.getVolumeMounts()) {
      var volume = pod.getVolumes().stream().filter(v -> v.getName().equals(m.getName()) && v.getSecret() != null).findFirst();
      if (volume.isEmpty()) {
        continue;
      }
      assertThat(m.getSubPath()).as("Secret volume " + m.getName() + " is mounted whole (a subPath mount is never updated)").isNull();
      Path dir = volumeRoot.resolve(m.getName());
      Files.createDirectories(dir);
      String secretName = volume.get().getSecret().getSecretName();
      await().atMost(java.time.Duration.ofMinutes(1)).untilAsserted(() ->
          assertThat(client.secrets().inNamespace(namespace).withName(secretName).get()).as("Secret " + secretName).isNotNull());
      writeSecret(client, namespace, secretName, dir);
      secretVolumes.put(secretName, dir);
      if (tokenFile != null && Path.of(tokenFile).startsWith(Path.of(m.getMountPath()))) {
        tokenFile = dir.resolve(Path.of(m.getMountPath()).relativize(Path.of(tokenFile)).toString()).toString();
      }
    }
    ComputeAgentSpec spec = podSpec;
    spec = new ComputeAgentSpec(spec.formatVersion(), spec.tenantId(), spec.timelineId(), spec.mode(), spec.lsn(), spec.pageserverUrl(),
        spec.safekeepers(), spec.postgresVersion(), spec.listenHost(), spec.port(), spec.httpPort(), local, spec.parameters(),
        spec.roles(), spec.databases(), spec.suspendTimeout(), tokenFile, spec.storageCaFile(), spec.storageInsecureHttp(), spec.tls());
    env.put("ARBOR_COMPUTE_SPEC", ComputeSpecJson.toJson(spec));
    HTTPGetAction probe = c.getReadinessProbe().getHttpGet();
    assertThat(probe).as("the container's readiness probe is an HTTP GET").isNotNull();
    int probePort = c.getPorts().stream().filter(p -> p.getName().equals(probe.getPort().getStrVal())).findFirst()
        .orElseThrow(() -> new AssertionError("the readiness probe's port " + probe.getPort() + " is none of the container's"))
        .getContainerPort();
    return new LocalPod(podIp, env, spec, URI.create("http://" + podIp + ":" + probePort + probe.getPath()), client, namespace,
        secretVolumes);
  }

  /** The status code the readiness probe gets now (the kubelet counts 200-399 as ready). */
  int readiness() throws IOException, InterruptedException {
    try (HttpClient http = HttpClient.newHttpClient()) {
      return http.send(HttpRequest.newBuilder(readinessUrl).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }
  }

  /** Starts the agent with the pod's environment (the spec comes from $ARBOR_COMPUTE_SPEC, as in the pod). */
  AgentProcess start() throws IOException {
    return AgentProcess.launch(spec, List.of(), env);
  }

  private static String value(KubernetesClient client, String ns, EnvVar v, Map<String, String> earlier, String podIp) {
    if (v.getValueFrom() == null) {
      return expand(v.getValue() == null ? "" : v.getValue(), earlier);
    }
    var from = v.getValueFrom();
    if (from.getFieldRef() != null) {
      assertThat(from.getFieldRef().getFieldPath()).isEqualTo("status.podIP");
      return podIp;
    }
    if (from.getSecretKeyRef() != null) {
      Secret s = client.secrets().inNamespace(ns).withName(from.getSecretKeyRef().getName()).get();
      assertThat(s).as("Secret " + from.getSecretKeyRef().getName() + " referenced by " + v.getName()).isNotNull();
      String b64 = s.getData().get(from.getSecretKeyRef().getKey());
      assertThat(b64).as("key " + from.getSecretKeyRef().getKey() + " of Secret " + s.getMetadata().getName()).isNotNull();
      return new String(Base64.getDecoder().decode(b64), StandardCharsets.UTF_8);
    }
    throw new AssertionError("env " + v.getName() + " uses a source this test does not materialize: " + from);
  }

  /**
   * The kubelet's rule for env values (its third_party/forked/golang/expansion): {@code $$} is one {@code $};
   * {@code $(NAME)} is NAME's value when NAME was defined earlier in the list, else it stays as written; an unclosed
   * {@code $(} and a {@code $} before any other character stay as they are.
   */
  public static String expand(String value, Map<String, String> earlier) {
    StringBuilder out = new StringBuilder();
    int i = 0;
    while (i < value.length()) {
      char c = value.charAt(i);
      if (c != '$' || i + 1 == value.length()) {
        out.append(c);
        i++;
        continue;
      }
      char next = value.charAt(i + 1);
      int close = next == '(' ? value.indexOf(')', i + 2) : -1;
      if (next == '$') {
        out.append('$');
      } else if (close >= 0) {
        String name = value.substring(i + 2, close);
        out.append(earlier.getOrDefault(name, "$(" + name + ")"));
        i = close + 1;
        continue;
      } else {
        out.append('$').append(next);
      }
      i += 2;
    }
    return out.toString();
  }

  private static String freeLoopbackAddress(List<Integer> ports) throws IOException {
    for (int attempt = 0; attempt < 50; attempt++) {
      var r = ThreadLocalRandom.current();
      String ip = "127." + r.nextInt(100, 250) + "." + r.nextInt(1, 250) + "." + r.nextInt(2, 250);
      if (ports.stream().allMatch(p -> bindable(ip, p))) {
        return ip;
      }
    }
    throw new IOException("no free loopback address with ports " + ports);
  }

  private static boolean bindable(String ip, int port) {
    try (var s = new ServerSocket()) {
      s.bind(new InetSocketAddress(InetAddress.getByName(ip), port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
