package dev.arbor.storage.pageserver;

import static dev.arbor.storage.pageserver.PageserverFixture.timelinePath;
import static dev.arbor.storage.pageserver.PageserverFixture.timelines;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.Lsn;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.Problem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.client.Json;
import java.net.http.HttpRequest;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Invariant 6 of ARCHITECTURE.md on the pageserver API: bad input gets a clear error and changes nothing.
 * Every refusal here must be a 4xx {@code application/problem+json} whose {@code field} names the offending
 * input and whose {@code detail} says what to do, and the whole object store (every key and its bytes) must
 * be identical before and after the request.
 *
 * <p>Tenant A has root {@code R} with the chain {@code R → B → C}; tenant Z has only its root {@code RZ}.
 */
class PageserverBadInputTest {

  @RegisterExtension
  static final PageserverFixture pageserver = new PageserverFixture();

  private static String a;
  private static String r;
  private static String b;
  private static String c;
  private static Lsn head;
  private static String z;
  private static String rz;

  @BeforeAll
  static void tenantsAndBranches() {
    JsonNode tenantA = pageserver.createTenant();
    a = tenantA.get("tenant_id").asText();
    r = tenantA.get("root_timeline_id").asText();
    head = Lsn.parse(pageserver.timeline(a, r).get("last_durable_lsn").asText());
    b = pageserver.createBranch(a, Map.of("ancestor_timeline_id", r)).get("timeline_id").asText();
    c = pageserver.createBranch(a, Map.of("ancestor_timeline_id", b)).get("timeline_id").asText();
    JsonNode tenantZ = pageserver.createTenant();
    z = tenantZ.get("tenant_id").asText();
    rz = tenantZ.get("root_timeline_id").asText();
  }

