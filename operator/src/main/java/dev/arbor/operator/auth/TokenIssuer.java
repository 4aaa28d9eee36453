package dev.arbor.operator.auth;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.client.auth.KeyDirectory;
import dev.arbor.client.auth.SigningKey;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.operator.config.OperatorConfig;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
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
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import org.jboss.logging.Logger;

/**
 * The operator's side of storage tokens on Kubernetes (docs/security.md, "Who sends which token"). It holds the
 * installation's Ed25519 signing key in the Secret {@code PREFIX-storage-signing-key} (made once, when missing, and
 * read again after every restart), publishes the public key set in the ConfigMap {@code PREFIX-storage-auth-keys}
 * (the pageserver's and safekeepers' {@code --auth-keys}), and keeps the daemons' {@code pageserver} token in the
 * Secret {@code PREFIX-storage-token}, all in the operator's namespace. It mints the {@code storage_admin} token of
 * the operator's own calls in memory ({@link #adminTokens()}) and each Endpoint's {@code compute} token
 * ({@link #computeTokenSecret}). Every token is minted again at half its life: a timer here for the daemons' token,
 * the Endpoint's reconcile for a compute's. Tokens and the private key are never logged.
 */
@Singleton
public class TokenIssuer implements AutoCloseable {
  private static final Logger log = Logger.getLogger(TokenIssuer.class);
  private static final String FIELD_MANAGER = "arbor-operator";
  /** The Secret item holding the private JWK. */
  public static final String SIGNING_KEY_ITEM = KeyDirectory.SIGNING_KEY;
  /** During a rotation: the key published in the set but not signing yet. */
  public static final String NEXT_KEY_ITEM = "next-signing-key.jwk";
  /** After a rotation: the key that signed before, still in the set until every token it signed has expired. */
  public static final String PREVIOUS_KEY_ITEM = "previous-signing-key.jwk";
  /**
   * Annotation on the signing-key Secret that asks for a rotation (any time stamp later than {@value #KEY_SIGNS_SINCE}):
   * {@code kubectl annotate secret PREFIX-storage-signing-key arbor.dev/rotate-requested-at=$(date -u +%FT%TZ)}.
   */
  public static final String ROTATE_REQUESTED_AT = "arbor.dev/rotate-requested-at";
  static final String KEY_SIGNS_SINCE = "arbor.dev/key-signs-since";
  static final String NEXT_KEY_PUBLISHED_AT = "arbor.dev/next-key-published-at";
  static final String PREVIOUS_KEY_RETIRES_AT = "arbor.dev/previous-key-retires-at";
  /** TokenVerifier's clock skew: a token is accepted this long after its {@code exp}. */
  static final Duration VERIFIER_SKEW = Duration.ofSeconds(60);
  /** The ConfigMap item holding the public JWK set: the daemons' {@code --auth-keys} file in the mounted directory. */
  public static final String PUBLIC_KEYS_ITEM = KeyDirectory.PUBLIC_KEYS;
  /** The operator's own token lives this long in memory, minted again at half of it. */
  static final Duration ADMIN_TOKEN_TTL = Duration.ofHours(1);
  /** A token shorter-lived than this could expire before the kubelet has even delivered its successor. */
  static final Duration MIN_TTL = Duration.ofSeconds(10);

