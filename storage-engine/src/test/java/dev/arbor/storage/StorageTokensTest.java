package dev.arbor.storage;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.api.pageserver.CreateTimelineRequest;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.client.Json;
import dev.arbor.client.auth.SigningKey;
import dev.arbor.testing.OpenApiContract;
import dev.arbor.testing.StorageProcesses;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.NumericDate;
import org.jose4j.keys.HmacKey;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 16's token tests against a real pageserver and two safekeepers (processes that check tokens, as {@link StorageProcesses} starts them):
 * every route of both OpenAPI documents refuses a request without a token except health and metrics; the scope
 * matrix (a compute token reaches its own timeline only, the pageserver scope the safekeepers' storage routes, the
 * admin scope everything); forged tokens get 401 and the server keeps serving; a key added to the set file is
 * accepted without a restart and one removed from it is not.
 */
class StorageTokensTest {
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();
  private static final String FIRST_SEGMENT = "000000010000000000000001";

  private static StorageProcesses storage;
  private static String admin;
  /** Tenant A with its root timeline X and a branch Y; tenant B with its root timeline. */
  private static TenantId tenantA;
  private static TimelineId timelineX;
  private static TimelineId timelineY;
  private static TenantId tenantB;
  private static TimelineId timelineB;

  @BeforeAll
  static void start() throws IOException {
    storage = new StorageProcesses(2).start();
    admin = token(StorageGrant.of("test-admin", Scope.STORAGE_ADMIN));
    TenantInfo a = storage.createTenant(15);
    tenantA = a.tenantId();
    timelineX = a.rootTimelineId();
    timelineY = storage.pageserver().createTimeline(tenantA, new CreateTimelineRequest(null, timelineX, null)).timelineId();
    TenantInfo b = storage.createTenant(15);
    tenantB = b.tenantId();
    timelineB = b.rootTimelineId();
  }

  @AfterAll
  static void stop() {
    if (storage != null) {
      storage.close();
    }
  }

  private static String token(StorageGrant grant) {
    return storage.keys().mint(grant, Duration.ofHours(1));
  }

  private static String compute(TenantId tenant, TimelineId timeline) {
    return token(StorageGrant.compute("compute-test", tenant, timeline));
  }

  private record Reply(String baseUrl, String method, String path, int status, String contentType, String wwwAuthenticate, byte[] body) {
    String type() {
      return status >= 400 ? Json.read(body, dev.arbor.api.Problem.class).type() : "";
    }

    String describe() {
      return method + " " + path + " answered " + status + ": " + new String(body, 0, Math.min(body.length, 300), StandardCharsets.UTF_8);
    }
  }

