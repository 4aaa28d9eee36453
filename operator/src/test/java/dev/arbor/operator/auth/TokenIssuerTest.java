package dev.arbor.operator.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.testing.KubernetesFixture;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.runtime.configuration.ConfigurationException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.Base64;
import java.util.Map;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.consumer.JwtConsumerBuilder;
import org.jose4j.keys.resolvers.JwksVerificationKeyResolver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The issuer against a real kube-apiserver: the installation's key is made once and found again by every later
 * operator (a restart, another replica); the public set and the daemons' token follow it; tokens carry exactly their
 * grant and are minted again at half their life, not before.
 */
class TokenIssuerTest {
  @RegisterExtension
  static final KubernetesFixture kube = new KubernetesFixture();

  static final String ISSUER = "arbor/test-ns/arbor";
  static final Duration COMPUTE_TTL = Duration.ofHours(8);
  static final Duration STORAGE_TTL = Duration.ofHours(24);
  static final Duration PROPAGATION = Duration.ofMinutes(2);

  @Test
  void theKeyIsMadeOnceAndFoundAgainByTheNextOperator() throws Exception {
    String ns = namespace("issuer-restart");
    var clock = new MutableClock();
    var first = new TokenIssuer(client(), settings(ns), clock);
    first.ensureInstallation();
    Secret keySecret = client().secrets().inNamespace(ns).withName("arbor-storage-signing-key").get();
    assertThat(keySecret).as("the signing-key Secret").isNotNull();
    assertThat(keySecret.getData()).containsOnlyKeys(TokenIssuer.SIGNING_KEY_ITEM);
    ConfigMap keys = client().configMaps().inNamespace(ns).withName("arbor-storage-auth-keys").get();
    assertThat(keys.getData()).containsOnlyKeys(TokenIssuer.PUBLIC_KEYS_ITEM);
    String publicSet = keys.getData().get(TokenIssuer.PUBLIC_KEYS_ITEM);
    assertThat(publicSet).contains(first.signingKey().kid()).doesNotContain("\"d\"");
    String storageToken = token(ns, "arbor-storage-token");
    JwtClaims claims = verify(publicSet, storageToken);
    assertThat(claims.getStringClaimValue("scope")).isEqualTo("pageserver");
    assertThat(claims.getExpirationTime().getValue() - claims.getIssuedAt().getValue()).isEqualTo(STORAGE_TTL.toSeconds());

    // A restarted operator: the same key, nothing written again.
    var second = new TokenIssuer(client(), settings(ns), clock);
    second.ensureInstallation();
    assertThat(second.signingKey().kid()).isEqualTo(first.signingKey().kid());
    assertThat(second.signingKey().privateJwk()).isEqualTo(first.signingKey().privateJwk());
    assertThat(client().configMaps().inNamespace(ns).withName("arbor-storage-auth-keys").get().getMetadata().getResourceVersion())
        .isEqualTo(keys.getMetadata().getResourceVersion());
    assertThat(token(ns, "arbor-storage-token")).as("the daemons' token, not yet half-way through its life").isEqualTo(storageToken);
  }

