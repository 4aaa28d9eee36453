package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.operator.auth.TokenIssuer;
import dev.arbor.operator.auth.TokenSecrets;
import dev.arbor.testing.AgentProcess;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.consumer.JwtConsumerBuilder;
import org.jose4j.keys.resolvers.JwksVerificationKeyResolver;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Storage tokens on Kubernetes (docs/security.md, "Who sends which token"), with the storage daemons checking them:
 * the installation's key, public set and daemons' token objects; each Endpoint's compute token in a Secret of its
 * own that its pod mounts as a directory and its spec names; a short TTL minted again before expiry without touching
 * the pod template; a token that reaches its own timeline only; and no token, key or password where people look.
 */
class OperatorStorageTokenIT extends OperatorTestBase {
  /** Short enough that the test sees it minted again (at half of it), long enough for a compute start. */
  static final Duration COMPUTE_TTL = Duration.ofSeconds(30);
  /** Every token the operator minted in this test, for the search of places where none may be. */
  static final Set<String> tokensSeen = new LinkedHashSet<>();

  @BeforeAll
  static void operatorWithShortComputeTokens() throws Exception {
    operator.close();
    operator = startOperator(Map.of("ARBOR_AUTH_COMPUTE_TOKEN_TTL", COMPUTE_TTL.toSeconds() + "s"));
  }

  /** Tokens of any other issuer are refused by the daemons: an operator that is not told theirs does not start. */
  @Test
  void withoutAnIssuerTheOperatorDoesNotStartAndSaysWhatToSet() throws Exception {
    assertThat(refusedStartLine(Map.of("ARBOR_AUTH_ISSUER", ""), "arbor.auth.issuer"))
        .contains("arbor.auth.issuer (ARBOR_AUTH_ISSUER) is not set", "--auth-issuer");
  }

  @Test
  void theInstallationsKeyPublicSetAndDaemonTokenAreInTheOperatorsNamespace() throws Exception {
    String ns = ChartRbac.NAMESPACE;
    Secret key = client().secrets().inNamespace(ns).withName(AUTH_PREFIX + "-storage-signing-key").get();
    assertThat(key.getData()).containsOnlyKeys(TokenIssuer.SIGNING_KEY_ITEM);
    ConfigMap keys = client().configMaps().inNamespace(ns).withName(AUTH_PREFIX + "-storage-auth-keys").get();
    assertThat(keys).as("the public key set ConfigMap").isNotNull();
    String publicSet = keys.getData().get(TokenIssuer.PUBLIC_KEYS_ITEM);
    assertThat(publicSet).as("what the daemons' --auth-keys must hold").isEqualTo(Files.readString(storage.keys().publicKeys()))
        .doesNotContain("\"d\"");
    await().atMost(WAIT).until(() -> client().secrets().inNamespace(ns).withName(AUTH_PREFIX + "-storage-token").get() != null);
    String daemons = token(ns, AUTH_PREFIX + "-storage-token");
    JwtClaims claims = verify(publicSet, daemons);
    assertThat(claims.getStringClaimValue("scope")).isEqualTo("pageserver");
    // The daemons accept it, on a route only their own scope (and admin) reaches.
    Project p = readyProject("tok-daemons", "pd");
    Branch main = awaitBranchReady("tok-daemons", "pd-main");
    var asPageserver = new SafekeeperClient(storage.safekeeperUrls().get("sk-0"), Duration.ofSeconds(30), RetryPolicy.NONE,
        TokenSource.fixed(daemons).allowPlainHttp());
    asPageserver.timeline(new TenantId(p.getStatus().getTenantId()), new TimelineId(main.getStatus().getTimelineId()));
  }

