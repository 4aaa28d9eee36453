package dev.arbor.storage.pageserver;

import dev.arbor.api.pageserver.GenerationInfo;
import dev.arbor.api.pageserver.GenerationReservation;
import dev.arbor.api.pageserver.ImageMade;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.Problem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.client.Json;
import dev.arbor.testing.OpenApiContract;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code /v1/openapi.json} describes the API the pageserver really serves: exactly the routes it registers, its
 * schemas are the records it writes, every answer of every route (successes and problems, on both ports of a
 * pageserver with a management listener) validates against the schema the document declares for that route and
 * status, and its problem types are the ones the pageserver's code can answer.
 */
class OpenApiTest {

  @RegisterExtension
  static final PageserverFixture pageserver = new PageserverFixture().withManagementListener();

  private static OpenApiContract contract;

  @BeforeAll
  static void readTheServedDocument() {
    contract = OpenApiContract.fetch("the pageserver's OpenAPI document", pageserver.api().baseUrl(), "/v1/openapi.json", Json.MAPPER);
  }

  @Test
  void theDocumentIsSelfConsistent() {
    contract.assertSelfConsistent();
  }

  @Test
  void itListsExactlyTheRoutesThePageserverServes() {
    assertThat(contract.routes()).containsExactlyInAnyOrderElementsOf(pageserver.routes());
  }

  /** Each route answers its method (unknown ids get a 404 naming the tenant, which is fine), on the port that serves it. */
  @Test
  void everyListedRouteIsServed() {
    String tenant = TenantId.random().toString();
    String timeline = TimelineId.random().toString();
    for (String route : contract.routes()) {
      RawApi.Reply reply = pageserver.api().probe(route, tenant, timeline);
      if (reply.status() == 404 && problemType(reply).equals(ApiProblem.TYPE_BASE + ProblemTypes.SERVED_ON_MANAGEMENT_PORT)) {
        reply = pageserver.management().probe(route, tenant, timeline);
      }
      assertThat(reply.status()).as(reply.describe()).isNotEqualTo(405).isLessThan(500);
      if (reply.status() == 404) {
        assertThat(problemType(reply)).as(reply.describe()).isNotEqualTo(ApiProblem.TYPE_BASE + ProblemTypes.NO_SUCH_ROUTE);
      }
    }
  }

  @Test
  void theSchemasAreTheRecordsThePageserverWrites() {
    contract.assertSchemaIsRecord("Tenant", TenantInfo.class);
    contract.assertSchemaIsRecord("Timeline", TimelineInfo.class);
    contract.assertSchemaIsRecord("Problem", Problem.class);
    contract.assertSchemaIsRecord("Reservation", GenerationReservation.class);
    contract.assertSchemaIsRecord("Generation", GenerationInfo.class);
    contract.assertSchemaIsRecord("ImageMade", ImageMade.class);
  }

  /** The document lists exactly the problem types the pageserver's code (and the HTTP server and quorum client under it) answers. */
  @Test
  void itListsTheProblemTypesThePageserverAnswers() {
    Set<String> answered = OpenApiContract.problemTypesIn(ProblemTypes.class, ProblemTypes.INVALID_FIELD, "server/src/main/java",
            "storage-engine/src/main/java/dev/arbor/storage/pageserver", "storage-engine/src/main/java/dev/arbor/storage/timeline",
            "client/src/main/java/dev/arbor/client/SafekeeperSet.java")
        .stream().map(t -> ApiProblem.TYPE_BASE + t).collect(Collectors.toCollection(TreeSet::new));
    assertThat(answered).contains(ApiProblem.TYPE_BASE + ProblemTypes.NO_SUCH_ROUTE, ApiProblem.TYPE_BASE + ProblemTypes.TENANT_NOT_FOUND);
    assertThat(contract.problemTypes()).isEqualTo(answered);
  }

