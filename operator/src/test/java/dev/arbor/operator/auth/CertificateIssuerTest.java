package dev.arbor.operator.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.client.tls.CertificateAuthority;
import dev.arbor.client.tls.Pem;
import dev.arbor.operator.auth.TokenIssuerTest.MutableClock;
import dev.arbor.testing.KubernetesFixture;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.runtime.configuration.ConfigurationException;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's CA and certificates against a real kube-apiserver: made once and found again by the next operator;
 * every certificate chains to the CA that signs and carries the bundle; issued again at two thirds of its life, or at
 * once for other names or another CA; the operator's CA replaced well before it expires without a moment in which a
 * certificate in use is not trusted; a user's CA (cert-manager's) signs and is never written.
 */
class CertificateIssuerTest {
  @RegisterExtension
  static final KubernetesFixture kube = new KubernetesFixture();

  static final List<String> STORAGE_NAMES = List.of("arbor-pageserver", "arbor-pageserver.ns.svc",
      "arbor-safekeeper-0.arbor-safekeeper.ns.svc");
  static final Duration VALIDITY = Duration.ofHours(1);
  static final Duration CA_VALIDITY = Duration.ofHours(3);
  static final Duration PROPAGATION = Duration.ofMinutes(2);

  @TempDir
  Path tmp;

