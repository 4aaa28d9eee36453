package dev.arbor.storage.pageserver;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.net.URI;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code --management-listen}: tenant and timeline management is served on the management port only, so that a
 * NetworkPolicy can keep computes away from it, while the compute port keeps every call a compute (and an image
 * working copy) makes. A route asked on the wrong port says which port serves it. Without a management listener,
 * one port serves everything, as the CLI's local mode needs.
 */
class ManagementListenerTest {

  /** What computes call to start (ComputeAgent, ComputeStart, SnapshotStart, RecoveryEnd) and restore_command fetches. */
  static final Set<String> COMPUTE_ONLY = Set.of(
      "POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/generation",
      "POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/generation/{generation}/started",
      "GET /v1/tenant/{tenant_id}/timeline/{timeline_id}/basebackup",
      "GET /v1/tenant/{tenant_id}/timeline/{timeline_id}/wal/{file}");

  /** Status, this API's description and metrics; and one timeline, which the compute agent checks before it starts. */
  static final Set<String> BOTH = Set.of("GET /v1/status", "GET /v1/openapi.json", "GET /metrics",
      "GET /v1/tenant/{tenant_id}/timeline/{timeline_id}");

  @RegisterExtension
  static final PageserverFixture split = new PageserverFixture().withManagementListener();

  @RegisterExtension
  static final PageserverFixture single = new PageserverFixture();

  private final String tenant = TenantId.random().toString();
  private final String timeline = TimelineId.random().toString();

  /** The rest: creating, listing, deleting and imaging tenants and timelines, which only the operator (and people) call. */
  private static List<String> managementOnly() {
    return split.routes().stream().filter(r -> !COMPUTE_ONLY.contains(r) && !BOTH.contains(r)).toList();
  }

  @Test
  void managementRoutesAreServedOnTheManagementPortOnly() {
    for (String route : managementOnly()) {
      assertServed(split.management().probe(route, tenant, timeline));
      assertRefusedForThe(split.api().probe(route, tenant, timeline), Pageserver.SERVED_ON_MANAGEMENT_PORT,
          "management port (--management-listen, port " + URI.create(split.management().baseUrl()).getPort() + ")");
    }
  }

  @Test
  void computeRoutesAreServedOnTheComputePortOnly() {
    for (String route : COMPUTE_ONLY) {
      assertServed(split.api().probe(route, tenant, timeline));
      assertRefusedForThe(split.management().probe(route, tenant, timeline), Pageserver.SERVED_ON_COMPUTE_PORT,
          "compute port (--listen, port " + split.port() + ")");
    }
  }

  @Test
  void bothPortsServeTheRest() {
    assertThat(managementOnly()).hasSize(8).contains("POST /v1/tenant", "DELETE /v1/tenant/{tenant_id}/timeline/{timeline_id}",
        "POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/image");
    for (String route : BOTH) {
      assertServed(split.api().probe(route, tenant, timeline));
      assertServed(split.management().probe(route, tenant, timeline));
    }
    assertThat(split.management().get("/v1/status").expect(200).path("status").asText()).isEqualTo("ok");
    // One registry behind both ports: a scrape of either counts the requests of both.
    split.management().get("/v1/tenant").expect(200);
    for (RawApi port : List.of(split.api(), split.management())) {
      assertThat(port.get("/metrics").text())
          .contains("arbor_http_requests_total{code=\"200\",method=\"GET\",route=\"/v1/status\"}")
          .contains("arbor_http_requests_total{code=\"200\",method=\"GET\",route=\"/v1/tenant\"}");
    }
  }

  /** The operator's part on the management port, a compute's part on the compute port: a tenant to a basebackup. */
  @Test
  void aTenantMadeOnTheManagementPortStartsAComputeThroughTheComputePort() {
    JsonNode created = split.createTenant();
    String tenantId = created.path("tenant_id").asText();
    String root = created.path("root_timeline_id").asText();
    assertThat(split.management().get("/v1/tenant").expect(200).findValuesAsText("tenant_id")).contains(tenantId);

    String timelinePath = PageserverFixture.timelinePath(tenantId, root);
    assertThat(split.api().get(timelinePath).expect(200).path("pg_version").asInt()).isEqualTo(PageserverFixture.PG_MAJOR);
    var backup = DownloadedBasebackup.fetch(split.api(), tenantId, root, "", split.directory(), "basebackup-" + root);
    // Its restore_command fetches WAL from the compute port too.
    assertThat(backup.recoverySettings().get("restore_command")).contains("\"" + split.url() + timelinePath + "/wal/%f\"");
  }

  @Test
  void withoutAManagementListenerOnePortServesEverything() {
    assertThat(single.management().baseUrl()).isEqualTo(single.api().baseUrl());
    assertThat(single.routes()).containsExactlyInAnyOrderElementsOf(split.routes());
    for (String route : single.routes()) {
      assertServed(single.api().probe(route, tenant, timeline));
    }
  }

  /** The route answered for itself: anything but "no such route", "method not allowed", "the other port" or a failure. */
  private static void assertServed(RawApi.Reply reply) {
    assertThat(reply.status()).as(reply.describe()).isNotEqualTo(405).isLessThan(500);
    if (reply.status() == 404) {
      assertThat(reply.json().path("type").asText()).as(reply.describe()).isNotIn(ApiProblem.TYPE_BASE + "no-such-route",
          ApiProblem.TYPE_BASE + Pageserver.SERVED_ON_MANAGEMENT_PORT, ApiProblem.TYPE_BASE + Pageserver.SERVED_ON_COMPUTE_PORT);
    }
  }

  private static void assertRefusedForThe(RawApi.Reply reply, String type, String port) {
    assertThat(reply.status()).as(reply.describe()).isEqualTo(404);
    assertThat(reply.contentType()).isEqualTo("application/problem+json");
    JsonNode problem = reply.json();
    assertThat(problem.path("type").asText()).as(reply.describe()).isEqualTo(ApiProblem.TYPE_BASE + type);
    assertThat(problem.path("detail").asText()).as(reply.describe()).contains("is served on this pageserver's " + port);
    assertThat(problem.path("instance").asText()).isEqualTo(reply.path());
  }
}