  /** The settings, resolved: {@code namespace} is never null. */
  public record Settings(String issuer, String namespace, String namePrefix, Duration computeTokenTtl, Duration storageTokenTtl,
      Duration keyPropagationDelay) {
    /**
     * Refuses settings no installation can work with, naming the setting and the fix. Called at the operator's start,
     * where Quarkus prints a {@link ConfigurationException}'s message as the one line of a failed start.
     */
    public Settings validate() {
      if (issuer == null || issuer.isBlank()) {
        throw new ConfigurationException("arbor.auth.issuer (ARBOR_AUTH_ISSUER) is not set: set it to the --auth-issuer of the "
            + "pageserver and the safekeepers (the Helm chart sets arbor/NAMESPACE/RELEASE); the storage engine refuses tokens of "
            + "any other issuer");
      }
      check("arbor.auth.compute-token-ttl (ARBOR_AUTH_COMPUTE_TOKEN_TTL)", computeTokenTtl);
      check("arbor.auth.storage-token-ttl (ARBOR_AUTH_STORAGE_TOKEN_TTL)", storageTokenTtl);
      if (keyPropagationDelay.isNegative()) {
        throw new ConfigurationException("arbor.auth.key-propagation-delay (ARBOR_AUTH_KEY_PROPAGATION_DELAY) is negative; use e.g. 2m");
      }
      return this;
    }

    private static void check(String setting, Duration ttl) {
      if (ttl.compareTo(MIN_TTL) < 0) {
        throw new ConfigurationException(setting + " is " + ttl + ", shorter than " + MIN_TTL.toSeconds() + "s: a token is minted "
            + "again at half its life and must outlive the kubelet's update of the mounted Secret; use hours (e.g. 8h)");
      }
    }

    public String signingKeySecret() {
      return namePrefix + "-storage-signing-key";
    }

    public String publicKeysConfigMap() {
      return namePrefix + "-storage-auth-keys";
    }

    public String storageTokenSecret() {
      return namePrefix + "-storage-token";
    }
  }

  private final KubernetesClient client;
  private final Settings settings;
  private final Clock clock;
  private final MintedTokens adminTokens;
  private volatile SigningKey key;
  private ScheduledExecutorService timer;

  @Inject
  public TokenIssuer(OperatorConfig config, KubernetesClient client) {
    this(client, settings(config.auth(), client), Clock.systemUTC());
  }

  public TokenIssuer(KubernetesClient client, Settings settings, Clock clock) {
    this.client = client;
    this.settings = settings;
    this.clock = clock;
    // Minting needs an issuer; the operator's start refuses without one (validate) before anything mints.
    this.adminTokens = new MintedTokens(this::signingKey, settings.issuer(), StorageGrant.of("arbor-operator", Scope.STORAGE_ADMIN),
        ADMIN_TOKEN_TTL, clock);
  }

  private static Settings settings(OperatorConfig.Auth auth, KubernetesClient client) {
    // kubectl's rule: a kubeconfig without a namespace means "default".
    String namespace = auth.namespace().or(() -> Optional.ofNullable(client.getNamespace())).orElse("default");
    return new Settings(auth.issuer().orElse(null), namespace, auth.namePrefix(), auth.computeTokenTtl(), auth.storageTokenTtl(),
        auth.keyPropagationDelay());
  }

  public Settings settings() {
    return settings;
  }