  /**
   * Every route, answering successes and problems, on the port that serves it and on the other one: each answer's
   * status, content type and body are what the document declares. What the test cannot make this pageserver
   * answer is listed with the reason, and nothing else may stay unexercised.
   */
  @Test
  void everyAnswerValidatesAgainstTheDocument() {
    RawApi api = pageserver.api();
    RawApi mgmt = pageserver.management();
    String missingTenant = TenantId.random().toString();
    String missingTimeline = TimelineId.random().toString();

    answer(api.get("/metrics"), 200);
    answer(api.get("/v1/status"), 200);
    answer(mgmt.get("/v1/status"), 200);
    answer(mgmt.get("/v1/openapi.json"), 200);

    String tenant = TenantId.random().toString();
    JsonNode created = answer(mgmt.post("/v1/tenant", Map.of("pg_version", PageserverFixture.PG_MAJOR, "tenant_id", tenant)), 201).json();
    answer(mgmt.post("/v1/tenant", Map.of("pg_version", PageserverFixture.PG_MAJOR, "tenant_id", tenant)), 200);
    answer(mgmt.post("/v1/tenant", Map.of("tenant_id", tenant)), 400);
    answer(api.post("/v1/tenant", Map.of("pg_version", PageserverFixture.PG_MAJOR)), 404);
    answer(mgmt.get("/v1/tenant"), 200);
    answer(api.get("/v1/tenant"), 404);
    String tenantPath = "/v1/tenant/" + tenant;
    answer(mgmt.get(tenantPath), 200);
    answer(mgmt.get("/v1/tenant/" + missingTenant), 404);
    answer(mgmt.get("/v1/tenant/not-a-tenant"), 400);

    String timelines = PageserverFixture.timelines(tenant);
    String root = created.path("root_timeline_id").asText();
    answer(mgmt.get(timelines), 200);
    answer(mgmt.get(PageserverFixture.timelines(missingTenant)), 404);
    answer(mgmt.get("/v1/tenant/not-a-tenant/timeline"), 400);
    JsonNode branch = answer(mgmt.post(timelines, Map.of("ancestor_timeline_id", root)), 201).json();
    String branchId = branch.path("timeline_id").asText();
    answer(mgmt.post(timelines, Map.of("ancestor_timeline_id", root, "new_timeline_id", branchId,
        "ancestor_lsn", branch.path("ancestor_lsn").asText())), 200);
    JsonNode grandchild = answer(mgmt.post(timelines, Map.of("ancestor_timeline_id", branchId)), 201).json();
    answer(mgmt.post(timelines, Map.of("ancestor_timeline_id", root, "new_timeline_id", grandchild.path("timeline_id").asText())), 409);
    answer(mgmt.post(timelines, Map.of()), 400);
    answer(mgmt.post(timelines, Map.of("ancestor_timeline_id", missingTimeline)), 404);

    String rootPath = PageserverFixture.timelinePath(tenant, root);
    String branchPath = PageserverFixture.timelinePath(tenant, branchId);
    answer(api.get(rootPath), 200);
    answer(mgmt.get(rootPath), 200);
    answer(api.get(PageserverFixture.timelinePath(tenant, missingTimeline)), 404);
    answer(api.get(timelines + "/not-a-timeline"), 400);

    answer(api.post(branchPath + "/generation", Map.of("generation", 1)), 200);
    answer(api.post(branchPath + "/generation", Map.of("generation", 1)), 409);
    answer(api.post(branchPath + "/generation", Map.of()), 400);
    answer(api.post(PageserverFixture.timelinePath(tenant, missingTimeline) + "/generation", Map.of("generation", 1)), 404);
    answer(mgmt.post(branchPath + "/generation", Map.of("generation", 2)), 404);
    Map<String, Object> report = Map.of("parent_tli", 1, "start_lsn", branch.path("ancestor_lsn").asText(),
        "history", "1\t" + branch.path("ancestor_lsn").asText() + "\tno recovery target specified\n");
    answer(api.post(branchPath + "/generation/1/started", report), 200);
    answer(api.post(branchPath + "/generation/1/started", report), 200);
    answer(api.post(branchPath + "/generation/7/started", report), 404);
    answer(api.post(branchPath + "/generation/1/started", Map.of()), 400);
    answer(api.post(branchPath + "/generation", Map.of("generation", 2)), 200);
    answer(api.post(branchPath + "/generation/1/started", report), 409);
    answer(mgmt.post(branchPath + "/generation/2/started", report), 404);

    answer(api.get(rootPath + "/basebackup"), 200);
    answer(api.get(rootPath + "/basebackup?lsn=not-an-lsn"), 400);
    answer(api.get(PageserverFixture.timelinePath(tenant, missingTimeline) + "/basebackup"), 404);
    answer(mgmt.get(rootPath + "/basebackup"), 404);
    // The branch has a started generation: its end of WAL is on the safekeepers, none of which this pageserver reaches.
    answer(api.get(branchPath + "/basebackup?lsn=" + branch.path("ancestor_lsn").asText()), 503);

    answer(api.get(rootPath + "/wal/000000010000000000000001"), 200);
    answer(api.get(rootPath + "/wal/not-a-wal-file"), 400);
    answer(api.get(rootPath + "/wal/0000000100000000000000FF"), 404);
    answer(api.get(branchPath + "/wal/000000020000000000000001?until_lsn=0/6000000"), 503);

    answer(mgmt.post(rootPath + "/image", Map.of()), 409);
    answer(mgmt.post(PageserverFixture.timelinePath(tenant, missingTimeline) + "/image", Map.of()), 404);
    answer(mgmt.post(timelines + "/not-a-timeline/image", Map.of()), 400);
    answer(api.post(rootPath + "/image", Map.of()), 404);
    // Its end of WAL is on the safekeepers too.
    answer(mgmt.post(branchPath + "/image", Map.of()), 503);

    answer(mgmt.delete(rootPath), 409);
    answer(mgmt.delete(timelines + "/not-a-timeline"), 400);
    answer(mgmt.delete(PageserverFixture.timelinePath(tenant, missingTimeline)), 404);
    answer(mgmt.delete(PageserverFixture.timelinePath(tenant, grandchild.path("timeline_id").asText())), 204);
    // A branch of a timeline that ran a compute starts at its durable end, which only the safekeepers know.
    answer(mgmt.post(timelines, Map.of("ancestor_timeline_id", branchId)), 503);
    answer(api.delete(rootPath), 404);

    answer(mgmt.delete("/v1/tenant/not-a-tenant"), 400);
    answer(mgmt.delete(tenantPath), 204);
    answer(mgmt.delete(tenantPath), 404);

    // Answers that belong to no route: a problem all the same.
    contract.answerWithoutRoute(405, "PUT", api.baseUrl(), "/v1/tenant");
    contract.answerWithoutRoute(404, "GET", api.baseUrl(), "/v2/nothing");

    // 401 and 403 need a server that checks tokens: StorageTokensTest validates them against this document.
    assertThat(contract.unexercised().stream().filter(answer -> !answer.endsWith(" 401") && !answer.endsWith(" 403"))).as("documented answers this test did not see").containsExactlyInAnyOrder(
        // tenant-exists: the same id with another PostgreSQL major version, which must be installed (it is checked
        // first); the build host has PostgreSQL 15 only.
        "POST /v1/tenant 409",
        // WAL for an image: needs a compute that streamed to safekeepers (compute's ImagesFromWalTest).
        "POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/image 200");
  }

  /** Checks the status, then that the document declares this answer of this route. */
  private static RawApi.Reply answer(RawApi.Reply reply, int expectedStatus) {
    assertThat(reply.status()).as(reply.describe()).isEqualTo(expectedStatus);
    contract.validate(reply.method(), reply.path(), reply.status(), reply.contentType(), reply.body());
    return reply;
  }

  private static String problemType(RawApi.Reply reply) {
    return reply.json().path("type").asText();
  }
}
