package dev.arbor.operator;

import dev.arbor.api.ProblemTypes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.testing.AgentProcess;
import dev.arbor.crds.v1alpha1.Branch;
import dev.arbor.crds.v1alpha1.Endpoint;
import dev.arbor.crds.v1alpha1.Project;
import dev.arbor.api.Lsn;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.api.safekeeper.TimelineWalStatus;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

/**
 * What a compute reaches of the storage engine (review item 1): the URLs in its ARBOR_COMPUTE_SPEC are the
 * pageserver's and the safekeepers' compute ports, which serve what a compute calls and name no other tenant, and
 * its token reaches its own timeline only (a management route gets 403 for it);
 * listing ids, deleting a timeline's WAL and the metrics that name every timeline are on the management ports,
 * which only the pageserver (and the operator, on the pageserver's) is given.
 */
class OperatorStorageIsolationIT extends OperatorTestBase {

  /**
   * From compute A's spec, B's ids cannot be listed (safekeeper metrics, pageserver lists) and B's WAL on the
   * safekeeper cannot be deleted; B's compute writes and reads on as before.
   */
  @Test
  void aComputeCanNeitherListNorDeleteAnotherTenantsWalOnTheSafekeepers() throws Exception {
    readyProject("iso-a", "pa");
    Project b = readyProject("iso-b", "pb");
    Branch bMain = awaitBranchReady("iso-b", "pb-main");
    endpoint("iso-a", "pa-rw", "pa-main");
    endpoint("iso-b", "pb-rw", "pb-main");
    awaitStatefulSet("iso-a", "pa-rw");
    awaitStatefulSet("iso-b", "pb-rw");
    String bTenant = b.getStatus().getTenantId();
    String bTimeline = bMain.getStatus().getTimelineId();

    try (var pods = TempDirectory.create("arbor-iso-pods-")) {
      LocalPod a = LocalPod.of(client(), "iso-a", "pa-rw", pods.resolve("pa-rw-0"));
      LocalPod bPod = LocalPod.of(client(), "iso-b", "pb-rw", pods.resolve("pb-rw-0"));
      assertThat(a.spec.safekeepers()).as("compute A is given the safekeepers' compute ports")
          .isEqualTo(storage.safekeeperUrls()).doesNotContainValue(storage.safekeeperManagementUrls().get("sk-0"));
      try (AgentProcess agent = bPod.start()) {
        agent.awaitRunning();
        Lsn written;
        try (Connection c = agent.superuser("postgres"); Statement st = c.createStatement()) {
          st.execute("CREATE TABLE notes (id int, body text)");
          st.execute("INSERT INTO notes SELECT g, 'before ' || g FROM generate_series(1, 1000) g");
          written = Lsn.parse(one(st, "SELECT pg_current_wal_lsn()"));
        }
        TimelineWalStatus held = awaitHeld(bTenant, bTimeline, written);

        for (String sk : a.spec.safekeepers().values()) {
          var asA = new SafekeeperClient(sk, Duration.ofSeconds(30), RetryPolicy.NONE, TokenSource.file(a.storageTokenFile()).allowPlainHttp());
          assertForbidden(() -> asA.deleteTimeline(new TenantId(bTenant), new TimelineId(bTimeline)));
          // HttpJson.get, not download: download reads any 404 as "not there".
          assertRefusedOnComputePort(() -> http.get(sk + "/metrics", String.class));
          // The raw body, not the typed status: nothing the safekeeper answers may name B.
          assertThat(text(sk + SafekeeperClient.STATUS_PATH)).doesNotContain(bTenant, bTimeline);
        }
        String pageserver = a.spec.pageserverUrl();
        var viaCompute = new PageserverClient(pageserver, Duration.ofSeconds(30), RetryPolicy.NONE, TokenSource.file(a.storageTokenFile()).allowPlainHttp());
        assertForbidden(viaCompute::tenants);
        assertForbidden(() -> viaCompute.timelines(new TenantId(bTenant)));
        assertThat(text(pageserver + "/metrics")).doesNotContain(bTenant, bTimeline);
        assertThat(text(pageserver + "/v1/status")).doesNotContain(bTenant, bTimeline);

        // The safekeeper still holds B's WAL, and B goes on committing (each commit waits for it) and reading.
        assertThat(storage.safekeeperStatus("sk-0", new TenantId(bTenant), new TimelineId(bTimeline)).orElseThrow().flushLsn())
            .isGreaterThanOrEqualTo(held.flushLsn());
        try (Connection c = agent.superuser("postgres"); Statement st = c.createStatement()) {
          st.execute("INSERT INTO notes SELECT g, 'after ' || g FROM generate_series(1001, 2000) g");
          assertThat(one(st, "SELECT count(*) FROM notes")).isEqualTo("2000");
          assertThat(one(st, "SELECT body FROM notes WHERE id = 1")).isEqualTo("before 1");
        }
      }
    }
  }