  @Test
  void theDaemonsTokenIsMintedAgainAtHalfItsLife() throws Exception {
    String ns = namespace("issuer-half-life");
    var clock = new MutableClock();
    var issuer = new TokenIssuer(client(), settings(ns), clock);
    issuer.ensureInstallation();
    String minted = token(ns, "arbor-storage-token");
    clock.advance(STORAGE_TTL.dividedBy(2).minusSeconds(1));
    issuer.ensureInstallation();
    assertThat(token(ns, "arbor-storage-token")).isEqualTo(minted);
    clock.advance(Duration.ofSeconds(1));
    issuer.ensureInstallation();
    String again = token(ns, "arbor-storage-token");
    assertThat(again).isNotEqualTo(minted);
    JwtClaims claims = verify(client().configMaps().inNamespace(ns).withName("arbor-storage-auth-keys").get().getData()
        .get(TokenIssuer.PUBLIC_KEYS_ITEM), again, clock.instant());
    assertThat(Instant.ofEpochSecond(claims.getIssuedAt().getValue())).isEqualTo(clock.instant().truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
  }

  @Test
  void aComputeTokenReachesItsOwnTenantAndTimelineAndIsDueAtHalfItsLife() throws Exception {
    String ns = namespace("issuer-compute");
    var clock = new MutableClock();
    var issuer = new TokenIssuer(client(), settings(ns), clock);
    TenantId tenant = TenantId.random();
    TimelineId timeline = TimelineId.random();
    StorageGrant grant = TokenIssuer.computeGrant("shop", "shop-rw", tenant, timeline);
    var owner = new OwnerReferenceBuilder().withApiVersion("arbor.dev/v1alpha1").withKind("Endpoint").withName("shop-rw")
        .withUid("0c5d1a3e-0000-4000-8000-000000000001").withController(true).build();
    Secret secret = issuer.computeTokenSecret("shop-rw-storage-token", "shop", Map.of("app.kubernetes.io/name", "arbor-compute"), owner, grant);
    assertThat(secret.getMetadata().getOwnerReferences()).containsExactly(owner);
    assertThat(secret.getData()).containsOnlyKeys(TokenSecrets.TOKEN_ITEM);
    assertThat(secret.getMetadata().getAnnotations().values()).noneMatch(v -> v.contains(".ey") || v.startsWith("ey"));
    String token = new String(Base64.getDecoder().decode(secret.getData().get(TokenSecrets.TOKEN_ITEM)), StandardCharsets.UTF_8).strip();
    JwtClaims claims = verify(jwks(issuer), token, clock.instant());
    assertThat(claims.getStringClaimValue("scope")).isEqualTo("compute");
    assertThat(claims.getStringClaimValue("tenant_id")).isEqualTo(tenant.value());
    assertThat(claims.getStringClaimValue("timeline_id")).isEqualTo(timeline.value());
    assertThat(claims.getSubject()).isEqualTo("endpoint/shop/shop-rw");
    assertThat(claims.getExpirationTime().getValue() - claims.getIssuedAt().getValue()).isEqualTo(COMPUTE_TTL.toSeconds());

    Instant issued = Instant.ofEpochSecond(claims.getIssuedAt().getValue());
    assertThat(issuer.renewAt(secret, grant)).contains(issued.plus(COMPUTE_TTL.dividedBy(2)));
    assertThat(issuer.renewAt(null, grant)).as("no Secret yet: mint now").isEmpty();
    StorageGrant otherTimeline = TokenIssuer.computeGrant("shop", "shop-rw", tenant, TimelineId.random());
    assertThat(issuer.renewAt(secret, otherTimeline)).as("a token of another timeline: mint now").isEmpty();
  }

  @Test
  void theOperatorsOwnTokenIsMintedInMemoryAndAgainAtHalfItsLife() throws Exception {
    String ns = namespace("issuer-admin");
    var clock = new MutableClock();
    var issuer = new TokenIssuer(client(), settings(ns), clock);
    String first = issuer.adminTokens().token().orElseThrow();
    JwtClaims claims = verify(jwks(issuer), first, clock.instant());
    assertThat(claims.getStringClaimValue("scope")).isEqualTo("storage_admin");
    assertThat(claims.getIssuer()).isEqualTo(ISSUER);
    clock.advance(TokenIssuer.ADMIN_TOKEN_TTL.dividedBy(2).minusSeconds(1));
    assertThat(issuer.adminTokens().token()).contains(first);
    clock.advance(Duration.ofSeconds(1));
    assertThat(issuer.adminTokens().token().orElseThrow()).isNotEqualTo(first);
  }

  /**
   * Key rotation without a restart, step by step as the operator's timer takes them: asked for on the Secret, a new
   * key is published first (the old one still signs), then signs once the kubelet had time to update the daemons'
   * set (every token minted again with it), and the old key leaves the set once every token it signed has expired.
   * A restarted operator carries on from the Secret.
   */
  @Test
  void aRequestedRotationPublishesThenSignsThenRetiresTheOldKey() throws Exception {
    String ns = namespace("issuer-rotation");
    var clock = new MutableClock();
    var issuer = new TokenIssuer(client(), settings(ns), clock);
    issuer.ensureInstallation();
    String oldKid = issuer.signingKey().kid();
    String oldToken = token(ns, "arbor-storage-token");
    String oldSet = publicSet(ns);

    clock.advance(Duration.ofSeconds(5));
    client().secrets().inNamespace(ns).withName("arbor-storage-signing-key").edit(s -> {
      s.getMetadata().getAnnotations().put(TokenIssuer.ROTATE_REQUESTED_AT, clock.instant().toString());
      return s;
    });
    issuer.ensureInstallation();
    assertThat(kids(publicSet(ns))).as("published: the old key and the next one").hasSize(2).contains(oldKid);
    assertThat(issuer.signingKey().kid()).as("the old key still signs").isEqualTo(oldKid);
    assertThat(token(ns, "arbor-storage-token")).isEqualTo(oldToken);

    clock.advance(PROPAGATION.minusSeconds(1));
    issuer.ensureInstallation();
    assertThat(issuer.signingKey().kid()).as("before the kubelet had time").isEqualTo(oldKid);
    clock.advance(Duration.ofSeconds(1));
    var restarted = new TokenIssuer(client(), settings(ns), clock);
    restarted.ensureInstallation();
    String newKid = restarted.signingKey().kid();
    assertThat(newKid).isNotEqualTo(oldKid);
    assertThat(kids(publicSet(ns))).containsExactlyInAnyOrder(newKid, oldKid);
    String newToken = token(ns, "arbor-storage-token");
    assertThat(newToken).as("the daemons' token, minted again with the new key").isNotEqualTo(oldToken);
    verify(publicSet(ns), newToken, clock.instant());
    verify(publicSet(ns), oldToken, clock.instant());
    assertThat(verify(publicSet(ns), restarted.adminTokens().token().orElseThrow(), clock.instant()).getStringClaimValue("scope"))
        .isEqualTo("storage_admin");

    clock.advance(STORAGE_TTL.plus(TokenIssuer.VERIFIER_SKEW).minusSeconds(1));
    restarted.ensureInstallation();
    assertThat(kids(publicSet(ns))).as("not every token of the old key has expired yet").contains(oldKid);
    clock.advance(Duration.ofSeconds(1));
    restarted.ensureInstallation();
    assertThat(kids(publicSet(ns))).as("retired").containsExactly(newKid);
    assertThatThrownBy(() -> verify(publicSet(ns), oldToken, Instant.now())).as("a token of the old key against the set");
    assertThat(client().secrets().inNamespace(ns).withName("arbor-storage-signing-key").get().getData())
        .containsOnlyKeys(TokenIssuer.SIGNING_KEY_ITEM);
    assertThat(oldSet).isNotEqualTo(publicSet(ns));
  }

  private static String publicSet(String ns) {
    return client().configMaps().inNamespace(ns).withName("arbor-storage-auth-keys").get().getData().get(TokenIssuer.PUBLIC_KEYS_ITEM);
  }

  private static java.util.List<String> kids(String publicSet) throws Exception {
    return new JsonWebKeySet(publicSet).getJsonWebKeys().stream().map(k -> k.getKeyId()).toList();
  }

  @Test
  void anOperatorWithoutAnIssuerOrWithATinyTtlIsRefusedNamingTheSetting() {
    assertThatThrownBy(() -> new TokenIssuer.Settings(" ", "ns", "arbor", COMPUTE_TTL, STORAGE_TTL, PROPAGATION).validate())
        .isInstanceOf(ConfigurationException.class).hasMessageContaining("arbor.auth.issuer (ARBOR_AUTH_ISSUER) is not set")
        .hasMessageContaining("--auth-issuer");
    assertThatThrownBy(() -> new TokenIssuer.Settings(ISSUER, "ns", "arbor", Duration.ofSeconds(2), STORAGE_TTL, PROPAGATION).validate())
        .isInstanceOf(ConfigurationException.class).hasMessageContaining("arbor.auth.compute-token-ttl");
  }

  private static String jwks(TokenIssuer issuer) {
    return dev.arbor.client.auth.SigningKey.publicSet(java.util.List.of(issuer.signingKey()));
  }

  private static JwtClaims verify(String publicSet, String token) throws Exception {
    return verify(publicSet, token, Instant.now());
  }

  private static JwtClaims verify(String publicSet, String token, Instant at) throws Exception {
    var consumer = new JwtConsumerBuilder()
        .setVerificationKeyResolver(new JwksVerificationKeyResolver(new JsonWebKeySet(publicSet).getJsonWebKeys()))
        .setExpectedAudience(StorageGrant.AUDIENCE).setExpectedIssuer(ISSUER).setRequireExpirationTime()
        .setEvaluationTime(org.jose4j.jwt.NumericDate.fromSeconds(at.getEpochSecond()))
        .build();
    return consumer.processToClaims(token);
  }

  private static String token(String ns, String secret) {
    Secret s = client().secrets().inNamespace(ns).withName(secret).get();
    assertThat(s).as("Secret " + secret).isNotNull();
    return new String(Base64.getDecoder().decode(s.getData().get(TokenSecrets.TOKEN_ITEM)), StandardCharsets.UTF_8).strip();
  }

  private static TokenIssuer.Settings settings(String ns) {
    return new TokenIssuer.Settings(ISSUER, ns, "arbor", COMPUTE_TTL, STORAGE_TTL, PROPAGATION).validate();
  }

  private static String namespace(String name) {
    client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
    return name;
  }

  private static KubernetesClient client() {
    return kube.client();
  }

  /** Time as the test sets it. */
  static final class MutableClock extends Clock {
    private Instant now = Instant.now();

    void advance(Duration d) {
      now = now.plus(d);
    }

    void set(Instant at) {
      now = at;
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }
  }
}
