package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.client.Json;
import dev.arbor.client.tls.CertificateAuthority;
import dev.arbor.client.tls.Pem;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.operator.auth.CertificateIssuer;
import dev.arbor.testing.StorageProcesses;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.dsl.NonDeletingOperation;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * TLS on Kubernetes from the operator's side (docs/security.md, "TLS"), with the storage daemons serving HTTPS: the
 * operator reaches them trusting the installation's CA only; the daemons' certificate Secret; each Endpoint's
 * PostgreSQL certificate for the name of its replication Service, mounted whole, named by the spec with the CA file the
 * compute trusts the storage engine through, and no plain-HTTP allowance anywhere. (A compute following over TLS on a
 * real cluster is HelmInstallE2ETest's: the replication Service's name resolves only in cluster DNS.)
 */
class OperatorTlsIT extends OperatorTestBase {
  static CertificateAuthority ca;

  /**
   * Daemons with certificates of the harness's CA, and that CA as the installation's: as an operator that made it at an
   * earlier start finds it in its Secret {@code arbor-ca} (making it when missing is CertificateIssuerTest's).
   */
  @BeforeAll
  static void overTls() throws Exception {
    operator.close();
    storage.close();
    storage = new StorageProcesses(1).withManagementListener().withTls().start();
    seedSigningKey();
    ca = storage.certificateAuthority();
    client().secrets().inNamespace(ChartRbac.NAMESPACE).withName(AUTH_PREFIX + "-storage-tls").delete();
    client().resource(new SecretBuilder().withNewMetadata().withName(AUTH_PREFIX + "-ca").withNamespace(ChartRbac.NAMESPACE).endMetadata()
        .withType("kubernetes.io/tls")
        .withStringData(Map.of(Pem.CERT, Pem.certificatesText(List.of(ca.certificate())), Pem.KEY, Pem.privateKeyText(ca.privateKey())))
        .build()).createOr(NonDeletingOperation::update);
    operator = startOperator(Map.of("ARBOR_TLS_ENABLED", "true", "ARBOR_TLS_STORAGE_DNS_NAMES", "localhost",
        "ARBOR_STORAGE_ENGINE_INSECURE_HTTP", "false"));
  }

  @Test
  void theOperatorReachesTheStorageEngineOverTlsTrustingTheInstallationsCaOnly() throws Exception {
    assertThat(storage.pageserverManagementUrl()).startsWith("https://");
    Project p = readyProject("tls-ready", "pt");
    assertThat(tenant(p.getStatus().getTenantId()).tenantId().value()).isEqualTo(p.getStatus().getTenantId());

    Secret daemons = client().secrets().inNamespace(ChartRbac.NAMESPACE).withName(AUTH_PREFIX + "-storage-tls").get();
    assertThat(daemons.getType()).isEqualTo("kubernetes.io/tls");
    X509Certificate leaf = cert(daemons, Pem.CERT);
    leaf.verify(ca.publicKey());
    assertThat(leaf.getSubjectX500Principal().getName()).isEqualTo("CN=" + CertificateIssuer.STORAGE_COMMON_NAME);
    assertThat(Pem.parseCertificates(bytes(daemons, Pem.CA), "ca.crt")).containsExactly(ca.certificate());
  }

