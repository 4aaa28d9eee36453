package dev.arbor.operator.auth;

import dev.arbor.client.tls.CertificateAuthority;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.client.tls.Pem;
import dev.arbor.operator.config.OperatorConfig;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.runtime.configuration.ConfigurationException;
import jakarta.annotation.Priority;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ScheduledExecutorService;
import org.jboss.logging.Logger;

/**
 * The operator's side of TLS on Kubernetes (docs/security.md, "TLS"). One CA signs every certificate of the
 * installation: the operator's own ({@code PREFIX-ca}, ECDSA P-256, made when missing, replaced well before it expires)
 * or the user's ({@code arbor.tls.ca-secret}, e.g. a cert-manager CA, read and never written). From it the operator
 * issues the storage daemons' certificate ({@code PREFIX-storage-tls}: HTTPS of the pageserver and safekeepers, and the
 * safekeepers' replication client identity, common name {@code arbor_replication}) and each Endpoint's PostgreSQL
 * certificate ({@link #endpointSecret}, for the name the safekeepers connect to). Every certificate Secret is a
 * cert-manager-shaped {@code kubernetes.io/tls} Secret: {@code tls.crt}, {@code tls.key} and {@code ca.crt}, the trust
 * bundle (the signing CA, plus the next or previous one around a CA change). A certificate is issued again at two
 * thirds of its life, or at once when its names, its CA or the bundle changed; the daemons and computes read the files
 * again when the kubelet updates them, so nothing restarts. The operator trusts the storage engine through the same
 * bundle, kept in a file ({@link #clientTls()}). Private keys are never logged.
 */
@Singleton
public class CertificateIssuer implements AutoCloseable {
  private static final Logger log = Logger.getLogger(CertificateIssuer.class);
  private static final String FIELD_MANAGER = "arbor-operator";
  /** The common name the computes' pg_hba requires of the safekeepers' client certificates (the replication role). */
  public static final String STORAGE_COMMON_NAME = "arbor_replication";
  /** During a CA change: the new CA, in every bundle but not signing yet. */
  static final String NEXT_CERT_ITEM = "next.crt";
  static final String NEXT_KEY_ITEM = "next.key";
  /** After a CA change: the CA that signed before, in every bundle until each certificate it signed was replaced. */
  static final String PREVIOUS_CERT_ITEM = "previous.crt";
  static final String NEXT_PUBLISHED_AT = "arbor.dev/next-ca-published-at";
  static final String PREVIOUS_RETIRES_AT = "arbor.dev/previous-ca-retires-at";
  /** What a certificate Secret was issued for, so that a change of names issues it again (not secret). */
  public static final String DNS_NAMES = "arbor.dev/certificate-dns-names";

  /** The settings, resolved: {@code namespace} is never null. */
  public record Settings(boolean enabled, String namespace, String namePrefix, Optional<String> caSecret, List<String> storageDnsNames,
      Duration certificateValidity, Duration caValidity, Duration propagationDelay, Path trustBundleFile) {
    public Settings validate() {
      if (!enabled) {
        return this;
      }
      if (storageDnsNames.isEmpty()) {
        throw new ConfigurationException("arbor.tls.storage-dns-names (ARBOR_TLS_STORAGE_DNS_NAMES) is empty: list the names the "
            + "pageserver and safekeepers are reached by (the Helm chart lists its Services and safekeeper pods); their certificate is "
            + "issued for those");
      }
      if (certificateValidity.compareTo(Duration.ofMinutes(1)) < 0 || caValidity.compareTo(certificateValidity.multipliedBy(3)) < 0) {
        throw new ConfigurationException("arbor.tls.certificate-validity (" + certificateValidity + ") must be at least 1m and "
            + "arbor.tls.ca-validity (" + caValidity + ") at least three times that: a certificate is issued again at two thirds of its "
            + "life and never outlives its CA; use e.g. 2160h (90 days) and 87600h (10 years)");
      }
      return this;
    }

    /** The Secret of the CA that signs: the user's, or the operator's own {@code PREFIX-ca}. */
    public String caSecretName() {
      return caSecret.orElse(namePrefix + "-ca");
    }

    public String storageSecret() {
      return namePrefix + "-storage-tls";
    }
  }

  /** The CA that signs now, and the bundle every certificate Secret carries as {@code ca.crt}. */
  record Authority(CertificateAuthority signer, List<X509Certificate> bundle) {
    String bundleText() {
      return Pem.certificatesText(bundle);
    }
  }

  private final KubernetesClient client;
  private final Settings settings;
  private final Clock clock;
  private volatile Authority authority;
  private volatile ClientTls clientTls;
  private ScheduledExecutorService timer;