  @Test
  void theCaAndTheDaemonsCertificateAreMadeOnceAndChainToTheCa() throws Exception {
    String ns = namespace("tls-once");
    var clock = new MutableClock();
    var first = new CertificateIssuer(client(), settings(ns, Optional.empty()), clock);
    first.ensureInstallation();

    Secret caSecret = client().secrets().inNamespace(ns).withName("arbor-ca").get();
    assertThat(caSecret.getType()).isEqualTo("kubernetes.io/tls");
    assertThat(caSecret.getData()).containsOnlyKeys(Pem.CERT, Pem.KEY);
    X509Certificate ca = cert(caSecret, Pem.CERT);
    assertThat(ca.getBasicConstraints()).as("CA:true").isGreaterThanOrEqualTo(0);
    assertThat(((ECPublicKey) ca.getPublicKey()).getParams().getCurve().getField().getFieldSize()).as("P-256").isEqualTo(256);

    Secret storage = client().secrets().inNamespace(ns).withName("arbor-storage-tls").get();
    assertThat(storage.getType()).isEqualTo("kubernetes.io/tls");
    assertThat(storage.getData()).containsOnlyKeys(Pem.CERT, Pem.KEY, Pem.CA);
    X509Certificate leaf = cert(storage, Pem.CERT);
    leaf.verify(ca.getPublicKey());
    assertThat(leaf.getSubjectX500Principal().getName()).isEqualTo("CN=" + CertificateIssuer.STORAGE_COMMON_NAME);
    assertThat(CertificateIssuer.dnsNamesOf(leaf)).containsExactlyInAnyOrderElementsOf(STORAGE_NAMES);
    assertThat(leaf.getExtendedKeyUsage()).as("HTTPS server and the safekeepers' replication client")
        .containsExactlyInAnyOrder("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
    assertThat(Pem.matches(Pem.parsePrivateKey(bytes(storage, Pem.KEY), "tls.key"), leaf)).isTrue();
    assertThat(certs(storage, Pem.CA)).containsExactly(ca);
    assertThat(Pem.readCertificates(first.settings().trustBundleFile())).as("the operator's own trust bundle").containsExactly(ca);

    var second = new CertificateIssuer(client(), settings(ns, Optional.empty()), clock);
    second.ensureInstallation();
    assertThat(client().secrets().inNamespace(ns).withName("arbor-ca").get().getMetadata().getResourceVersion())
        .isEqualTo(caSecret.getMetadata().getResourceVersion());
    assertThat(client().secrets().inNamespace(ns).withName("arbor-storage-tls").get().getMetadata().getResourceVersion())
        .as("a certificate not yet two thirds through its life is left alone").isEqualTo(storage.getMetadata().getResourceVersion());
  }

  @Test
  void aCertificateIsIssuedAgainAtTwoThirdsOfItsLifeOrAtOnceForOtherNames() throws Exception {
    String ns = namespace("tls-renewal");
    var clock = new MutableClock();
    var issuer = new CertificateIssuer(client(), settings(ns, Optional.empty()), clock);
    issuer.ensureInstallation();
    List<String> names = List.of("ep-replication.team.svc");
    Secret first = issuer.endpointSecret(null, "ep-tls", ns, names, Map.of(), owner(ns)).orElseThrow();
    assertThat(CertificateIssuer.dnsNamesOf(cert(first, Pem.CERT))).containsExactly("ep-replication.team.svc");
    assertThat(cert(first, Pem.CERT).getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1");

    clock.set(issuer.renewAt(first).minusSeconds(1));
    assertThat(issuer.endpointSecret(first, "ep-tls", ns, names, Map.of(), owner(ns))).as("before two thirds of its life").isEmpty();
    assertThat(issuer.endpointSecret(first, "ep-tls", ns, List.of("other-replication.team.svc"), Map.of(), owner(ns)))
        .as("other names: at once").isPresent();
    clock.set(issuer.renewAt(first));
    Secret again = issuer.endpointSecret(first, "ep-tls", ns, names, Map.of(), owner(ns)).orElseThrow();
    assertThat(cert(again, Pem.CERT).getSerialNumber()).isNotEqualTo(cert(first, Pem.CERT).getSerialNumber());
    assertThat(cert(again, Pem.CERT).getNotAfter()).isAfter(cert(first, Pem.CERT).getNotAfter());
  }

  @Test
  void theOperatorsCaIsReplacedBeforeItExpiresWithEveryCertificateInUseTrustedThroughout() throws Exception {
    String ns = namespace("tls-ca-change");
    var clock = new MutableClock();
    var issuer = new CertificateIssuer(client(), settings(ns, Optional.empty()), clock);
    issuer.ensureInstallation();
    X509Certificate oldCa = cert(client().secrets().inNamespace(ns).withName("arbor-ca").get(), Pem.CERT);

    // Two thirds of the CA's life: the next CA is published in every bundle, but the old one still signs.
    clock.set(oldCa.getNotBefore().toInstant().plus(Duration.between(oldCa.getNotBefore().toInstant(),
        oldCa.getNotAfter().toInstant()).multipliedBy(2).dividedBy(3)));
    X509Certificate inUse = cert(storage(ns), Pem.CERT);
    issuer.ensureInstallation();
    Secret published = storage(ns);
    List<X509Certificate> bundle = certs(published, Pem.CA);
    assertThat(bundle).hasSize(2).contains(oldCa);
    X509Certificate newCa = bundle.stream().filter(c -> !c.equals(oldCa)).findFirst().orElseThrow();
    cert(published, Pem.CERT).verify(oldCa.getPublicKey());
    assertThat(trusted(bundle, inUse)).isTrue();

    // Not before the kubelet had time to deliver the bundle everywhere.
    clock.advance(PROPAGATION.minusSeconds(1));
    issuer.ensureInstallation();
    cert(storage(ns), Pem.CERT).verify(oldCa.getPublicKey());

    // Then the new CA signs; the old one stays in the bundle for the certificates it signed.
    clock.advance(Duration.ofSeconds(1));
    inUse = cert(storage(ns), Pem.CERT);
    issuer.ensureInstallation();
    Secret signed = storage(ns);
    cert(signed, Pem.CERT).verify(newCa.getPublicKey());
    assertThat(certs(signed, Pem.CA)).containsExactlyInAnyOrder(newCa, oldCa);
    assertThat(trusted(certs(signed, Pem.CA), inUse)).isTrue();
    Secret caSecret = client().secrets().inNamespace(ns).withName("arbor-ca").get();
    assertThat(cert(caSecret, Pem.CERT)).isEqualTo(newCa);

    // Once every certificate of the old CA was replaced, it leaves the bundle.
    clock.advance(VALIDITY.plus(PROPAGATION));
    issuer.ensureInstallation();
    assertThat(certs(storage(ns), Pem.CA)).containsExactly(newCa);
    assertThat(client().secrets().inNamespace(ns).withName("arbor-ca").get().getData()).containsOnlyKeys(Pem.CERT, Pem.KEY);
  }

  @Test
  void aUsersCaSignsEveryCertificateAndIsNeverWritten() throws Exception {
    String ns = namespace("tls-user-ca");
    CertificateAuthority mine = CertificateAuthority.create("my CA", Duration.ofDays(30));
    Secret caSecret = client().resource(new SecretBuilder().withNewMetadata().withName("my-ca").withNamespace(ns).endMetadata()
        .withType("kubernetes.io/tls")
        .withStringData(Map.of(Pem.CERT, Pem.certificatesText(List.of(mine.certificate())), Pem.KEY, Pem.privateKeyText(mine.privateKey()),
            Pem.CA, Pem.certificatesText(List.of(mine.certificate()))))
        .build()).create();
    var issuer = new CertificateIssuer(client(), settings(ns, Optional.of("my-ca")), new MutableClock());
    issuer.ensureInstallation();
    Secret storage = storage(ns);
    cert(storage, Pem.CERT).verify(mine.publicKey());
    assertThat(certs(storage, Pem.CA)).containsExactly(mine.certificate());
    assertThat(client().secrets().inNamespace(ns).withName("my-ca").get().getMetadata().getResourceVersion())
        .isEqualTo(caSecret.getMetadata().getResourceVersion());
    assertThat(client().secrets().inNamespace(ns).withName("arbor-ca").get()).as("no CA of the operator's own").isNull();

    var missing = new CertificateIssuer(client(), settings(ns, Optional.of("not-there")), new MutableClock());
    assertThatThrownBy(missing::ensureInstallation).isInstanceOf(ConfigurationException.class)
        .hasMessageContaining("arbor.tls.ca-secret names Secret " + ns + "/not-there, which does not exist");
  }

  @Test
  void settingsNoInstallationCanWorkWithAreRefusedNamingTheSetting() {
    var noNames = new CertificateIssuer.Settings(true, "ns", "arbor", Optional.empty(), List.of(), VALIDITY, CA_VALIDITY, PROPAGATION,
        tmp.resolve("ca.crt"));
    assertThatThrownBy(noNames::validate).hasMessageContaining("arbor.tls.storage-dns-names (ARBOR_TLS_STORAGE_DNS_NAMES) is empty");
    var shortCa = new CertificateIssuer.Settings(true, "ns", "arbor", Optional.empty(), STORAGE_NAMES, VALIDITY, VALIDITY, PROPAGATION,
        tmp.resolve("ca.crt"));
    assertThatThrownBy(shortCa::validate).hasMessageContaining("arbor.tls.ca-validity");
  }

  private static boolean trusted(List<X509Certificate> bundle, X509Certificate leaf) {
    for (X509Certificate ca : bundle) {
      try {
        leaf.verify(ca.getPublicKey());
        return true;
      } catch (Exception e) {
        // not this one
      }
    }
    return false;
  }

  private Secret storage(String ns) {
    return client().secrets().inNamespace(ns).withName("arbor-storage-tls").get();
  }

  private static OwnerReference owner(String ns) {
    var cm = client().resource(new ConfigMapBuilder().withNewMetadata().withGenerateName("owner-").withNamespace(ns).endMetadata().build())
        .create();
    return new OwnerReferenceBuilder().withApiVersion("v1").withKind("ConfigMap").withName(cm.getMetadata().getName())
        .withUid(cm.getMetadata().getUid()).build();
  }

  private static byte[] bytes(Secret s, String item) {
    return Base64.getDecoder().decode(s.getData().get(item));
  }

  private static X509Certificate cert(Secret s, String item) throws Exception {
    return certs(s, item).getFirst();
  }

  private static List<X509Certificate> certs(Secret s, String item) throws Exception {
    return Pem.parseCertificates(bytes(s, item), s.getMetadata().getName() + " " + item);
  }

  private CertificateIssuer.Settings settings(String ns, Optional<String> caSecret) {
    return new CertificateIssuer.Settings(true, ns, "arbor", caSecret, STORAGE_NAMES, VALIDITY, CA_VALIDITY, PROPAGATION,
        tmp.resolve(ns + "-ca.crt")).validate();
  }

  private static String namespace(String name) {
    client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
    return name;
  }

  private static KubernetesClient client() {
    return kube.client();
  }
}