  @Test
  void anEndpointsTokenIsMintedAgainBeforeExpiryWithoutTouchingItsPodAndReachesItsOwnTimelineOnly() throws Exception {
    String ns = "tok-endpoint";
    Project project = readyProjectWithDatabase(ns, "shop");
    Branch main = awaitBranchReady(ns, "shop-main");
    branch(ns, "shop-dev", "shop", "shop-main", false);
    Branch dev = awaitBranchReady(ns, "shop-dev");
    Endpoint rw = endpoint(ns, "shop-rw", "shop-main");
    endpoint(ns, "shop-dev-rw", "shop-dev");
    StatefulSet sts = awaitStatefulSet(ns, "shop-rw");
    awaitStatefulSet(ns, "shop-dev-rw");
    String tenant = project.getStatus().getTenantId();

    // The Secret: owned by the Endpoint, one token of exactly its tenant and timeline, living the configured TTL.
    Secret secret = awaitSecret(ns, "shop-rw-storage-token");
    assertOwnedAndLabelled(secret, client().resources(Endpoint.class).inNamespace(ns).withName("shop-rw").get());
    assertThat(secret.getData()).containsOnlyKeys(TokenSecrets.TOKEN_ITEM);
    String publicSet = Files.readString(storage.keys().publicKeys());
    String first = token(ns, "shop-rw-storage-token");
    JwtClaims claims = verify(publicSet, first);
    assertThat(claims.getStringClaimValue("scope")).isEqualTo("compute");
    assertThat(claims.getStringClaimValue(StorageGrant.TENANT_CLAIM)).isEqualTo(tenant);
    assertThat(claims.getStringClaimValue(StorageGrant.TIMELINE_CLAIM)).isEqualTo(main.getStatus().getTimelineId());
    assertThat(claims.getIssuer()).isEqualTo(StorageProcesses.ISSUER);
    long lifetime = claims.getExpirationTime().getValue() - claims.getIssuedAt().getValue();
    assertThat(lifetime).as("exp - iat, seconds").isEqualTo(COMPUTE_TTL.toSeconds());
    assertThat(claims.getExpirationTime().getValue()).isLessThanOrEqualTo(Instant.now().plus(COMPUTE_TTL).getEpochSecond());

    // The pod: the Secret mounted whole, read-only, as a directory; the spec names the file; no env var carries it.
    PodTemplateSpec template = sts.getSpec().getTemplate();
    Container c = template.getSpec().getContainers().get(0);
    Volume volume = template.getSpec().getVolumes().stream().filter(v -> v.getSecret() != null
        && "shop-rw-storage-token".equals(v.getSecret().getSecretName())).findFirst().orElseThrow();
    assertThat(volume.getSecret().getDefaultMode()).isEqualTo(0440);
    assertThat(c.getVolumeMounts()).filteredOn(m -> m.getName().equals(volume.getName())).singleElement().satisfies(m -> {
      assertThat(m.getSubPath()).as("a subPath mount is never updated by the kubelet").isNull();
      assertThat(m.getReadOnly()).isTrue();
      assertThat(m.getMountPath()).isEqualTo("/var/run/arbor/storage-token");
    });
    assertThat(c.getEnv()).noneMatch(e -> e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null
        && e.getValueFrom().getSecretKeyRef().getName().equals("shop-rw-storage-token"));
    String specJson = c.getEnv().stream().filter(e -> e.getName().equals("ARBOR_COMPUTE_SPEC")).findFirst().orElseThrow().getValue();
    assertThat(specJson.replaceAll("\\s", "")).contains("\"storage_token_file\":\"/var/run/arbor/storage-token/token\"");

    // A compute started from the pod, with the token as the kubelet would mount it.
    try (var pods = TempDirectory.create("arbor-tok-pods-")) {
      LocalPod pod = LocalPod.of(client(), ns, "shop-rw", pods.resolve("shop-rw-0"));
      LocalPod devPod = LocalPod.of(client(), ns, "shop-dev-rw", pods.resolve("shop-dev-rw-0"));
      tokensSeen.add(Files.readString(devPod.storageTokenFile()).strip());
      try (AgentProcess agent = pod.start()) {
        agent.awaitRunning();
        try (Connection conn = agent.superuser("postgres"); Statement st = conn.createStatement()) {
          st.execute("CREATE TABLE minted (id int)");
          st.execute("INSERT INTO minted VALUES (1)");
        }
      }

      // Minted again at half its life, before it expires; the pod template stays as it was (no restart).
      await().atMost(COMPUTE_TTL.multipliedBy(2)).pollInterval(Duration.ofMillis(500))
          .until(() -> !token(ns, "shop-rw-storage-token").equals(first));
      String second = token(ns, "shop-rw-storage-token");
      JwtClaims renewed = verify(publicSet, second);
      assertThat(renewed.getIssuedAt().getValue()).as("minted again before the first one expired")
          .isLessThan(claims.getExpirationTime().getValue());
      assertThat(renewed.getStringClaimValue(StorageGrant.TIMELINE_CLAIM)).isEqualTo(main.getStatus().getTimelineId());
      StatefulSet after = client().apps().statefulSets().inNamespace(ns).withName("shop-rw").get();
      assertThat(Serialization.asJson(after.getSpec().getTemplate())).as("the pod template").isEqualTo(Serialization.asJson(template));
      assertThat(after.getMetadata().getGeneration()).isEqualTo(sts.getMetadata().getGeneration());

      // The kubelet updates the mounted file; the compute starts again on the new token.
      pod.syncSecretVolumes();
      assertThat(Files.readString(pod.storageTokenFile()).strip()).isEqualTo(second);
      try (AgentProcess agent = pod.start()) {
        agent.awaitRunning();
        try (Connection conn = agent.superuser("postgres"); Statement st = conn.createStatement()) {
          assertThat(one(st, "SELECT count(*) FROM minted")).isEqualTo("1");
        }
      }
      tokensSeen.add(first);
      tokensSeen.add(second);
      tokensSeen.add(token(ns, "shop-rw-storage-token"));

      // The token reaches its own timeline: shop-dev's is another timeline of the same tenant, refused with 403.
      var asShopRw = new PageserverClient(pod.spec.pageserverUrl(), Duration.ofSeconds(30), RetryPolicy.NONE,
          TokenSource.file(pod.storageTokenFile()).allowPlainHttp());
      assertThat(asShopRw.timeline(new TenantId(tenant), new TimelineId(main.getStatus().getTimelineId())).timelineId().value())
          .isEqualTo(main.getStatus().getTimelineId());
      assertThatThrownBy(() -> asShopRw.timeline(new TenantId(tenant), new TimelineId(dev.getStatus().getTimelineId())))
          .isInstanceOfSatisfying(ApiProblem.class, p -> {
            assertThat(p.status()).as(p.getMessage()).isEqualTo(403);
            assertThat(p.is(ProblemTypes.FORBIDDEN)).isTrue();
          });
    }
    tokensSeen.add(token(ns, "shop-dev-rw-storage-token"));
    tokensSeen.add(token(ChartRbac.NAMESPACE, AUTH_PREFIX + "-storage-token"));
    assertNoSecretInPlainSight(ns, secretData(ns, "shop-role-passwords").values());
  }