  @Inject
  public CertificateIssuer(OperatorConfig config, KubernetesClient client) {
    this(client, settings(config, client), Clock.systemUTC());
  }

  public CertificateIssuer(KubernetesClient client, Settings settings, Clock clock) {
    this.client = client;
    this.settings = settings;
    this.clock = clock;
  }

  private static Settings settings(OperatorConfig config, KubernetesClient client) {
    var tls = config.tls();
    String namespace = config.auth().namespace().or(() -> Optional.ofNullable(client.getNamespace())).orElse("default");
    Path bundle = Path.of(System.getProperty("java.io.tmpdir"), "arbor-operator-" + ProcessHandle.current().pid() + "-storage-ca.crt");
    return new Settings(tls.enabled(), namespace, config.auth().namePrefix(), tls.caSecret(), tls.storageDnsNames().orElse(List.of()),
        tls.certificateValidity(), tls.caValidity(), config.auth().keyPropagationDelay(), bundle);
  }

  public Settings settings() {
    return settings;
  }

  public boolean enabled() {
    return settings.enabled();
  }

  /** After the token issuer (1100), before the controllers: the CA and the daemons' certificate are in place. */
  void start(@Observes @Priority(1101) StartupEvent event) {
    if (!settings.validate().enabled()) {
      return;
    }
    ensureInstallation();
    timer = InstallationObjects.every(Math.max(1, Math.min(60, settings.certificateValidity().toSeconds() / 30)), "storage-tls",
        this::refresh);
  }

  void stop(@Observes ShutdownEvent event) {
    close();
  }

  @Override
  public void close() {
    if (timer != null) {
      timer.shutdownNow();
    }
    try {
      Files.deleteIfExists(settings.trustBundleFile());
    } catch (IOException ignored) {
      // a temporary file; the next start writes its own
    }
  }

  private void refresh() {
    try {
      ensureInstallation();
    } catch (RuntimeException e) {
      log.warnf("event=storage_tls_refresh_failed namespace=%s error=%s", settings.namespace(),
          String.valueOf(e.getMessage()).replaceAll("\\s+", " "));
    }
  }

  /**
   * Makes the installation's TLS objects what they should be: the CA (made, or one step of its change, see
   * {@link #caStep}), the operator's trust bundle file, and the daemons' certificate.
   */
  public synchronized void ensureInstallation() {
    Authority a = settings.caSecret().isPresent() ? userAuthority() : ownAuthority();
    authority = a;
    writeTrustBundle(a);
    String name = settings.storageSecret();
    Secret existing = call(() -> client.secrets().inNamespace(settings.namespace()).withName(name).get(), "read", "Secret " + name);
    Optional<String> why = reissueReason(existing, settings.storageDnsNames(), a);
    if (why.isPresent()) {
      Secret fresh = certificateSecret(a, name, settings.namespace(), STORAGE_COMMON_NAME, settings.storageDnsNames(),
          Set.of(CertificateAuthority.Usage.SERVER, CertificateAuthority.Usage.CLIENT), labels(), List.of());
      call(() -> client.resource(fresh).fieldManager(FIELD_MANAGER).forceConflicts().serverSideApply(), "apply", "Secret " + name);
      log.infof("event=storage_certificate_issued secret=%s/%s dns_names=%s not_after=%s reason=%s", settings.namespace(), name,
          String.join(",", settings.storageDnsNames()), notAfter(fresh), why.get());
    }
  }

