package dev.arbor.storage.safekeeper;

import dev.arbor.client.SafekeeperSet;

import dev.arbor.api.safekeeper.FenceResult;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.api.safekeeper.TimelineWalStatus;

import static dev.arbor.storage.safekeeper.SafekeeperData.SEG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.server.TwoPortApi;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.TempDirectory;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;

/**
 * A safekeeper's {@code --management-listen}: computes must reach its compute port, so that port serves only what
 * a compute calls (fence, follow, its timeline's state and WAL) and what the pageserver and peers read there; a
 * timeline's deletion and {@code /metrics}, which names every tenant and timeline it holds, are served on the
 * management port only. A route asked on the wrong port says which port serves it.
 */
class SafekeeperManagementListenerTest {
  private final TenantId tenant = TenantId.random();
  private final TimelineId timeline = TimelineId.random();
  private final String segment = WalFileName.segment(2, 1, SEG);

  @Test
  void aComputePortServesWhatComputesCallAndRefusesDeletionAndMetrics() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-mgmt-");
         Safekeeper sk = startSplit(dir.path())) {
      SafekeeperClient compute = client(sk.url());
      assertThat(sk.managementUrl()).isNotEqualTo(sk.url());
      String managementPort = "management port (--management-listen, port " + URI.create(sk.managementUrl()).getPort() + ")";

      assertRefused(() -> compute.deleteTimeline(tenant, timeline), TwoPortApi.SERVED_ON_MANAGEMENT_PORT, "DELETE", managementPort);
      assertRefused(compute::metrics, TwoPortApi.SERVED_ON_MANAGEMENT_PORT, "GET /metrics", managementPort);
      // Nothing was deleted: the WAL is still served where computes, peers and the pageserver read it.
      assertThat(compute.timeline(tenant, timeline).flushLsn()).isEqualTo(new Lsn(2 * SEG + SEG / 4));
      assertThat(walFile(compute)).hasSize((int) SEG);

      // A compute's calls: its election (fence), the follow request, status and WAL.
      assertThat(compute.fence(tenant, timeline, new FenceRequest(1, true)))
          .isEqualTo(new FenceResult("sk-m", 1, 2, new Lsn(2 * SEG + SEG / 4)));
      assertThat(compute.follow(tenant, timeline, follow()).generation()).isEqualTo(1);
      assertThat(compute.status().timelines()).isEqualTo(1);
    }
  }

  @Test
  void theManagementPortServesDeletionMetricsAndWhatThePageserverReadsButNotElections() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-mgmt-");
         Safekeeper sk = startSplit(dir.path())) {
      SafekeeperClient management = client(sk.managementUrl());
      String computePort = "compute port (--listen, port " + sk.port() + ")";

      assertRefused(() -> management.fence(tenant, timeline, new FenceRequest(1, null)), TwoPortApi.SERVED_ON_COMPUTE_PORT, "POST",
          computePort);
      assertRefused(() -> management.follow(tenant, timeline, follow()), TwoPortApi.SERVED_ON_COMPUTE_PORT, "POST", computePort);

      // The pageserver's reads (durable end, WAL) and a scrape.
      assertThat(management.timeline(tenant, timeline).flushLsn()).isEqualTo(new Lsn(2 * SEG + SEG / 4));
      assertThat(walFile(management)).hasSize((int) SEG);
      assertThat(management.status().component()).isEqualTo("safekeeper");
      assertThat(management.metrics()).contains("arbor_safekeeper_flush_lsn_bytes{tenant_id=\"" + tenant + "\"");

      management.deleteTimeline(tenant, timeline);
      assertThat(management.timeline(tenant, timeline)).isEqualTo(new TimelineWalStatus("sk-m", 0, 0, Lsn.ZERO, false));
      // One registry behind both ports: the refused and the served requests are all counted.
      assertThat(management.metrics()).contains("code=\"204\",method=\"DELETE\",route=\"/v1/tenant/{tenant_id}/timeline/{timeline_id}\"")
          .doesNotContain("tenant_id=\"" + tenant + "\"");
    }
  }

  @Test
  void withoutAManagementListenerOnePortServesEverything() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-mgmt-")) {
      writeWal(dir.path());
      try (Safekeeper sk = SafekeeperData.start("sk-m", dir.resolve("data"), new LocalObjectStore(dir.resolve("objects")))) {
        assertThat(sk.managementUrl()).isEqualTo(sk.url());
        SafekeeperClient client = SafekeeperData.client(sk);
        assertThat(client.metrics()).contains("tenant_id=\"" + tenant + "\"");
        assertThat(client.fence(tenant, timeline, new FenceRequest(1, true)).generation()).isEqualTo(1);
        client.deleteTimeline(tenant, timeline);
        assertThat(client.timeline(tenant, timeline).tli()).isZero();
      }
    }
  }

  /**
   * The pageserver deletes WAL through {@link SafekeeperSet#deleteTimeline}, best effort. Given a compute port by
   * mistake, the refusal is logged with the fix instead of leaving the copy behind without a trace.
   */
  @Test
  void aDeleteSentToTheComputePortIsLoggedWithTheFixAndOneToTheManagementPortDeletes() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-mgmt-");
         Safekeeper sk = startSplit(dir.path());
         var err = StderrCapture.start()) {
      new SafekeeperSet(List.of(sk.url()), Duration.ofSeconds(10)).deleteTimeline(tenant, timeline);
      assertThat(err.lines("event=safekeeper_delete_failed", "safekeeper=" + sk.url(), "tenant=" + tenant, "timeline=" + timeline,
          "give the pageserver the safekeepers' management URLs (--safekeepers)")).hasSize(1);
      assertThat(SafekeeperData.client(sk).timeline(tenant, timeline).tli()).isEqualTo(2);

      new SafekeeperSet(List.of(sk.managementUrl()), Duration.ofSeconds(10)).deleteTimeline(tenant, timeline);
      assertThat(SafekeeperData.client(sk).timeline(tenant, timeline).tli()).isZero();
      assertThat(err.lines("event=safekeeper_delete_failed")).hasSize(1);
    }
  }

  private Safekeeper startSplit(Path dir) throws Exception {
    writeWal(dir);
    var loopback = new InetSocketAddress("127.0.0.1", 0);
    return new Safekeeper(new SafekeeperConfig("sk-m", loopback, dir.resolve("data"), new LocalObjectStore(dir.resolve("objects")))
        .withManagementListen(loopback)).start();
  }

  /** A timeline the safekeeper holds WAL of: TLI 2 from the second segment to a quarter into the fourth. */
  private void writeWal(Path dir) throws Exception {
    SafekeeperData.writeWal(SafekeeperData.storeDir(dir.resolve("data"), tenant, timeline), 2, new Lsn(SEG),
        SafekeeperData.randomWal(SEG + SEG / 4, 7));
  }

  private static FollowRequest follow() {
    return new FollowRequest(1, 2, new Lsn(2 * SEG + SEG / 4), "127.0.0.1", 1, "arbor_replication", "x", "arbor_sk_m", List.of());
  }

  private static SafekeeperClient client(String baseUrl) {
    return new SafekeeperClient(baseUrl, Duration.ofSeconds(30), RetryPolicy.NONE);
  }

  private byte[] walFile(SafekeeperClient client) throws Exception {
    try (InputStream in = client.walFile(tenant, timeline, segment, null, Duration.ofSeconds(30)).orElseThrow()) {
      return in.readAllBytes();
    }
  }

  private static void assertRefused(ThrowingCallable call, String type, String route, String port) {
    ApiProblem p = catchThrowableOfType(ApiProblem.class, call);
    assertThat(p).as("refused with %s", type).isNotNull();
    assertThat(p.status()).isEqualTo(404);
    assertThat(p.is(type)).as(p.getMessage()).isTrue();
    assertThat(p.getMessage()).contains(route).contains("is served on this safekeeper's " + port);
  }
}