  // --- branch creation: the LSN -------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"zz/1", "16B5A50", "0/", "/0", "1/2/3", "123456789/0", " 0/16B5A50", "0x0/16B5A50", ""})
  void aMalformedAncestorLsnIsRefused(String lsn) {
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", r, "ancestor_lsn", lsn)),
        400, "invalid-field", "ancestor_lsn");
    assertThat(p.detail()).contains("'" + lsn + "'", "X/Y", "0/16B5A50", "omit ancestor_lsn");
  }

  @Test
  void anAncestorLsnThatIsNotAStringIsRefused() {
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", r, "ancestor_lsn", 23_812_688)),
        400, "invalid-field", "ancestor_lsn");
    assertThat(p.detail()).contains("must be a string");
  }

  @ParameterizedTest
  @ValueSource(strings = {"+1", "FFFFFFFF/FFFFFFFF", "1/0"})
  void anAncestorLsnBeyondTheParentsHeadIsRefused(String lsnOrOffset) {
    String lsn = lsnOrOffset.equals("+1") ? head.plus(1).toString() : lsnOrOffset;
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", r, "ancestor_lsn", lsn)),
        400, "lsn-out-of-range", "ancestor_lsn");
    assertThat(p.detail()).contains(lsn, "beyond the head", head.toString(), "pick an LSN at or below it");
  }

  @ParameterizedTest
  @ValueSource(strings = {"0/0", "0/1", "-1"})
  void anAncestorLsnBeforeTheParentBeginsIsRefused(String lsnOrOffset) {
    String lsn = lsnOrOffset.equals("-1") ? new Lsn(head.value() - 1).toString() : lsnOrOffset;
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", r, "ancestor_lsn", lsn)),
        400, "lsn-out-of-range", "ancestor_lsn");
    assertThat(p.detail()).contains(lsn, "before timeline " + r + " begins", head.toString());
  }

  @Test
  void anAncestorLsnBeforeABranchBeginsPointsAtItsAncestor() {
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", c, "ancestor_lsn", "0/1")),
        400, "lsn-out-of-range", "ancestor_lsn");
    assertThat(p.detail()).contains("before timeline " + c + " begins", "branch from its ancestor " + b + " instead");
  }

  // --- branch creation: the ancestor --------------------------------------------------------------

  @Test
  void anUnknownAncestorIsNotFound() {
    String unknown = TimelineId.random().toString();
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", unknown)), 404, "timeline-not-found", "ancestor_timeline_id");
    assertThat(p.detail()).contains(unknown, "GET " + timelines(a));
  }

  @Test
  void aTimelineOfAnotherTenantIsNoAncestorHere() {
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", rz)), 404, "timeline-not-found", "ancestor_timeline_id");
    assertThat(p.detail()).contains("tenant " + a + " has no timeline " + rz);
  }

  @ParameterizedTest
  @ValueSource(strings = {"not-a-timeline", "UPPER", "0123", "r-with-suffix"})
  void aMalformedAncestorIdIsRefused(String kind) {
    String id = switch (kind) {
      case "UPPER" -> r.toUpperCase(); // ids are lowercase: an uppercase spelling is not the same id
      case "0123" -> r.substring(1);
      case "r-with-suffix" -> r + "0";
      default -> kind;
    };
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", id)), 400, "invalid-field", "ancestor_timeline_id");
    assertThat(p.detail()).contains("'" + id + "'", "32 lowercase hex digits");
  }

  @Test
  void anAncestorIdThatIsNotAStringIsRefused() {
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", 42)), 400, "invalid-field", "ancestor_timeline_id");
    assertThat(p.detail()).contains("must be a string");
  }

  @ParameterizedTest
  @ValueSource(strings = {"{}", "", "{\"ancestor_timeline_id\": null}", "{\"ancestor_lsn\": \"0/16B5A50\"}"})
  void aMissingAncestorIsRefusedAndTheRootNamed(String body) {
    var p = refused(() -> pageserver.api().postRaw(timelines(a), body), 400, "invalid-field", "ancestor_timeline_id");
    assertThat(p.detail()).contains("required", "root timeline is " + r);
  }

  // --- branch creation: the new id ----------------------------------------------------------------

  @ParameterizedTest
  @CsvSource({
      "R, C, a timeline of another ancestry",
      "R, R, the root itself",
      "B, B, its own ancestor (a cycle)",
      "C, B, a child of its own descendant (a cycle)"})
  void aNewTimelineIdInUseWithAnotherAncestryIsAConflict(String ancestor, String newId, String what) {
    String ancestorId = named(ancestor);
    String id = named(newId);
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", ancestorId, "new_timeline_id", id)),
        409, "timeline-exists", "new_timeline_id");
    assertThat(p.detail()).as(what).contains(id, "already exists", "omit new_timeline_id").doesNotContain("null");
  }

  @Test
  void aMalformedNewTimelineIdIsRefused() {
    var p = refused(() -> createBranch(Map.of("ancestor_timeline_id", r, "new_timeline_id", "my-branch")),
        400, "invalid-field", "new_timeline_id");
    assertThat(p.detail()).contains("'my-branch'", "32 lowercase hex digits", "omit it");
  }

  // --- images -------------------------------------------------------------------------------------

  @Test
  void anImageWithoutNewWalIsRefusedAndWritesNothing() {
    var p = refused(() -> pageserver.api().post("/v1/tenant/" + a + "/timeline/" + b + "/image", Map.of()), 409, "no-new-wal",
        "timeline_id");
    assertThat(p.detail()).contains("timeline " + b, "newest image", "no whole record ends after that image");
  }

  // --- tenants ------------------------------------------------------------------------------------

  /** Every route under a tenant, with what it needs; {t} is replaced by the tenant id under test. */
  private static final String[] TENANT_ROUTES = {
      "POST /v1/tenant/{t}/timeline",
      "GET /v1/tenant/{t}",
      "DELETE /v1/tenant/{t}",
      "GET /v1/tenant/{t}/timeline",
      "GET /v1/tenant/{t}/timeline/{r}",
      "DELETE /v1/tenant/{t}/timeline/{b}",
      "GET /v1/tenant/{t}/timeline/{r}/basebackup",
      "GET /v1/tenant/{t}/timeline/{r}/wal/000000010000000000000001",
      "POST /v1/tenant/{t}/timeline/{r}/generation",
      "POST /v1/tenant/{t}/timeline/{r}/image",
  };

  @Test
  void anUnknownTenantIsNotFoundOnEveryRoute() {
    String unknown = TenantId.random().toString();
    for (String route : TENANT_ROUTES) {
      var p = refused(() -> call(route, unknown), 404, "tenant-not-found", "tenant_id");
      assertThat(p.detail()).as(route).contains("no tenant " + unknown, "GET /v1/tenant");
    }
  }

  @Test
  void aMalformedTenantIdIsRefusedOnEveryRoute() {
    // An all-digit id has no uppercase spelling; the DELETE below must never reach tenant A itself.
    var ids = a.equals(a.toUpperCase()) ? List.of("not-a-tenant", a.substring(2)) : List.of("not-a-tenant", a.toUpperCase(), a.substring(2));
    for (String id : ids) {
      for (String route : TENANT_ROUTES) {
        var p = refused(() -> call(route, id), 400, "invalid-field", "tenant_id");
        assertThat(p.detail()).as(route).contains("'" + id + "'", "32 lowercase hex digits");
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"99", "1000", "0", "-15"})
  void anUnavailablePgVersionIsRefused(int version) {
    var p = refused(() -> pageserver.api().post("/v1/tenant", Map.of("pg_version", version)), 400, "invalid-field", "pg_version");
    assertThat(p.detail()).contains("PostgreSQL " + version + " is not available on this pageserver");
  }

  @ParameterizedTest
  @ValueSource(strings = {"{}", "{\"pg_version\": \"15\"}", "{\"pg_version\": 15.5}", "{\"pg_version\": null}", "{\"pg_version\": [15]}"})
  void aPgVersionThatIsNotAMajorVersionNumberIsRefused(String body) {
    var p = refused(() -> pageserver.api().postRaw("/v1/tenant", body), 400, "invalid-field", "pg_version");
    assertThat(p.detail()).contains("pg_version is required", "major version", "e.g. 15");
  }

  @ParameterizedTest
  @ValueSource(strings = {"\"tenant-1\"", "\"ABCDEF0123456789ABCDEF0123456789\"", "7"})
  void aMalformedTenantIdOnCreateIsRefused(String idJson) {
    var p = refused(() -> pageserver.api().postRaw("/v1/tenant", "{\"pg_version\": 15, \"tenant_id\": " + idJson + "}"),
        400, "invalid-field", "tenant_id");
    assertThat(p.detail()).contains("32 lowercase hex digits", "or omit it");
  }

  // --- deleting -----------------------------------------------------------------------------------

  @Test
  void deletingATimelineWithChildrenIsAConflictThatNamesThem() {
    var p = refused(() -> pageserver.api().delete(timelinePath(a, b)), 409, "timeline-has-children", "timeline_id");
    assertThat(p.detail()).contains(b, "1 child branch", c, "delete them first");

    var root = refused(() -> pageserver.api().delete(timelinePath(a, r)), 409, "timeline-has-children", "timeline_id");
    assertThat(root.detail()).contains(b, "delete them first");
  }

  @Test
  void deletingARootTimelineIsAConflict() {
    var p = refused(() -> pageserver.api().delete(timelinePath(z, rz)), 409, "root-timeline", "timeline_id");
    assertThat(p.detail()).contains(rz, "root", "delete the tenant instead");
  }

  @Test
  void deletingAnUnknownOrMalformedTimelineIsRefused() {
    String unknown = TimelineId.random().toString();
    var p = refused(() -> pageserver.api().delete(timelinePath(a, unknown)), 404, "timeline-not-found", "timeline_id");
    assertThat(p.detail()).contains(unknown, "GET " + timelines(a));

    var malformed = refused(() -> pageserver.api().delete(timelinePath(a, "main")), 400, "invalid-field", "timeline_id");
    assertThat(malformed.detail()).contains("'main'", "32 lowercase hex digits");
  }

  // --- request bodies -----------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"[]", "[{\"pg_version\": 15}]", "\"pg_version\"", "42", "null", "true", "   "})
  void aBodyThatIsNotAJsonObjectIsRefused(String body) {
    var tenant = refused(() -> pageserver.api().postRaw("/v1/tenant", body), 400, "invalid-field", "body");
    assertThat(tenant.detail()).contains("must be a JSON object");
    var branch = refused(() -> pageserver.api().postRaw(timelines(a), body), 400, "invalid-field", "body");
    assertThat(branch.detail()).contains("must be a JSON object");
  }

  @ParameterizedTest
  @ValueSource(strings = {"{", "not json", "{pg_version: 15}", "{\"pg_version\": 15,}", "{\"pg_version\": 15} {\"pg_version\": 15}",
      "{\"pg_version\": 15} trailing"})
  void aBodyThatIsNotJsonIsRefused(String body) {
    var tenant = refused(() -> pageserver.api().postRaw("/v1/tenant", body), 400, "invalid-field", "body");
    assertThat(tenant.detail()).contains("not valid JSON");
    String branchBody = body.replace("\"pg_version\": 15", "\"ancestor_timeline_id\": \"" + r + "\"");
    var branch = refused(() -> pageserver.api().postRaw(timelines(a), branchBody), 400, "invalid-field", "body");
    assertThat(branch.detail()).contains("not valid JSON");
  }

  // --- routes and methods -------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"/", "/v1", "/v2/tenant", "/v1/tenants", "/v1/tenant/{t}/branch", "/v1/tenant/{t}/timeline/{r}/basebackup/x"})
  void anUnknownRouteIsNotFound(String template) {
    String path = template.replace("{t}", a).replace("{r}", r);
    var p = refused(() -> pageserver.api().get(path), 404, "no-such-route", null);
    assertThat(p.detail()).contains(path, "/v1/openapi.json");
  }

  @ParameterizedTest
  @CsvSource({
      "DELETE, /v1/tenant, GET POST",
      "PUT, /v1/tenant/{t}, GET DELETE",
      "PATCH, /v1/tenant/{t}/timeline/{r}, GET DELETE",
      "POST, /v1/tenant/{t}/timeline/{r}/basebackup, GET",
      "PUT, /v1/tenant/{t}/timeline/{r}/wal/000000010000000000000001, GET",
      "GET, /v1/tenant/{t}/timeline/{r}/generation, POST",
      "POST, /v1/openapi.json, GET"})
  void aWrongMethodIsNotAllowedAndTheAllowedOnesAreNamed(String method, String template, String allowedMethods) {
    String path = template.replace("{t}", a).replace("{r}", r);
    List<String> allowed = List.of(allowedMethods.split(" "));
    var p = refused(() -> pageserver.api().send(method, path, HttpRequest.BodyPublishers.ofString("{}")), 405, "method-not-allowed", null);
    assertThat(p.detail()).contains(method, path).contains(allowed);
    String allow = p.reply().headers().firstValue("Allow").orElse("");
    assertThat(allow.split(", ")).as("RFC 9110: a 405 names the allowed methods in Allow").containsExactlyInAnyOrderElementsOf(allowed);
  }

  // --- basebackup, WAL and generations ------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"zz/1", "0/", "16B5A50", "latest"})
  void aBasebackupAtAMalformedLsnIsRefused(String lsn) {
    var p = refused(() -> pageserver.api().get(timelinePath(a, r) + "/basebackup?lsn=" + lsn), 400, "invalid-field", "lsn");
    assertThat(p.detail()).contains("'" + lsn + "'", "X/Y", "omit lsn");
  }

  @ParameterizedTest
  @ValueSource(strings = {"0/1", "FFFFFFFF/FFFFFFFF"})
  void aBasebackupAtAnLsnOutsideTheTimelineIsRefused(String lsn) {
    var p = refused(() -> pageserver.api().get(timelinePath(a, b) + "/basebackup?lsn=" + lsn), 400, "lsn-out-of-range", "lsn");
    assertThat(p.detail()).contains(lsn, "outside timeline " + b, head.toString());
  }

  @ParameterizedTest
  @CsvSource({"R, one", "R, 7", "R, -1", "B, one", "B, 7"})
  void aBasebackupForAMalformedOrUnknownPgTliIsRefused(String timeline, String tli) {
    String id = named(timeline);
    var p = refused(() -> pageserver.api().get(timelinePath(a, id) + "/basebackup?pg_tli=" + tli), 400, "invalid-field", "pg_tli");
    assertThat(p.detail()).contains("TLI");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "recovery_from=nonsense&pg_tli=1&end_lsn=0/1000000 | is not an LSN",
      "recovery_from=0/100 | give it with pg_tli and end_lsn",
      "recovery_from=0/2000000&pg_tli=1&end_lsn=0/1000000 | is after end_lsn"})
  void aRecoveryFromThatCannotBeAKeptPgdatasIsRefused(String query, String says) {
    var p = refused(() -> pageserver.api().get(timelinePath(a, r) + "/basebackup?" + query), 400, "invalid-field", "recovery_from");
    assertThat(p.detail()).contains(says);
  }

  @ParameterizedTest
  @ValueSource(strings = {"nonsense", "00000001000000000000001", "00000001.HISTORY", "000000010000000000000001.partial"})
  void aMalformedWalFileNameIsRefused(String file) {
    var p = refused(() -> pageserver.api().get(timelinePath(a, r) + "/wal/" + file), 400, "invalid-field", "file");
    assertThat(p.detail()).contains("'" + file + "'", "24 hex digits", "TTTTTTTT.history");
  }

  @ParameterizedTest
  @ValueSource(strings = {"{}", "{\"generation\": 0}", "{\"generation\": -3}", "{\"generation\": \"1\"}", "{\"generation\": 1.5}"})
  void aGenerationThatIsNotAPositiveIntegerIsRefused(String body) {
    var p = refused(() -> pageserver.api().postRaw(timelinePath(a, b) + "/generation", body), 400, "invalid-field", "generation");
    assertThat(p.detail()).contains("positive integer");
  }

  // --- helpers ------------------------------------------------------------------------------------

  /**
   * Sends the request and checks the refusal: status, problem+json with the type and field, an instance
   * naming the path, a detail — and an object store identical to the one before.
   */
  private static Refusal refused(Supplier<RawApi.Reply> request, int status, String type, String field) {
    ObjectStoreSnapshot before = pageserver.snapshot();
    RawApi.Reply reply = request.get();
    ObjectStoreSnapshot after = pageserver.snapshot();
    String what = reply.describe();

    assertThat(reply.status()).as(what).isEqualTo(status);
    assertThat(reply.contentType()).as(what).isEqualTo("application/problem+json");
    Problem p = Json.read(reply.body(), Problem.class);
    assertThat(p.type()).as(what).isEqualTo(ApiProblem.TYPE_BASE + type);
    assertThat(p.status()).as(what).isEqualTo(status);
    assertThat(p.title()).as(what).isNotBlank();
    assertThat(p.instance()).as(what).isEqualTo(reply.path().replaceFirst("\\?.*", ""));
    assertThat(p.field()).as(what).isEqualTo(field);
    assertThat(p.detail()).as(what).isNotBlank();
    // Together: the store is exactly as before, every key with the same bytes.
    assertThat(after.addedOrChangedSince(before)).as("objects written by the refused %s", what).isEmpty();
    assertThat(after.removedSince(before)).as("objects removed by the refused %s", what).isEmpty();
    return new Refusal(reply, p);
  }

  private record Refusal(RawApi.Reply reply, Problem problem) {
    String detail() {
      return problem.detail();
    }
  }

  private static RawApi.Reply createBranch(Map<String, ?> body) {
    return pageserver.api().post(timelines(a), body);
  }

  /** Sends a route of {@link #TENANT_ROUTES} for {@code tenantId}, with a body that would be valid for tenant A. */
  private static RawApi.Reply call(String route, String tenantId) {
    String method = route.substring(0, route.indexOf(' '));
    String path = route.substring(route.indexOf(' ') + 1).replace("{t}", tenantId).replace("{r}", r).replace("{b}", b);
    Map<String, Object> body = new LinkedHashMap<>();
    if (path.endsWith("/timeline")) {
      body.put("ancestor_timeline_id", r);
    } else if (path.endsWith("/generation")) {
      body.put("generation", 1);
    }
    return method.equals("POST") ? pageserver.api().post(path, body)
        : pageserver.api().send(method, path, HttpRequest.BodyPublishers.noBody());
  }

  private static String named(String name) {
    return switch (name) {
      case "R" -> r;
      case "B" -> b;
      case "C" -> c;
      default -> throw new IllegalArgumentException(name);
    };
  }
}