  /**
   * No token, private key or role password in Events, the statuses of Projects, Branches and Endpoints, the compute
   * StatefulSets (their pod templates), or the operator's log. The tokens' first segment (the JWT header, the same for
   * every token of the key) is searched too, which catches a token minted while nobody looked.
   */
  private static void assertNoSecretInPlainSight(String ns, java.util.Collection<String> passwords) {
    List<String> secrets = new ArrayList<>(tokensSeen);
    String anyToken = tokensSeen.iterator().next();
    secrets.add(anyToken.substring(0, anyToken.indexOf('.')));
    String jwk = storage.keys().signingKey().privateJwk();
    secrets.add(jwk);
    secrets.add(jwk.replaceAll(".*\"d\"\\s*:\\s*\"([^\"]+)\".*", "$1"));
    secrets.addAll(passwords);
    Map<String, String> places = new java.util.LinkedHashMap<>();
    places.put("Events", Serialization.asJson(client().v1().events().inAnyNamespace().list().getItems()));
    places.put("Event objects (events.k8s.io)", Serialization.asJson(client().events().v1().events().inAnyNamespace().list().getItems()));
    places.put("Project statuses", Serialization.asJson(client().resources(Project.class).inAnyNamespace().list().getItems().stream()
        .map(Project::getStatus).toList()));
    places.put("Branch statuses", Serialization.asJson(client().resources(Branch.class).inAnyNamespace().list().getItems().stream()
        .map(Branch::getStatus).toList()));
    places.put("Endpoint statuses", Serialization.asJson(client().resources(Endpoint.class).inAnyNamespace().list().getItems().stream()
        .map(Endpoint::getStatus).toList()));
    places.put("StatefulSets", Serialization.asJson(client().apps().statefulSets().inNamespace(ns).list().getItems()));
    places.put("operator log", operator.logText());
    places.forEach((where, text) -> assertThat(secrets).as("secrets found in " + where).noneMatch(text::contains));
  }

  private static Secret awaitSecret(String ns, String name) {
    await().atMost(WAIT).until(() -> client().secrets().inNamespace(ns).withName(name).get() != null);
    return client().secrets().inNamespace(ns).withName(name).get();
  }

  private static String token(String ns, String secret) {
    Secret s = client().secrets().inNamespace(ns).withName(secret).get();
    assertThat(s).as("Secret " + secret).isNotNull();
    return new String(Base64.getDecoder().decode(s.getData().get(TokenSecrets.TOKEN_ITEM)), StandardCharsets.UTF_8).strip();
  }

  private static JwtClaims verify(String publicSet, String token) throws Exception {
    return new JwtConsumerBuilder()
        .setVerificationKeyResolver(new JwksVerificationKeyResolver(new JsonWebKeySet(publicSet).getJsonWebKeys()))
        .setExpectedAudience(StorageGrant.AUDIENCE).setExpectedIssuer(StorageProcesses.ISSUER).setRequireExpirationTime()
        .build().processToClaims(token);
  }
}