  /**
   * The pageserver is given the safekeepers' management ports: deleting a Project still removes its WAL from
   * them (a DELETE on a compute port would be refused, and the copy would stay for good).
   */
  @Test
  void deletingAProjectRemovesItsWalFromTheSafekeepersThroughTheirManagementPorts() throws Exception {
    Project p = readyProject("iso-del", "gone");
    Branch main = awaitBranchReady("iso-del", "gone-main");
    endpoint("iso-del", "gone-rw", "gone-main");
    awaitStatefulSet("iso-del", "gone-rw");
    var tenant = new TenantId(p.getStatus().getTenantId());
    var timeline = new TimelineId(main.getStatus().getTimelineId());
    try (var pods = TempDirectory.create("arbor-iso-pods-")) {
      LocalPod pod = LocalPod.of(client(), "iso-del", "gone-rw", pods.resolve("gone-rw-0"));
      try (AgentProcess agent = pod.start()) {
        agent.awaitRunning();
        try (Connection c = agent.superuser("postgres"); Statement st = c.createStatement()) {
          st.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g");
        }
      }
    }
    assertThat(storage.safekeeperStatus("sk-0", tenant, timeline).orElseThrow().generation()).isPositive();

    client().resources(Endpoint.class).inNamespace("iso-del").withName("gone-rw").delete();
    client().resources(Project.class).inNamespace("iso-del").withName("gone").delete();
    await().atMost(WAIT).until(() -> client().resources(Project.class).inNamespace("iso-del").withName("gone").get() == null);
    assertThat(tenants()).noneMatch(t -> t.tenantId().equals(tenant));
    assertThat(storage.safekeeperStatus("sk-0", tenant, timeline).orElseThrow())
        .as("the safekeeper's copy of the deleted tenant's WAL").isEqualTo(new TimelineWalStatus("sk-0", 0, 0, Lsn.ZERO, false));
  }

  private static TimelineWalStatus awaitHeld(String tenant, String timeline, Lsn lsn) {
    await().atMost(WAIT).until(() -> storage.safekeeperStatus("sk-0", new TenantId(tenant), new TimelineId(timeline))
        .filter(s -> !s.flushLsn().isBefore(lsn)).isPresent());
    return storage.safekeeperStatus("sk-0", new TenantId(tenant), new TimelineId(timeline)).orElseThrow();
  }

  private static String text(String url) throws IOException {
    try (InputStream in = http.download(url, Duration.ofSeconds(30)).orElseThrow()) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** A route A's compute token does not reach: refused for the token before the port is looked at. */
  private static void assertForbidden(ThrowingCallable call) {
    assertThatThrownBy(call).isInstanceOfSatisfying(ApiProblem.class, p -> {
      assertThat(p.status()).as(p.getMessage()).isEqualTo(403);
      assertThat(p.is(ProblemTypes.FORBIDDEN)).as("refused for its token's scope: %s", p.getMessage()).isTrue();
    });
  }

  private static void assertRefusedOnComputePort(ThrowingCallable call) {
    assertThatThrownBy(call).isInstanceOfSatisfying(ApiProblem.class, p -> {
      assertThat(p.status()).isEqualTo(404);
      assertThat(p.is(ProblemTypes.SERVED_ON_MANAGEMENT_PORT)).as("refused as a management route: %s", p.getMessage()).isTrue();
    });
  }
}