  /** Trusts the storage engine's certificates: the installation's bundle, read again from its file when it changes. */
  public ClientTls clientTls() {
    ClientTls tls = clientTls;
    if (tls == null) {
      synchronized (this) {
        if (clientTls == null) {
          if (authority == null) {
            ensureInstallation();
          }
          try {
            clientTls = ClientTls.trusting(settings.trustBundleFile());
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
        tls = clientTls;
      }
    }
    return tls;
  }

  /**
   * The Endpoint certificate Secret {@code name} to apply, when {@code current} is missing or due (two thirds of its
   * life, other names, another CA or bundle); empty while {@code current} serves. {@code dnsNames}: the first is the
   * certificate's common name.
   */
  public Optional<Secret> endpointSecret(Secret current, String name, String namespace, List<String> dnsNames, Map<String, String> labels,
      OwnerReference owner) {
    Authority a = current();
    Optional<String> why = reissueReason(current, dnsNames, a);
    if (why.isEmpty()) {
      return Optional.empty();
    }
    Secret fresh = certificateSecret(a, name, namespace, dnsNames.getFirst(), dnsNames, Set.of(CertificateAuthority.Usage.SERVER), labels,
        List.of(owner));
    log.infof("event=compute_certificate_issued secret=%s/%s dns_name=%s not_after=%s reason=%s", namespace, name, dnsNames.getFirst(),
        notAfter(fresh), why.get());
    return Optional.of(fresh);
  }

  /** When the certificate in {@code secret} is due for issuing again; now when it cannot be read. */
  public Instant renewAt(Secret secret) {
    try {
      X509Certificate cert = Pem.parseCertificates(item(secret, Pem.CERT), "tls.crt").getFirst();
      return renewAt(cert);
    } catch (IOException | RuntimeException e) {
      return clock.instant();
    }
  }

  private Authority current() {
    Authority a = authority;
    if (a == null) {
      ensureInstallation();
      a = authority;
    }
    return a;
  }

  /** Why the certificate Secret must be issued again, or empty while it serves as it is. */
  Optional<String> reissueReason(Secret secret, List<String> dnsNames, Authority a) {
    if (secret == null || secret.getData() == null) {
      return Optional.of("missing");
    }
    X509Certificate cert;
    try {
      cert = Pem.parseCertificates(item(secret, Pem.CERT), "tls.crt").getFirst();
      Pem.parsePrivateKey(item(secret, Pem.KEY), "tls.key");
    } catch (IOException | RuntimeException e) {
      return Optional.of("unreadable");
    }
    if (!new TreeSet<>(dnsNames).equals(dnsNamesOf(cert))) {
      return Optional.of("dns_names_changed");
    }
    try {
      cert.verify(a.signer().publicKey());
    } catch (GeneralSecurityException e) {
      return Optional.of("ca_changed");
    }
    if (!a.bundleText().equals(new String(item(secret, Pem.CA), StandardCharsets.US_ASCII))) {
      return Optional.of("bundle_changed");
    }
    return clock.instant().isBefore(renewAt(cert)) ? Optional.empty() : Optional.of("two_thirds_of_life");
  }

  private static Instant renewAt(X509Certificate cert) {
    Instant from = cert.getNotBefore().toInstant();
    Instant to = cert.getNotAfter().toInstant();
    return from.plus(Duration.between(from, to).multipliedBy(2).dividedBy(3));
  }

  private Secret certificateSecret(Authority a, String name, String namespace, String commonName, List<String> dnsNames,
      Set<CertificateAuthority.Usage> usages, Map<String, String> labels, List<OwnerReference> owners) {
    Instant now = clock.instant();
    // Never past the CA's own end (a user's CA may live shorter than arbor.tls.certificate-validity).
    Duration left = Duration.between(now, a.signer().certificate().getNotAfter().toInstant()).minusMinutes(1);
    Duration validity = left.compareTo(settings.certificateValidity()) < 0 ? left : settings.certificateValidity();
    if (validity.isNegative() || validity.isZero()) {
      throw new ConfigurationException("the CA in Secret " + settings.namespace() + "/" + settings.caSecretName() + " has expired ("
          + a.signer().certificate().getNotAfter().toInstant() + "); renew it (cert-manager does so before expiry)");
    }
    var issued = a.signer().issue(commonName, dnsNames, List.of(), usages, validity, now);
    Map<String, String> data = new LinkedHashMap<>();
    data.put(Pem.CERT, base64(Pem.certificatesText(List.of(issued.certificate()))));
    data.put(Pem.KEY, base64(Pem.privateKeyText(issued.key())));
    data.put(Pem.CA, base64(a.bundleText()));
    return new SecretBuilder()
        .withNewMetadata().withName(name).withNamespace(namespace).withLabels(labels).withOwnerReferences(owners)
        .withAnnotations(Map.of(DNS_NAMES, String.join(",", dnsNames))).endMetadata()
        .withType("kubernetes.io/tls")
        .withData(data)
        .build();
  }

  /** The user's CA: its {@code tls.crt} and {@code tls.key}; the bundle adds its {@code ca.crt} (cert-manager's issuer of it). */
  private Authority userAuthority() {
    String name = settings.caSecretName();
    Secret secret = call(() -> client.secrets().inNamespace(settings.namespace()).withName(name).get(), "read", "Secret " + name);
    if (secret == null) {
      throw new ConfigurationException("arbor.tls.ca-secret names Secret " + settings.namespace() + "/" + name + ", which does not exist: "
          + "create it (type kubernetes.io/tls holding the CA's tls.crt and tls.key, as cert-manager writes a CA Certificate), or unset "
          + "arbor.tls.ca-secret and the operator makes its own CA");
    }
    String where = "Secret " + settings.namespace() + "/" + name;
    try {
      X509Certificate cert = Pem.parseCertificates(item(secret, Pem.CERT), where + " item tls.crt").getFirst();
      var signer = CertificateAuthority.of(cert, Pem.parsePrivateKey(item(secret, Pem.KEY), where + " item tls.key"), where + " item tls.crt",
          where + " item tls.key");
      List<X509Certificate> bundle = new ArrayList<>(List.of(cert));
      if (secret.getData().get(Pem.CA) != null) {
        for (X509Certificate c : Pem.parseCertificates(item(secret, Pem.CA), where + " item ca.crt")) {
          addOnce(bundle, c);
        }
      }
      return new Authority(signer, List.copyOf(bundle));
    } catch (IOException | RuntimeException e) {
      throw new ConfigurationException(e.getMessage() + "; arbor.tls.ca-secret must name a CA's kubernetes.io/tls Secret (tls.crt with "
          + "CA:true, its tls.key unencrypted)");
    }
  }

  /** The operator's own CA, made when missing and changed one step at a time ({@link #caStep}). */
  private Authority ownAuthority() {
    Secret secret = caStep(loadOrCreateCa());
    Map<String, String> data = secret.getData();
    String where = "Secret " + settings.namespace() + "/" + settings.caSecretName();
    try {
      var signer = CertificateAuthority.of(Pem.parseCertificates(item(secret, Pem.CERT), where).getFirst(),
          Pem.parsePrivateKey(item(secret, Pem.KEY), where), where + " item tls.crt", where + " item tls.key");
      List<X509Certificate> bundle = new ArrayList<>(List.of(signer.certificate()));
      for (String extra : List.of(NEXT_CERT_ITEM, PREVIOUS_CERT_ITEM)) {
        if (data.get(extra) != null) {
          addOnce(bundle, Pem.parseCertificates(item(secret, extra), where + " item " + extra).getFirst());
        }
      }
      return new Authority(signer, List.copyOf(bundle));
    } catch (IOException | RuntimeException e) {
      throw new ConfigurationException(e.getMessage() + "; delete " + where + " and the operator makes a new CA (every certificate is "
          + "issued again)");
    }
  }

  private Secret loadOrCreateCa() {
    String name = settings.caSecretName();
    var ref = client.secrets().inNamespace(settings.namespace()).withName(name);
    Secret existing = call(ref::get, "read", "Secret " + name);
    if (existing != null) {
      return existing;
    }
    CertificateAuthority ca = newCa();
    Secret desired = new SecretBuilder()
        .withNewMetadata().withName(name).withNamespace(settings.namespace()).withLabels(labels()).endMetadata()
        .withType("kubernetes.io/tls")
        .withData(Map.of(Pem.CERT, base64(Pem.certificatesText(List.of(ca.certificate()))), Pem.KEY, base64(Pem.privateKeyText(ca.privateKey()))))
        .build();
    try {
      Secret created = call(() -> client.resource(desired).create(), "create", "Secret " + name);
      log.infof("event=storage_ca_created secret=%s/%s not_after=%s", settings.namespace(), name, ca.certificate().getNotAfter().toInstant());
      return created;
    } catch (KubernetesClientException e) {
      if (e.getCode() != 409) {
        throw e;
      }
      return call(ref::get, "read", "Secret " + name); // another replica made it first
    }
  }

  private CertificateAuthority newCa() {
    return CertificateAuthority.create("arbor " + settings.namespace() + "/" + settings.namePrefix() + " CA", settings.caValidity(),
        clock.instant());
  }

  /**
   * One step of replacing the operator's CA well before it expires, its state kept in the Secret: at two thirds of its
   * life a new CA is made and put into every bundle without signing; once {@code arbor.auth.key-propagation-delay} has
   * passed (the kubelet has updated every mounted bundle) it signs, and every certificate is issued again; the old CA
   * stays in the bundle until each certificate it signed was replaced (one certificate validity), then goes.
   */
  private Secret caStep(Secret secret) {
    Map<String, String> data = new LinkedHashMap<>(Objects.requireNonNullElse(secret.getData(), Map.of()));
    Map<String, String> a = new LinkedHashMap<>(Objects.requireNonNullElse(secret.getMetadata().getAnnotations(), Map.of()));
    Instant now = clock.instant();
    String step;
    if (data.get(Pem.CERT) == null) {
      return secret; // reported by ownAuthority
    }
    if (!data.containsKey(NEXT_CERT_ITEM) && !data.containsKey(PREVIOUS_CERT_ITEM) && !now.isBefore(renewAt(secret))) {
      CertificateAuthority next = newCa();
      data.put(NEXT_CERT_ITEM, base64(Pem.certificatesText(List.of(next.certificate()))));
      data.put(NEXT_KEY_ITEM, base64(Pem.privateKeyText(next.privateKey())));
      a.put(NEXT_PUBLISHED_AT, now.toString());
      step = "published";
    } else if (data.containsKey(NEXT_CERT_ITEM)
        && !now.isBefore(instant(a.get(NEXT_PUBLISHED_AT)).plus(settings.propagationDelay()))) {
      data.put(PREVIOUS_CERT_ITEM, data.get(Pem.CERT));
      data.put(Pem.CERT, data.remove(NEXT_CERT_ITEM));
      data.put(Pem.KEY, data.remove(NEXT_KEY_ITEM));
      a.remove(NEXT_PUBLISHED_AT);
      a.put(PREVIOUS_RETIRES_AT, now.plus(settings.certificateValidity()).plus(settings.propagationDelay()).toString());
      step = "signing";
    } else if (data.containsKey(PREVIOUS_CERT_ITEM) && !now.isBefore(instant(a.get(PREVIOUS_RETIRES_AT)))) {
      data.remove(PREVIOUS_CERT_ITEM);
      a.remove(PREVIOUS_RETIRES_AT);
      step = "retired";
    } else {
      return secret;
    }
    Secret next = new SecretBuilder(secret).editMetadata().withAnnotations(a).endMetadata().withData(data).build();
    try {
      Secret written = call(() -> client.resource(next).update(), "update", "Secret " + settings.caSecretName());
      log.infof("event=storage_ca_change secret=%s/%s step=%s", settings.namespace(), settings.caSecretName(), step);
      return written;
    } catch (KubernetesClientException e) {
      if (e.getCode() != 409) {
        throw e;
      }
      return call(() -> client.secrets().inNamespace(settings.namespace()).withName(settings.caSecretName()).get(), "read",
          "Secret " + settings.caSecretName());
    }
  }

  private void writeTrustBundle(Authority a) {
    Path file = settings.trustBundleFile();
    try {
      String text = a.bundleText();
      if (Files.exists(file) && text.equals(Files.readString(file, StandardCharsets.US_ASCII))) {
        return;
      }
      Pem.writeCertificates(file, a.bundle());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the operator's trust bundle " + file + ": " + e.getMessage(), e);
    }
  }

  private static void addOnce(List<X509Certificate> bundle, X509Certificate c) {
    try {
      for (X509Certificate b : bundle) {
        if (Arrays.equals(b.getEncoded(), c.getEncoded())) {
          return;
        }
      }
    } catch (java.security.cert.CertificateEncodingException e) {
      throw new IllegalStateException(e);
    }
    bundle.add(c);
  }

  /** The DNS names among the certificate's subject alternative names. */
  public static Set<String> dnsNamesOf(X509Certificate cert) {
    Set<String> names = new TreeSet<>();
    try {
      if (cert.getSubjectAlternativeNames() != null) {
        for (List<?> san : cert.getSubjectAlternativeNames()) {
          if (Integer.valueOf(2).equals(san.get(0))) {
            names.add(String.valueOf(san.get(1)));
          }
        }
      }
    } catch (CertificateParsingException e) {
      return Set.of();
    }
    return names;
  }

  private static byte[] item(Secret secret, String item) {
    String value = secret.getData() == null ? null : secret.getData().get(item);
    if (value == null) {
      throw new IllegalArgumentException("Secret " + secret.getMetadata().getName() + " has no item " + item);
    }
    return Base64.getDecoder().decode(value);
  }

  private static Instant instant(String text) {
    try {
      return text == null ? Instant.EPOCH : Instant.parse(text);
    } catch (java.time.format.DateTimeParseException e) {
      return Instant.EPOCH;
    }
  }

  private static String notAfter(Secret secret) {
    try {
      return Pem.parseCertificates(item(secret, Pem.CERT), "tls.crt").getFirst().getNotAfter().toInstant().toString();
    } catch (IOException e) {
      return "unknown";
    }
  }

  private static Map<String, String> labels() {
    return InstallationObjects.labels("storage-tls");
  }

  private <T> T call(java.util.function.Supplier<T> call, String verb, String what) {
    return InstallationObjects.call(call, verb, what, settings.namespace(), "its ServiceAccount needs get, create and patch on the "
        + "storage TLS Secrets there (the Helm chart's Role " + settings.namePrefix() + "-operator-storage-auth)");
  }

  private static String base64(String text) {
    return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.US_ASCII));
  }
}