  @Test
  void anEndpointGetsACertificateForItsReplicationServiceAndASpecWithTls() throws Exception {
    String ns = "tls-endpoint";
    readyProjectWithDatabase(ns, "shop");
    awaitBranchReady(ns, "shop-main");
    endpoint(ns, "shop-rw", "shop-main");
    StatefulSet sts = awaitStatefulSet(ns, "shop-rw");
    Endpoint owner = client().resources(Endpoint.class).inNamespace(ns).withName("shop-rw").get();
    String host = "shop-rw-repl." + ns + ".svc";

    await().atMost(WAIT).until(() -> client().secrets().inNamespace(ns).withName("shop-rw-tls").get() != null);
    Secret tls = client().secrets().inNamespace(ns).withName("shop-rw-tls").get();
    assertOwnedAndLabelled(tls, owner);
    assertThat(tls.getType()).isEqualTo("kubernetes.io/tls");
    X509Certificate cert = cert(tls, Pem.CERT);
    cert.verify(ca.publicKey());
    assertThat(CertificateIssuer.dnsNamesOf(cert)).containsExactly(host);
    assertThat(Pem.matches(Pem.parsePrivateKey(bytes(tls, Pem.KEY), "tls.key"), cert)).isTrue();

    Service replication = client().services().inNamespace(ns).withName("shop-rw-repl").get();
    assertOwnedAndLabelled(replication, owner);
    assertThat(replication.getSpec().getClusterIP()).as("headless: the name resolves to the pod").isEqualTo("None");
    assertThat(replication.getSpec().getPublishNotReadyAddresses()).as("reached before the compute is ready").isTrue();
    assertThat(replication.getSpec().getSelector()).isEqualTo(sts.getSpec().getSelector().getMatchLabels());

    var pod = sts.getSpec().getTemplate().getSpec();
    Volume volume = pod.getVolumes().stream().filter(v -> v.getSecret() != null && "shop-rw-tls".equals(v.getSecret().getSecretName()))
        .findFirst().orElseThrow();
    Container c = pod.getContainers().getFirst();
    assertThat(c.getVolumeMounts()).filteredOn(m -> m.getName().equals(volume.getName())).singleElement().satisfies(m -> {
      assertThat(m.getSubPath()).as("a subPath mount is never updated by the kubelet").isNull();
      assertThat(m.getMountPath()).isEqualTo("/var/run/arbor/tls");
    });
    String specText = c.getEnv().stream().filter(e -> e.getName().equals("ARBOR_COMPUTE_SPEC")).findFirst().orElseThrow().getValue();
    JsonNode spec = Json.MAPPER.readTree(specText);
    assertThat(spec.at("/tls/cert_file").asText()).isEqualTo("/var/run/arbor/tls/tls.crt");
    assertThat(spec.at("/tls/key_file").asText()).isEqualTo("/var/run/arbor/tls/tls.key");
    assertThat(spec.at("/tls/ca_file").asText()).isEqualTo("/var/run/arbor/tls/ca.crt");
    assertThat(spec.at("/tls/dns_name").asText()).isEqualTo(host);
    assertThat(spec.path("storage_ca_file").asText()).isEqualTo("/var/run/arbor/tls/ca.crt");
    assertThat(spec.has("storage_insecure_http")).as("no plain-HTTP allowance").isFalse();
    assertThat(spec.path("pageserver_url").asText()).startsWith("https://");
    spec.path("safekeepers").forEach(url -> assertThat(url.asText()).startsWith("https://"));

    // No private key where people look: Events, statuses, the StatefulSet, the operator's log.
    List<String> keys = new java.util.ArrayList<>(List.of("PRIVATE KEY", pemBody(Pem.privateKeyText(ca.privateKey()))));
    keys.add(pemBody(new String(bytes(tls, Pem.KEY), java.nio.charset.StandardCharsets.US_ASCII)));
    keys.add(pemBody(new String(bytes(client().secrets().inNamespace(ChartRbac.NAMESPACE).withName(AUTH_PREFIX + "-storage-tls").get(),
        Pem.KEY), java.nio.charset.StandardCharsets.US_ASCII)));
    Map<String, String> places = new java.util.LinkedHashMap<>();
    places.put("Events", Serialization.asJson(client().v1().events().inAnyNamespace().list().getItems()));
    places.put("Endpoint statuses", Serialization.asJson(client().resources(Endpoint.class).inAnyNamespace().list().getItems().stream()
        .map(Endpoint::getStatus).toList()));
    places.put("StatefulSets", Serialization.asJson(client().apps().statefulSets().inNamespace(ns).list().getItems()));
    places.put("operator log", operator.logText());
    String mounted = new String(bytes(tls, Pem.KEY), java.nio.charset.StandardCharsets.US_ASCII);
    assertThat(keys.get(2)).as("positive control: the Endpoint key's body as searched").isSubstringOf(mounted);
    places.forEach((where, text) -> assertThat(keys).as("private keys found in " + where).noneMatch(text::contains));
  }

  /** The base64 of a PEM block, one line: what a key looks like wherever it leaked. */
  private static String pemBody(String pem) {
    return pem.lines().filter(l -> !l.startsWith("-----")).reduce("", String::concat).substring(0, 40);
  }

  private static X509Certificate cert(Secret s, String item) throws Exception {
    return Pem.parseCertificates(bytes(s, item), s.getMetadata().getName() + " " + item).getFirst();
  }

  private static byte[] bytes(Secret s, String item) {
    return Base64.getDecoder().decode(s.getData().get(item));
  }
}
