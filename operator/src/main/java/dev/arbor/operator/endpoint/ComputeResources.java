package dev.arbor.operator.endpoint;

import dev.arbor.client.ComputeAgentClient;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.arbor.api.compute.AgentCommand;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.operator.auth.TokenSecrets;
import dev.arbor.operator.config.OperatorConfig;
import dev.arbor.operator.kube.Labels;
import dev.arbor.client.Json;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSecurityContextBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.apps.StatefulSetBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Kubernetes objects of one compute, described from the Endpoint and what the reconciler resolved: a
 * StatefulSet (one pod, or none while suspended) running the compute agent, a Service without a selector whose
 * EndpointSlice sends it to the Endpoint's port on the arbor-proxy pods, the connection Secret, and, opted in, the
 * {@link PgdataVolume} claim its data volume lives on. The compute spec travels in the pod's environment ({@value #SPEC_ENV}) so that the
 * kubelet can put the pod's own IP into it ({@code $(POD_IP)} expansion; PostgreSQL must listen on a concrete
 * address the safekeepers can reach) and so that a spec change rolls the pod, which is the only way a compute
 * picks one up.
 */
final class ComputeResources {
  static final String SPEC_ENV = AgentCommand.SPEC_ENV;
  static final String POD_IP_ENV = "POD_IP";
  static final String POD_IP = "$(" + POD_IP_ENV + ")";
  static final String CONTAINER = "compute";
  static final String DATA_VOLUME = "data";
  static final String TMP_VOLUME = "tmp";
  /**
   * The Endpoint's storage-token Secret, mounted as a directory (not {@code subPath}: the kubelet then replaces the
   * file when the operator mints the token again, and the pod template does not change). Never an env variable.
   */
  static final String STORAGE_TOKEN_VOLUME = "storage-token";
  static final String STORAGE_TOKEN_DIR = "/var/run/arbor/storage-token";
  /** The compute spec's {@code storage_token_file}. */
  static final String STORAGE_TOKEN_FILE = STORAGE_TOKEN_DIR + "/" + TokenSecrets.TOKEN_ITEM;
  /** Owner and group (the pod's fsGroup) may read the token; nobody may write it. */
  static final int STORAGE_TOKEN_MODE = 0440;
  /**
   * The Endpoint's certificate Secret ({@code tls.crt}, {@code tls.key}, {@code ca.crt}), mounted as a directory: the
   * agent copies the files for PostgreSQL and copies them again when the kubelet updates them.
   */
  static final String TLS_VOLUME = "tls";
  static final String TLS_DIR = "/var/run/arbor/tls";
  /** The name of the Service's one port, and so of the EndpointSlice's. */
  static final String POSTGRES_PORT = "postgres";
  /** EndpointSlice label naming its Service, and the one naming who manages it. */
  static final String SLICE_SERVICE_LABEL = "kubernetes.io/service-name";
  static final String SLICE_MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";

  private ComputeResources() {}

  /** What the reconciler resolved for one Endpoint. */
  record Inputs(Endpoint endpoint, String branch, String project, String specJson, Map<String, String> roleSecretKeys,
      String rolePasswordsSecret, String user, String password, String database, boolean running,
      Map<String, String> templateAnnotations, boolean tls) {}

  static String serviceName(Endpoint e) {
    return e.getMetadata().getName();
  }

  static String connectionSecretName(Endpoint e) {
    return e.getMetadata().getName() + "-connection";
  }

  /** The Secret holding the compute's storage token ({@link dev.arbor.operator.auth.TokenIssuer#computeTokenSecret}). */
  static String storageTokenSecretName(Endpoint e) {
    return e.getMetadata().getName() + "-storage-token";
  }

  /** The Secret of the compute's certificate ({@link dev.arbor.operator.auth.CertificateIssuer#endpointSecret}). */
  static String tlsSecretName(Endpoint e) {
    return e.getMetadata().getName() + "-tls";
  }

  /**
   * The headless Service that gives the compute pod the DNS name the safekeepers connect to and check its certificate
   * against. A short suffix: a Service name is a DNS label (63 characters), an Endpoint's name up to 52.
   */
  static String replicationServiceName(Endpoint e) {
    return e.getMetadata().getName() + "-repl";
  }

  static String replicationHost(Endpoint e, OperatorConfig config) {
    return replicationServiceName(e) + "." + e.getMetadata().getNamespace() + "." + config.compute().serviceDomain();
  }