  private static Reply send(String baseUrl, String method, String path, String token) {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(Duration.ofMinutes(1));
    if (token != null) {
      request.header("Authorization", "Bearer " + token);
    }
    boolean withBody = method.equals("POST");
    if (withBody) {
      request.header("Content-Type", "application/json");
    }
    request.method(method, withBody ? HttpRequest.BodyPublishers.ofString("{}") : HttpRequest.BodyPublishers.noBody());
    try {
      HttpResponse<byte[]> r = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
      return new Reply(baseUrl, method, path, r.statusCode(), r.headers().firstValue("Content-Type").orElse(""),
          r.headers().firstValue("WWW-Authenticate").orElse(null), r.body());
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(method + " " + baseUrl + path, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static String pageserver() {
    return storage.pageserverUrl();
  }

  private static String safekeeper() {
    return storage.safekeeperUrls().values().iterator().next();
  }

  private static String timelinePath(TenantId tenant, TimelineId timeline) {
    return "/v1/tenant/" + tenant + "/timeline/" + timeline;
  }

  /** The document a server serves, fetched with an admin token (it is not open). */
  private static OpenApiContract document(String name, String baseUrl) {
    Reply reply = send(baseUrl, "GET", "/v1/openapi.json", admin);
    assertThat(reply.status()).as(reply.describe()).isEqualTo(200);
    return OpenApiContract.parse(name, reply.body(), Json.MAPPER);
  }

  /** A route template with ids that exist nowhere: no request below changes anything, whoever sends it. */
  private static String concrete(String template) {
    return template.replace("{tenant_id}", TenantId.random().toString()).replace("{timeline_id}", TimelineId.random().toString())
        .replace("{file}", FIRST_SEGMENT).replace("{generation}", "1");
  }

  @Test
  void everyRouteOfBothDocumentsRefusesARequestWithoutATokenExceptHealthAndMetrics() {
    Map<String, String> servers = new LinkedHashMap<>();
    servers.put("pageserver", pageserver());
    servers.put("safekeeper", safekeeper());
    List<String> open = List.of("GET /metrics", "GET /v1/status");
    int refused = 0;
    for (var server : servers.entrySet()) {
      OpenApiContract contract = document("the " + server.getKey() + "'s document", server.getValue());
      // Positive control: an admin token is admitted by every route, so a 401 below is the missing token's doing.
      for (String route : contract.routes()) {
        String method = route.substring(0, route.indexOf(' '));
        Reply withToken = send(server.getValue(), method, concrete(route.substring(route.indexOf(' ') + 1)), admin);
        assertThat(withToken.status()).as(server.getKey() + ": " + withToken.describe()).isNotIn(401, 403).isLessThan(500);
      }
      for (String route : contract.routes()) {
        String method = route.substring(0, route.indexOf(' '));
        String path = concrete(route.substring(route.indexOf(' ') + 1));
        Reply reply = send(server.getValue(), method, path, null);
        if (open.contains(route)) {
          assertThat(reply.status()).as(server.getKey() + ": " + reply.describe()).isEqualTo(200);
          continue;
        }
        assertThat(reply.status()).as(server.getKey() + ": " + reply.describe()).isEqualTo(401);
        assertThat(reply.type()).isEqualTo(ApiProblem.TYPE_BASE + ProblemTypes.UNAUTHENTICATED);
        assertThat(reply.wwwAuthenticate()).as("WWW-Authenticate of " + route).startsWith("Bearer");
        contract.validate(method, path, 401, reply.contentType(), reply.body());
        refused++;
        // A token that is not one is no better than none.
        assertThat(send(server.getValue(), method, path, "not-a-token").status()).as(route).isEqualTo(401);
      }
    }
    assertThat(refused).as("routes refused").isGreaterThan(15);
  }

  @Test
  void aComputeTokenReachesItsOwnTimelineOnly() throws IOException {
    String x = compute(tenantA, timelineX);
    // Its own timeline: basebackup, WAL, the timeline, on the pageserver; the timeline's state and WAL on a safekeeper.
    assertThat(send(pageserver(), "GET", timelinePath(tenantA, timelineX) + "/basebackup", x).status()).isEqualTo(200);
    assertThat(send(pageserver(), "GET", timelinePath(tenantA, timelineX) + "/wal/" + FIRST_SEGMENT, x).status()).isEqualTo(200);
    assertThat(send(pageserver(), "GET", timelinePath(tenantA, timelineX), x).status()).isEqualTo(200);
    assertThat(send(safekeeper(), "GET", timelinePath(tenantA, timelineX), x).status()).isEqualTo(200);

    List<Reply> refused = new ArrayList<>();
    // Another timeline of its tenant.
    refused.add(send(pageserver(), "GET", timelinePath(tenantA, timelineY) + "/basebackup", x));
    refused.add(send(pageserver(), "GET", timelinePath(tenantA, timelineY) + "/wal/" + FIRST_SEGMENT, x));
    refused.add(send(pageserver(), "POST", timelinePath(tenantA, timelineY) + "/generation", x));
    refused.add(send(safekeeper(), "GET", timelinePath(tenantA, timelineY), x));
    refused.add(send(safekeeper(), "POST", timelinePath(tenantA, timelineY) + "/fence", x));
    refused.add(send(safekeeper(), "POST", timelinePath(tenantA, timelineY) + "/follow", x));
    // Anything of another tenant.
    refused.add(send(pageserver(), "GET", timelinePath(tenantB, timelineB) + "/basebackup", x));
    refused.add(send(pageserver(), "GET", timelinePath(tenantB, timelineB) + "/wal/" + FIRST_SEGMENT, x));
    refused.add(send(pageserver(), "GET", timelinePath(tenantB, timelineB), x));
    refused.add(send(pageserver(), "GET", "/v1/tenant/" + tenantB, x));
    refused.add(send(safekeeper(), "GET", timelinePath(tenantB, timelineB) + "/wal/" + FIRST_SEGMENT, x));
    // Management, even of its own tenant and timeline.
    refused.add(send(pageserver(), "POST", "/v1/tenant", x));
    refused.add(send(pageserver(), "GET", "/v1/tenant", x));
    refused.add(send(pageserver(), "DELETE", "/v1/tenant/" + tenantA, x));
    refused.add(send(pageserver(), "GET", "/v1/tenant/" + tenantA + "/timeline", x));
    refused.add(send(pageserver(), "POST", "/v1/tenant/" + tenantA + "/timeline", x));
    refused.add(send(pageserver(), "DELETE", timelinePath(tenantA, timelineX), x));
    refused.add(send(pageserver(), "POST", timelinePath(tenantA, timelineX) + "/image", x));
    refused.add(send(safekeeper(), "DELETE", timelinePath(tenantA, timelineX), x));
    assertForbidden(refused);
    assertThat(storage.tenants()).as("tenants after the refused deletes").hasSize(2);
  }

  @Test
  void thePageserverScopeReachesTheSafekeepersStorageRoutesAndNothingOfAComputeOrAdmin() {
    String ps = token(StorageGrant.of("pageserver", Scope.PAGESERVER));
    assertThat(send(safekeeper(), "GET", timelinePath(tenantA, timelineX), ps).status()).isEqualTo(200);
    assertThat(send(safekeeper(), "GET", timelinePath(tenantA, timelineX) + "/wal/" + FIRST_SEGMENT, ps).status()).isEqualTo(404);
    assertThat(send(safekeeper(), "DELETE", timelinePath(TenantId.random(), TimelineId.random()), ps).status()).isEqualTo(204);
    // Its own working copies read WAL from the pageserver.
    assertThat(send(pageserver(), "GET", timelinePath(tenantA, timelineX) + "/wal/" + FIRST_SEGMENT, ps).status()).isEqualTo(200);
    assertForbidden(List.of(
        send(safekeeper(), "POST", timelinePath(tenantA, timelineX) + "/fence", ps),
        send(safekeeper(), "POST", timelinePath(tenantA, timelineX) + "/follow", ps),
        send(pageserver(), "GET", timelinePath(tenantA, timelineX) + "/basebackup", ps),
        send(pageserver(), "POST", timelinePath(tenantA, timelineX) + "/generation", ps),
        send(pageserver(), "GET", "/v1/tenant", ps),
        send(pageserver(), "POST", "/v1/tenant", ps),
        send(pageserver(), "DELETE", "/v1/tenant/" + tenantB, ps)));
  }

  @Test
  void theAdminScopeReachesEverythingOnBothServers() {
    assertThat(send(pageserver(), "GET", "/v1/tenant", admin).status()).isEqualTo(200);
    assertThat(send(pageserver(), "GET", "/v1/tenant/" + tenantB + "/timeline", admin).status()).isEqualTo(200);
    assertThat(send(pageserver(), "GET", timelinePath(tenantB, timelineB) + "/basebackup", admin).status()).isEqualTo(200);
    assertThat(send(safekeeper(), "GET", timelinePath(tenantB, timelineB), admin).status()).isEqualTo(200);
    assertThat(send(safekeeper(), "DELETE", timelinePath(TenantId.random(), TimelineId.random()), admin).status()).isEqualTo(204);
    // Admitted, and then refused for what the body says (no generation), not for who sent it.
    assertThat(send(safekeeper(), "POST", timelinePath(tenantB, timelineB) + "/fence", admin).status()).isEqualTo(400);
  }

  private static void assertForbidden(List<Reply> replies) {
    OpenApiContract pageserverDoc = document("the pageserver's document", pageserver());
    OpenApiContract safekeeperDoc = document("the safekeeper's document", safekeeper());
    for (Reply reply : replies) {
      assertThat(reply.status()).as(reply.describe()).isEqualTo(403);
      assertThat(reply.type()).isEqualTo(ApiProblem.TYPE_BASE + ProblemTypes.FORBIDDEN);
      (reply.baseUrl().equals(pageserver()) ? pageserverDoc : safekeeperDoc).validate(reply.method(), reply.path(), 403, reply.contentType(), reply.body());
    }
  }

  @Test
  void forgedTokensGet401AndTheServerKeepsServing() {
    String basebackup = timelinePath(tenantA, timelineX) + "/basebackup";
    SigningKey key = storage.keys().signingKey();
    String valid = compute(tenantA, timelineX);
    assertThat(send(pageserver(), "GET", basebackup, valid).status()).as("positive control").isEqualTo(200);

    long now = Instant.now().getEpochSecond();
    Map<String, String> forged = new LinkedHashMap<>();
    forged.put("alg none", unsigned("{\"alg\":\"none\",\"kid\":\"" + key.kid() + "\"}", claims(now).toJson()));
    forged.put("HS256 with the public key as the secret", hmacWithPublicKey(key, claims(now).toJson()));
    forged.put("an unknown key id", SigningKey.generate(key.kid() + "-other").mint(StorageProcesses.ISSUER,
        StorageGrant.compute("forger", tenantA, timelineX), Duration.ofHours(1)));
    forged.put("a tampered payload", tamper(compute(tenantA, timelineY), claims(now).toJson()));
    forged.put("expired", key.mint(StorageProcesses.ISSUER, StorageGrant.compute("c", tenantA, timelineX),
        Instant.now().minusSeconds(7200), Instant.now().minusSeconds(120)));
    forged.put("issued in the future", key.mint(StorageProcesses.ISSUER, StorageGrant.compute("c", tenantA, timelineX),
        Instant.now().plusSeconds(600), Instant.now().plusSeconds(7200)));
    JwtClaims notBefore = claims(now);
    notBefore.setNotBefore(NumericDate.fromSeconds(now + 600));
    forged.put("not valid before a time to come", key.sign(notBefore.toJson()));
    JwtClaims audience = claims(now);
    audience.setAudience("another-service");
    forged.put("the wrong aud", key.sign(audience.toJson()));
    forged.put("the wrong iss", key.mint("another-installation", StorageGrant.compute("c", tenantA, timelineX), Duration.ofHours(1)));
    JwtClaims noTenant = claims(now);
    noTenant.unsetClaim(StorageGrant.TENANT_CLAIM);
    forged.put("a compute token without tenant_id", key.sign(noTenant.toJson()));
    JwtClaims noExpiry = claims(now);
    noExpiry.unsetClaim("exp");
    forged.put("no exp", key.sign(noExpiry.toJson()));

    forged.forEach((what, token) -> {
      Reply reply = send(pageserver(), "GET", basebackup, token);
      assertThat(reply.status()).as(what + ": " + reply.describe()).isEqualTo(401);
      assertThat(reply.type()).as(what).isEqualTo(ApiProblem.TYPE_BASE + ProblemTypes.UNAUTHENTICATED);
      assertThat(new String(reply.body(), StandardCharsets.UTF_8)).as(what + ": the answer does not echo the token").doesNotContain(token);
    });
    assertThat(send(pageserver(), "GET", "/v1/status", null).status()).isEqualTo(200);
    assertThat(send(pageserver(), "GET", basebackup, valid).status()).as("still serving valid tokens").isEqualTo(200);
    assertThat(storage.isPageserverRunning()).isTrue();
  }

  /** Valid claims of a compute token of tenant A, timeline X, issued now for an hour. */
  private static JwtClaims claims(long now) {
    JwtClaims claims = new JwtClaims();
    claims.setIssuer(StorageProcesses.ISSUER);
    claims.setAudience(StorageGrant.AUDIENCE);
    claims.setSubject("forger");
    claims.setStringClaim(StorageGrant.SCOPE_CLAIM, Scope.COMPUTE.claim());
    claims.setStringClaim(StorageGrant.TENANT_CLAIM, tenantA.value());
    claims.setStringClaim(StorageGrant.TIMELINE_CLAIM, timelineX.value());
    claims.setIssuedAt(NumericDate.fromSeconds(now));
    claims.setExpirationTime(NumericDate.fromSeconds(now + 3600));
    return claims;
  }

  private static String base64(String text) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(StandardCharsets.UTF_8));
  }

  private static String unsigned(String header, String payload) {
    return base64(header) + "." + base64(payload) + ".";
  }

  /** The payload of {@code token} replaced, its header and signature kept. */
  private static String tamper(String token, String payload) {
    String[] parts = token.split("\\.");
    return parts[0] + "." + base64(payload) + "." + parts[2];
  }

  /** The classic confusion: HMAC keyed with the bytes of the public key the server trusts. */
  private static String hmacWithPublicKey(SigningKey key, String payload) {
    try {
      JsonWebSignature jws = new JsonWebSignature();
      jws.setPayload(payload);
      jws.setAlgorithmHeaderValue(AlgorithmIdentifiers.HMAC_SHA256);
      jws.setKeyIdHeaderValue(key.kid());
      jws.setKey(new HmacKey(java.nio.file.Files.readAllBytes(storage.keys().publicKeys())));
      jws.setDoKeyValidation(false);
      return jws.getCompactSerialization();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void aKeyAddedToTheSetIsAcceptedWithoutARestartUntilItIsRemoved() throws IOException {
    String basebackup = timelinePath(tenantA, timelineX) + "/basebackup";
    SigningKey first = storage.keys().signingKey();
    SigningKey second = SigningKey.generate("test-key-2");
    String ofFirst = compute(tenantA, timelineX);
    String ofSecond = second.mint(StorageProcesses.ISSUER, StorageGrant.compute("c", tenantA, timelineX), Duration.ofHours(1));
    long pid = storage.pageserverPid();
    try {
      assertThat(send(pageserver(), "GET", basebackup, ofSecond).status()).as("a key not in the set yet").isEqualTo(401);

      SigningKey.writePublicSet(storage.keys().publicKeys(), List.of(first, second));
      assertThat(send(pageserver(), "GET", basebackup, ofSecond).status()).as("the new key, without a restart").isEqualTo(200);
      assertThat(send(pageserver(), "GET", basebackup, ofFirst).status()).as("the old key while it is in the set").isEqualTo(200);

      SigningKey.writePublicSet(storage.keys().publicKeys(), List.of(second));
      assertThat(send(pageserver(), "GET", basebackup, ofFirst).status()).as("the old key once removed").isEqualTo(401);
      assertThat(send(pageserver(), "GET", basebackup, ofSecond).status()).isEqualTo(200);
      assertThat(storage.pageserverPid()).as("the same pageserver process throughout").isEqualTo(pid);
    } finally {
      SigningKey.writePublicSet(storage.keys().publicKeys(), List.of(first));
    }
  }
}