  /**
   * At start, before the controllers (quarkus-operator-sdk's observer has priority 3123): the key, the key set and the
   * daemons' token are in place, or the operator does not start. Then the timer keeps them so.
   */
  void start(@Observes @Priority(1100) StartupEvent event) {
    settings.validate();
    ensureInstallation();
    // Often enough that the daemons' token is minted again near its half-life, and a deleted object comes back soon.
    timer = InstallationObjects.every(Math.max(1, Math.min(60, settings.storageTokenTtl().toSeconds() / 8)), "storage-auth",
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
  }

  private void refresh() {
    try {
      ensureInstallation();
    } catch (RuntimeException e) {
      log.warnf("event=storage_auth_refresh_failed namespace=%s error=%s", settings.namespace(), oneLine(e));
    }
  }

  /**
   * Makes the installation's objects what they should be: the signing key (created when missing, rotated one step when
   * asked, see {@link #rotate}), the public key set of every key in the Secret, and a daemons' token of the signing key
   * that is not yet half-way through its life.
   */
  public synchronized void ensureInstallation() {
    Secret keys = rotate(loadOrCreateKeySecret());
    SigningKey signer = keyOf(keys, SIGNING_KEY_ITEM);
    if (key == null || !key.kid().equals(signer.kid())) {
      log.infof("event=storage_signing_key_loaded secret=%s/%s kid=%s", settings.namespace(), settings.signingKeySecret(), signer.kid());
    }
    key = signer;
    List<SigningKey> published = new ArrayList<>(List.of(signer));
    for (String item : List.of(NEXT_KEY_ITEM, PREVIOUS_KEY_ITEM)) {
      if (keys.getData().containsKey(item)) {
        published.add(keyOf(keys, item));
      }
    }
    applyPublicKeys(published);
    renewStorageToken(signer);
  }

  /** The installation's signing key: read from its Secret, or created there when there is none. */
  public SigningKey signingKey() {
    SigningKey k = key;
    if (k == null) {
      synchronized (this) {
        if (key == null) {
          key = keyOf(loadOrCreateKeySecret(), SIGNING_KEY_ITEM);
        }
        k = key;
      }
    }
    return k;
  }

  /**
   * One step of a key rotation without a restart, its state kept in the Secret (so a restarted operator or another
   * replica carries on): asked for ({@value #ROTATE_REQUESTED_AT} later than the key's {@value #KEY_SIGNS_SINCE}), a new
   * key is made and published in the set but does not sign; once {@code arbor.auth.key-propagation-delay} has passed
   * (the kubelet has updated the daemons' mounted set), it signs, and every token is minted again (a Secret whose key id
   * differs is due at once; the operator's own at its next call); the old key stays in the set until every token it
   * signed has expired (the longest TTL plus the verifier's skew), then goes. A rotation asked for while the previous one
   * is still retiring its old key waits for that. Writes are updates of the read version: of two replicas one wins.
   */
  private Secret rotate(Secret secret) {
    Map<String, String> data = new LinkedHashMap<>(secret.getData());
    Map<String, String> a = new LinkedHashMap<>(Objects.requireNonNullElse(secret.getMetadata().getAnnotations(), Map.of()));
    Instant now = clock.instant();
    String step;
    String kid;
    if (!data.containsKey(NEXT_KEY_ITEM) && !data.containsKey(PREVIOUS_KEY_ITEM)
        && instant(a.get(ROTATE_REQUESTED_AT)).filter(r -> r.isAfter(instant(a.get(KEY_SIGNS_SINCE)).orElse(Instant.EPOCH))).isPresent()) {
      SigningKey next = SigningKey.generate(newKid());
      data.put(NEXT_KEY_ITEM, base64(next.privateJwk()));
      a.put(NEXT_KEY_PUBLISHED_AT, now.toString());
      step = "published";
      kid = next.kid();
    } else if (data.containsKey(NEXT_KEY_ITEM)
        && !now.isBefore(instant(a.get(NEXT_KEY_PUBLISHED_AT)).orElse(Instant.EPOCH).plus(settings.keyPropagationDelay()))) {
      data.put(PREVIOUS_KEY_ITEM, data.get(SIGNING_KEY_ITEM));
      data.put(SIGNING_KEY_ITEM, data.remove(NEXT_KEY_ITEM));
      a.remove(NEXT_KEY_PUBLISHED_AT);
      a.put(KEY_SIGNS_SINCE, now.toString());
      a.put(PREVIOUS_KEY_RETIRES_AT, now.plus(longestTokenLife()).toString());
      step = "signing";
      kid = keyOf(data, SIGNING_KEY_ITEM).kid();
    } else if (data.containsKey(PREVIOUS_KEY_ITEM)
        && !now.isBefore(instant(a.get(PREVIOUS_KEY_RETIRES_AT)).orElse(Instant.EPOCH))) {
      step = "retired";
      kid = keyOf(data, PREVIOUS_KEY_ITEM).kid();
      data.remove(PREVIOUS_KEY_ITEM);
      a.remove(PREVIOUS_KEY_RETIRES_AT);
    } else {
      return secret;
    }
    Secret next = new SecretBuilder(secret).editMetadata().withAnnotations(a).endMetadata().withData(data).build();
    try {
      Secret written = call(() -> client.resource(next).update(), "update", "Secret " + settings.signingKeySecret());
      log.infof("event=storage_key_rotation secret=%s/%s step=%s kid=%s", settings.namespace(), settings.signingKeySecret(), step, kid);
      return written;
    } catch (KubernetesClientException e) {
      if (e.getCode() != 409) {
        throw e;
      }
      // Another replica took this step first: go on from what it wrote.
      return loadOrCreateKeySecret();
    }
  }

  /** Until every token minted before now has expired, with the verifier's skew. */
  private Duration longestTokenLife() {
    Duration longest = settings.computeTokenTtl();
    for (Duration d : List.of(settings.storageTokenTtl(), ADMIN_TOKEN_TTL)) {
      longest = d.compareTo(longest) > 0 ? d : longest;
    }
    return longest.plus(VERIFIER_SKEW);
  }

  private static Optional<Instant> instant(String text) {
    try {
      return text == null ? Optional.empty() : Optional.of(Instant.parse(text));
    } catch (java.time.format.DateTimeParseException e) {
      return Optional.empty();
    }
  }

  private String newKid() {
    return "arbor-" + DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(clock.instant()) + "-"
        + java.util.HexFormat.of().toHexDigits((short) java.util.concurrent.ThreadLocalRandom.current().nextInt());
  }

  /** The {@code storage_admin} token of the operator's own storage-engine calls, minted in memory. */
  public TokenSource adminTokens() {
    return adminTokens;
  }

  /** The grant of an Endpoint's compute token: its tenant and timeline only. */
  public static StorageGrant computeGrant(String namespace, String endpoint, TenantId tenant, TimelineId timeline) {
    return StorageGrant.compute("endpoint/" + namespace + "/" + endpoint, tenant, timeline);
  }

  /** When the token in {@code secret} is due for minting again; empty: now (missing, another grant, another key). */
  public Optional<Instant> renewAt(Secret secret, StorageGrant grant) {
    return TokenSecrets.renewAt(secret, grant, signingKey());
  }

  /** A new Secret {@code name} with a compute token of {@code grant}, valid for {@code arbor.auth.compute-token-ttl}. */
  public Secret computeTokenSecret(String name, String namespace, Map<String, String> labels, OwnerReference owner, StorageGrant grant) {
    return TokenSecrets.mint(signingKey(), settings.issuer(), grant, clock.instant(), settings.computeTokenTtl(), name, namespace,
        labels, List.of(owner));
  }

  private Secret loadOrCreateKeySecret() {
    String name = settings.signingKeySecret();
    var secret = client.secrets().inNamespace(settings.namespace()).withName(name);
    Secret existing = call(() -> secret.get(), "read", "Secret " + name);
    if (existing == null) {
      SigningKey fresh = SigningKey.generate(newKid());
      Secret desired = new SecretBuilder()
          .withNewMetadata().withName(name).withNamespace(settings.namespace()).withLabels(labels())
          .withAnnotations(Map.of(KEY_SIGNS_SINCE, clock.instant().toString())).endMetadata()
          .withType("Opaque")
          .withData(Map.of(SIGNING_KEY_ITEM, base64(fresh.privateJwk())))
          .build();
      try {
        Secret created = call(() -> client.resource(desired).create(), "create", "Secret " + name);
        log.infof("event=storage_signing_key_created secret=%s/%s kid=%s", settings.namespace(), name, fresh.kid());
        return created;
      } catch (KubernetesClientException e) {
        if (e.getCode() != 409) {
          throw e;
        }
        // Another operator replica made it first: its key is the installation's.
        existing = call(() -> secret.get(), "read", "Secret " + name);
      }
    }
    if (existing.getData() == null || existing.getData().get(SIGNING_KEY_ITEM) == null) {
      throw new ConfigurationException("Secret " + settings.namespace() + "/" + name + " has no item " + SIGNING_KEY_ITEM + ": it is not "
          + "the installation's signing key; delete it and the operator makes a new key (every token is minted again)");
    }
    return existing;
  }

  private SigningKey keyOf(Secret secret, String item) {
    return keyOf(secret.getData(), item);
  }

  private SigningKey keyOf(Map<String, String> data, String item) {
    String where = "item " + item + " of Secret " + settings.namespace() + "/" + settings.signingKeySecret();
    try {
      return SigningKey.parse(new String(Base64.getDecoder().decode(data.get(item)), StandardCharsets.UTF_8), where);
    } catch (IOException | IllegalArgumentException e) {
      throw new ConfigurationException(e.getMessage() + "; delete the Secret and the operator makes a new key (every token is minted again)");
    }
  }

  private void applyPublicKeys(List<SigningKey> keys) {
    String name = settings.publicKeysConfigMap();
    String set = SigningKey.publicSet(keys);
    ConfigMap existing = call(() -> client.configMaps().inNamespace(settings.namespace()).withName(name).get(), "read", "ConfigMap " + name);
    if (existing != null && existing.getData() != null && set.equals(existing.getData().get(PUBLIC_KEYS_ITEM))) {
      return;
    }
    ConfigMap desired = new ConfigMapBuilder()
        .withNewMetadata().withName(name).withNamespace(settings.namespace()).withLabels(labels()).endMetadata()
        .withData(Map.of(PUBLIC_KEYS_ITEM, set))
        .build();
    call(() -> client.resource(desired).fieldManager(FIELD_MANAGER).forceConflicts().serverSideApply(), "apply", "ConfigMap " + name);
    log.infof("event=storage_public_keys_written configmap=%s/%s kids=%s", settings.namespace(), name,
        String.join(",", keys.stream().map(SigningKey::kid).toList()));
  }

  private void renewStorageToken(SigningKey signer) {
    String name = settings.storageTokenSecret();
    StorageGrant grant = StorageGrant.of("pageserver", Scope.PAGESERVER);
    Secret existing = call(() -> client.secrets().inNamespace(settings.namespace()).withName(name).get(), "read", "Secret " + name);
    Optional<Instant> due = TokenSecrets.renewAt(existing, grant, signer);
    if (due.isPresent() && clock.instant().isBefore(due.get())) {
      return;
    }
    Secret fresh = TokenSecrets.mint(signer, settings.issuer(), grant, clock.instant(), settings.storageTokenTtl(), name,
        settings.namespace(), labels(), List.of());
    call(() -> client.resource(fresh).fieldManager(FIELD_MANAGER).forceConflicts().serverSideApply(), "apply", "Secret " + name);
    log.infof("event=storage_token_minted secret=%s/%s scope=pageserver kid=%s expires_at=%s", settings.namespace(), name, signer.kid(),
        fresh.getMetadata().getAnnotations().get(TokenSecrets.EXPIRES_AT));
  }

  private static Map<String, String> labels() {
    return InstallationObjects.labels("storage-auth");
  }

  /** A refusal by RBAC says which grant is missing instead of a stack trace of a 403. */
  private <T> T call(java.util.function.Supplier<T> call, String verb, String what) {
    return InstallationObjects.call(call, verb, what, settings.namespace(), "its ServiceAccount needs get, create and patch on the "
        + "storage-auth Secrets and ConfigMap there (the Helm chart's Role " + settings.namePrefix() + "-operator-storage-auth), or set "
        + "arbor.auth.namespace");
  }

  private static String base64(String text) {
    return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
  }

  private static String oneLine(Throwable e) {
    String m = Objects.requireNonNullElse(e.getMessage(), e.getClass().getSimpleName());
    return m.replaceAll("\\s+", " ");
  }
}