  /** PostgreSQL's TLS files in the spec: the mounted certificate Secret; its CA bundle also checks the safekeepers' certificates. */
  static dev.arbor.api.compute.ComputeAgentSpec.Tls specTls(Endpoint e, OperatorConfig config) {
    return new dev.arbor.api.compute.ComputeAgentSpec.Tls(TLS_DIR + "/tls.crt", TLS_DIR + "/tls.key", TLS_DIR + "/ca.crt",
        replicationHost(e, config));
  }

  static String host(Endpoint e, OperatorConfig config) {
    return serviceName(e) + "." + e.getMetadata().getNamespace() + "." + config.compute().serviceDomain();
  }

  /** The environment variable that carries a role's password into the compute agent. */
  static String passwordEnv(String role) {
    return "ARBOR_ROLE_PASSWORD_" + role.toUpperCase(Locale.ROOT);
  }

  static OwnerReference owner(Endpoint e) {
    return new OwnerReferenceBuilder().withApiVersion(e.getApiVersion()).withKind(e.getKind()).withName(e.getMetadata().getName())
        .withUid(e.getMetadata().getUid()).withController(true).withBlockOwnerDeletion(true).build();
  }

  /**
   * The compute's StatefulSet. {@code onClaim}: its data volume is the Endpoint's {@link PgdataVolume} claim instead
   * of an emptyDir.
   */
  static StatefulSet statefulSet(Inputs in, OperatorConfig config, boolean onClaim) {
    Endpoint e = in.endpoint();
    var labels = Labels.compute(e.getMetadata().getName(), in.branch(), in.project());
    List<EnvVar> env = new ArrayList<>();
    env.add(new EnvVarBuilder().withName(POD_IP_ENV).withNewValueFrom().withNewFieldRef().withFieldPath("status.podIP").endFieldRef()
        .endValueFrom().build());
    in.roleSecretKeys().forEach((role, key) -> env.add(new EnvVarBuilder().withName(passwordEnv(role)).withNewValueFrom()
        .withNewSecretKeyRef().withName(in.rolePasswordsSecret()).withKey(key).endSecretKeyRef().endValueFrom().build()));
    // Last: the kubelet expands $(POD_IP) only from variables defined before this one.
    env.add(new EnvVarBuilder().withName(SPEC_ENV).withValue(specEnvValue(in.specJson())).build());
    var c = config.compute();
    // The kubelet applies fsGroup to a mounted volume recursively by default, adding group write to every
    // directory; PostgreSQL then refuses a kept PGDATA (it must be 0700 or 0750). OnRootMismatch leaves a volume
    // alone once its root has the group, which also spares a wake the walk over a large PGDATA.
    PodSecurityContext podSecurity = new PodSecurityContextBuilder().withRunAsNonRoot(true).withRunAsUser(c.runAsUser())
        .withRunAsGroup(c.runAsUser()).withFsGroup(c.runAsUser()).withFsGroupChangePolicy(onClaim ? "OnRootMismatch" : null)
        .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile().build();
    Volume data = onClaim
        ? new VolumeBuilder().withName(DATA_VOLUME).withNewPersistentVolumeClaim().withClaimName(PgdataVolume.claimName(e))
            .endPersistentVolumeClaim().build()
        : new VolumeBuilder().withName(DATA_VOLUME).withNewEmptyDir().endEmptyDir().build();
    var sts = new StatefulSetBuilder()
        .withNewMetadata().withName(e.getMetadata().getName()).withNamespace(e.getMetadata().getNamespace()).withLabels(labels)
        .withOwnerReferences(owner(e)).endMetadata()
        .withNewSpec()
        .withReplicas(in.running() ? 1 : 0)
        .withServiceName(serviceName(e))
        .withNewSelector().withMatchLabels(Labels.selector(e.getMetadata().getName())).endSelector()
        .withNewTemplate()
        .withNewMetadata().withLabels(labels).withAnnotations(new LinkedHashMap<>(in.templateAnnotations())).endMetadata()
        .withNewSpec()
        .withEnableServiceLinks(false)
        .withAutomountServiceAccountToken(false)
        .withTerminationGracePeriodSeconds(60L)
        // Pod Security "restricted": a fixed non-root user whose group owns the volumes, the runtime's
        // seccomp profile, no privilege escalation, no capabilities; the root filesystem is read-only, so the
        // compute writes only to its volumes (PGDATA below data, sockets and temporary files in tmp).
        .withSecurityContext(podSecurity)
        .addNewContainer()
        .withName(CONTAINER)
        .withImage(c.image())
        .withImagePullPolicy(c.imagePullPolicy())
        .withCommand(c.command())
        .withEnv(env)
        .addNewPort().withName("postgres").withContainerPort(c.port()).withProtocol("TCP").endPort()
        .addNewPort().withName("http").withContainerPort(c.httpPort()).withProtocol("TCP").endPort()
        // Ready only once the agent runs the compute: PostgreSQL accepts TCP connections before its data and roles are
        // there. The proxy dials a Ready pod directly, so a short period makes a wake answer sooner.
        .withNewReadinessProbe().withNewHttpGet().withPath(ComputeAgentClient.READY_PATH).withPort(new IntOrString("http")).endHttpGet()
        .withPeriodSeconds(1).withFailureThreshold(3).endReadinessProbe()
        .withNewLivenessProbe().withNewHttpGet().withPath(ComputeAgentClient.STATUS_PATH).withPort(new IntOrString("http")).endHttpGet()
        .withInitialDelaySeconds(30).withPeriodSeconds(10).withFailureThreshold(6).endLivenessProbe()
        .addNewVolumeMount().withName(DATA_VOLUME).withMountPath(c.dataPath()).endVolumeMount()
        .addNewVolumeMount().withName(TMP_VOLUME).withMountPath("/tmp").endVolumeMount()
        .addNewVolumeMount().withName(STORAGE_TOKEN_VOLUME).withMountPath(STORAGE_TOKEN_DIR).withReadOnly(true).endVolumeMount()
        .withNewSecurityContext().withAllowPrivilegeEscalation(false).withReadOnlyRootFilesystem(true)
        .withNewCapabilities().withDrop("ALL").endCapabilities().endSecurityContext()
        .withResources(e.getSpec().getResources())
        .endContainer()
        .addToVolumes(data)
        .addNewVolume().withName(TMP_VOLUME).withNewEmptyDir().endEmptyDir().endVolume()
        .addNewVolume().withName(STORAGE_TOKEN_VOLUME).withNewSecret().withSecretName(storageTokenSecretName(e))
            .withDefaultMode(STORAGE_TOKEN_MODE).endSecret().endVolume()
        .endSpec()
        .endTemplate()
        .endSpec()
        .build();
    if (in.tls()) {
      var pod = sts.getSpec().getTemplate().getSpec();
      pod.getContainers().getFirst().getVolumeMounts().add(new io.fabric8.kubernetes.api.model.VolumeMountBuilder().withName(TLS_VOLUME)
          .withMountPath(TLS_DIR).withReadOnly(true).build());
      pod.getVolumes().add(new VolumeBuilder().withName(TLS_VOLUME).withNewSecret().withSecretName(tlsSecretName(e))
          .withDefaultMode(STORAGE_TOKEN_MODE).endSecret().build());
    }
    return sts;
  }

