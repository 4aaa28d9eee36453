package dev.arbor.storage.safekeeper;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.Lsn;
import dev.arbor.api.Problem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.safekeeper.FenceResult;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import dev.arbor.client.Json;
import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.api.safekeeper.SafekeeperStatus;
import dev.arbor.postgres.WalFileName;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.OpenApiContract;
import dev.arbor.testing.TempDirectory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code /v1/openapi.json} of a safekeeper describes what it really serves: exactly the routes it registers, its
 * schemas are the records of {@code dev.arbor.api.safekeeper}, every answer of every route (successes and
 * problems, on both ports of a safekeeper with a management listener) validates against the document, and its
 * problem types are the ones the safekeeper's code can answer.
 */
class SafekeeperOpenApiTest {
  private static final TenantId TENANT = TenantId.random();
  /** Holds WAL of TLI 2 from the second segment to a quarter into the fourth. */
  private static final TimelineId WITH_WAL = TimelineId.random();
  /** Its flush record is damaged: the safekeeper quarantines it at start. */
  private static final TimelineId DAMAGED = TimelineId.random();

  private static TempDirectory dir;
  private static Safekeeper safekeeper;
  private static OpenApiContract contract;

  @BeforeAll
  static void startASafekeeperWithAManagementListener() throws Exception {
    dir = TempDirectory.create("arbor-sk-openapi-");
    Path data = dir.resolve("data");
    SafekeeperData.writeWal(SafekeeperData.storeDir(data, TENANT, WITH_WAL), 2, new Lsn(SEG), SafekeeperData.randomWal(SEG + SEG / 4, 7));
    Path damaged = SafekeeperData.storeDir(data, TENANT, DAMAGED);
    SafekeeperData.writeWal(damaged, 2, new Lsn(SEG), SafekeeperData.randomWal(SEG / 2, 8));
    SafekeeperQuarantineTest.damageBothSlots(damaged.resolve("flush"));
    var loopback = new InetSocketAddress("127.0.0.1", 0);
    safekeeper = new Safekeeper(new SafekeeperConfig("sk-o", loopback, data, new LocalObjectStore(dir.resolve("objects")))
        .withManagementListen(loopback)).start();
    contract = OpenApiContract.fetch("the safekeeper's OpenAPI document", safekeeper.url(), "/v1/openapi.json", Json.MAPPER);
  }

  @AfterAll
  static void stop() {
    if (safekeeper != null) {
      safekeeper.close();
    }
    if (dir != null) {
      dir.close();
    }
  }

  @Test
  void theDocumentIsSelfConsistent() {
    contract.assertSelfConsistent();
  }

  @Test
  void itListsExactlyTheRoutesTheSafekeeperServes() {
    assertThat(contract.routes()).containsExactlyInAnyOrderElementsOf(safekeeper.routes());
  }

  @Test
  void theSchemasAreTheRecordsTheSafekeeperReadsAndWrites() {
    contract.assertSchemaIsRecord("TimelineWalStatus", TimelineWalStatus.class);
    contract.assertSchemaIsRecord("FenceResult", FenceResult.class);
    contract.assertSchemaIsRecord("FollowRequest", FollowRequest.class);
    contract.assertSchemaIsRecord("Problem", Problem.class);
    contract.assertSchemaIsRecord("FenceRequest", FenceRequest.class);
    contract.assertSchemaIsRecord("Status", SafekeeperStatus.class);
  }

  @Test
  void itListsTheProblemTypesTheSafekeeperAnswers() {
    Set<String> answered = OpenApiContract.problemTypesIn(ProblemTypes.class, ProblemTypes.INVALID_FIELD, "server/src/main/java",
            "storage-engine/src/main/java/dev/arbor/storage/safekeeper")
        .stream().map(t -> ApiProblem.TYPE_BASE + t).collect(Collectors.toCollection(TreeSet::new));
    assertThat(answered).contains(ApiProblem.TYPE_BASE + ProblemTypes.FENCE_REQUIRED);
    assertThat(contract.problemTypes()).isEqualTo(answered);
  }

  @Test
  void everyAnswerValidatesAgainstTheDocument() {
    String compute = safekeeper.url();
    String management = safekeeper.managementUrl();
    String tl = timelinePath(WITH_WAL);
    String damaged = timelinePath(DAMAGED);
    String fresh = timelinePath(TimelineId.random());
    String badIds = "/v1/tenant/not-a-tenant/timeline/" + WITH_WAL;
    String segment = WalFileName.segment(2, 1, SEG);

    contract.answer(200, "GET", management, "/metrics", null);
    contract.answer(404, "GET", compute, "/metrics", null);
    contract.answer(200, "GET", compute, "/v1/status", null);
    contract.answer(200, "GET", management, "/v1/openapi.json", null);

    contract.answer(200, "GET", compute, tl, null);
    contract.answer(200, "GET", management, fresh, null);
    contract.answer(400, "GET", compute, badIds, null);
    contract.answer(503, "GET", compute, damaged, null);

    contract.answer(200, "POST", compute, tl + "/fence", "{\"generation\": 1, \"started\": true}");
    contract.answer(409, "POST", compute, tl + "/fence", "{\"generation\": 1}");
    contract.answer(400, "POST", compute, tl + "/fence", "{}");
    contract.answer(404, "POST", management, tl + "/fence", "{\"generation\": 2}");
    contract.answer(503, "POST", compute, fresh + "/fence", "{\"generation\": 1, \"started\": true}");

    String follow = new String(Json.write(new FollowRequest(1, 2, new Lsn(2 * SEG + SEG / 4), "127.0.0.1", 1, "arbor_replication", "x",
        "arbor_sk_o", List.of())), StandardCharsets.UTF_8);
    contract.answer(200, "POST", compute, tl + "/follow", follow);
    contract.answer(409, "POST", compute, tl + "/follow", follow.replace("\"generation\" : 1", "\"generation\" : 5"));
    contract.answer(400, "POST", compute, tl + "/follow", follow.replace("\"tli\" : 2", "\"tli\" : 0"));
    contract.answer(404, "POST", management, tl + "/follow", follow);
    contract.answer(503, "POST", compute, damaged + "/follow", follow);

    contract.answer(200, "GET", compute, tl + "/wal/" + segment, null);
    contract.answer(400, "GET", compute, tl + "/wal/not-a-wal-file", null);
    contract.answer(404, "GET", management, tl + "/wal/" + WalFileName.segment(2, 9, SEG), null);
    contract.answer(503, "GET", compute, damaged + "/wal/" + segment, null);

    contract.answer(404, "DELETE", compute, tl, null);
    contract.answer(400, "DELETE", management, badIds, null);
    contract.answer(204, "DELETE", management, tl, null);

    contract.answerWithoutRoute(405, "PUT", compute, "/v1/status");
    contract.answerWithoutRoute(404, "GET", compute, "/v2/nothing");

    // 401 and 403 need a server that checks tokens: StorageTokensTest validates them against this document.
    assertThat(contract.unexercised().stream().filter(answer -> !answer.endsWith(" 401") && !answer.endsWith(" 403"))).as("documented answers this test did not see").isEmpty();
  }

  /** Raw on purpose: the answers checked include those to requests no typed client would send. */
  private static String timelinePath(TimelineId timeline) {
    return "/v1/tenant/" + TENANT + "/timeline/" + timeline;
  }
}