  /**
   * The headless Service of the compute pod (not-ready pods too: the safekeepers follow a compute before it is ready):
   * its name resolves to the pod's IP, and PostgreSQL's certificate is issued for it, so the safekeepers check the
   * compute they reach (verify-full) without knowing its IP in advance.
   */
  static Service replicationService(Inputs in, OperatorConfig config) {
    Endpoint e = in.endpoint();
    return new ServiceBuilder()
        .withNewMetadata().withName(replicationServiceName(e)).withNamespace(e.getMetadata().getNamespace())
        .withLabels(Labels.compute(e.getMetadata().getName(), in.branch(), in.project())).withOwnerReferences(owner(e)).endMetadata()
        .withNewSpec()
        .withClusterIP("None")
        .withPublishNotReadyAddresses(true)
        .withSelector(Labels.selector(e.getMetadata().getName()))
        .addNewPort().withName(POSTGRES_PORT).withPort(config.compute().port()).withTargetPort(new IntOrString(config.compute().port()))
        .withProtocol("TCP").endPort()
        .endSpec()
        .build();
  }

  /**
   * The compute spec as the kubelet must pass it on. The kubelet expands {@code $(NAME)} in an env value from the
   * variables before it — every role's password among them — and reads {@code $$} as one {@code $}; so every
   * {@code $} of the spec's text (postgresParameters, names: anything a user wrote) is doubled and reaches the agent
   * as written, and only listen_host, set afterwards, is the operator's {@value #POD_IP} placeholder.
   */
  static String specEnvValue(String specJson) {
    JsonNode spec;
    try {
      spec = Json.MAPPER.readTree(specJson);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("the compute spec is not JSON: " + e.getOriginalMessage(), e);
    }
    ObjectNode escaped = (ObjectNode) kubeletEscaped(spec);
    escaped.put("listen_host", POD_IP);
    return new String(Json.write(escaped), StandardCharsets.UTF_8);
  }

  private static JsonNode kubeletEscaped(JsonNode node) {
    if (node.isTextual()) {
      return TextNode.valueOf(node.asText().replace("$", "$$"));
    }
    if (node.isArray()) {
      ArrayNode out = JsonNodeFactory.instance.arrayNode();
      node.forEach(e -> out.add(kubeletEscaped(e)));
      return out;
    }
    if (node.isObject()) {
      ObjectNode out = JsonNodeFactory.instance.objectNode();
      node.properties().forEach(f -> out.set(f.getKey().replace("$", "$$"), kubeletEscaped(f.getValue())));
      return out;
    }
    return node;
  }

  /**
   * The Service clients connect to (the connection Secret's host and port): no selector, so Kubernetes leaves its
   * endpoints to the operator's {@link #endpointSlice}, which sends its port to {@code proxyPort} on the proxy pods.
   */
  static Service service(Inputs in, OperatorConfig config, int proxyPort) {
    Endpoint e = in.endpoint();
    return new ServiceBuilder()
        .withNewMetadata().withName(serviceName(e)).withNamespace(e.getMetadata().getNamespace())
        .withLabels(Labels.compute(e.getMetadata().getName(), in.branch(), in.project())).withOwnerReferences(owner(e)).endMetadata()
        .withNewSpec()
        .withType("ClusterIP")
        .addNewPort().withName(POSTGRES_PORT).withPort(config.compute().port()).withTargetPort(new IntOrString(proxyPort))
        .withProtocol("TCP").endPort()
        .endSpec()
        .build();
  }

  /**
   * The Service's endpoints: every proxy pod that has an IP, on the Endpoint's proxy port, ready as the pod is;
   * kube-proxy sends clients to the ready ones. Empty while no proxy pod runs (clients then cannot connect).
   */
  static EndpointSlice endpointSlice(Inputs in, int proxyPort, ProxyPods.Addresses proxies) {
    Endpoint e = in.endpoint();
    Map<String, String> labels = Labels.compute(e.getMetadata().getName(), in.branch(), in.project());
    labels.put(SLICE_SERVICE_LABEL, serviceName(e));
    labels.put(SLICE_MANAGED_BY_LABEL, Labels.OPERATOR);
    var slice = new EndpointSliceBuilder()
        .withNewMetadata().withName(serviceName(e)).withNamespace(e.getMetadata().getNamespace()).withLabels(labels)
        .withOwnerReferences(owner(e)).endMetadata()
        .withAddressType("IPv4")
        .addNewPort().withName(POSTGRES_PORT).withPort(proxyPort).withProtocol("TCP").endPort();
    for (ProxyPods.Address a : proxies.all()) {
      slice.addNewEndpoint().withAddresses(a.ip())
          .withNewConditions().withReady(a.ready()).withServing(a.ready()).withTerminating(a.terminating())
          .endConditions()
          .withNewTargetRef().withKind("Pod").withNamespace(a.namespace()).withName(a.pod()).withUid(a.uid()).endTargetRef()
          .endEndpoint();
    }
    return slice.build();
  }

  /** host, port, dbname, user, password, uri and jdbc-uri, like CloudNativePG's application Secret. */
  static Secret connectionSecret(Inputs in, OperatorConfig config) {
    Endpoint e = in.endpoint();
    String host = host(e, config);
    int port = config.compute().port();
    Map<String, String> data = new LinkedHashMap<>();
    data.put("host", host);
    data.put("port", Integer.toString(port));
    data.put("dbname", in.database());
    data.put("user", in.user());
    data.put("password", in.password());
    data.put("uri", "postgresql://" + enc(in.user()) + ":" + enc(in.password()) + "@" + host + ":" + port + "/" + enc(in.database()));
    data.put("jdbc-uri", "jdbc:postgresql://" + host + ":" + port + "/" + enc(in.database()) + "?user=" + enc(in.user())
        + "&password=" + enc(in.password()));
    return new SecretBuilder()
        .withNewMetadata().withName(connectionSecretName(e)).withNamespace(e.getMetadata().getNamespace())
        .withLabels(Labels.compute(e.getMetadata().getName(), in.branch(), in.project())).withOwnerReferences(owner(e)).endMetadata()
        .withType("Opaque")
        .withData(base64(data))
        .build();
  }

  private static Map<String, String> base64(Map<String, String> data) {
    Map<String, String> out = new LinkedHashMap<>();
    data.forEach((k, v) -> out.put(k, Base64.getEncoder().encodeToString(v.getBytes(StandardCharsets.UTF_8))));
    return out;
  }

  private static String enc(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
