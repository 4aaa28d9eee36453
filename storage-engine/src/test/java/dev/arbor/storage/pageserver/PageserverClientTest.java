package dev.arbor.storage.pageserver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.BasebackupRequest;
import dev.arbor.api.pageserver.CreateTenantRequest;
import dev.arbor.api.pageserver.CreateTimelineRequest;
import dev.arbor.api.pageserver.GenerationInfo;
import dev.arbor.api.pageserver.GenerationReservation;
import dev.arbor.api.pageserver.GenerationStartedRequest;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.api.pageserver.TimelineState;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.testing.FaultProxy;
import dev.arbor.testing.FaultProxy.Fault;
import dev.arbor.testing.FreePort;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link PageserverClient} against a real pageserver: every route as a typed call, a refusal as the problem the
 * server sent, and the retry rule (an idempotent call outlasts a pageserver that is not up yet; a call that must
 * reach the pageserver at most once is not sent again after a timeout).
 */
class PageserverClientTest {
  @RegisterExtension
  static final PageserverFixture pageserver = new PageserverFixture();

  private static PageserverClient client;
  private static TenantInfo tenant;

  @BeforeAll
  static void tenant() throws IOException {
    client = new PageserverClient(pageserver.url(), Duration.ofSeconds(60));
    tenant = client.createTenant(new CreateTenantRequest(TenantId.random(), PageserverFixture.PG_MAJOR));
  }

  @Test
  void tenantsAndTimelinesMakeATypedRoundTrip() throws IOException {
    assertThat(client.status().component()).isEqualTo("pageserver");
    assertThat(client.openApi().path("paths").has("/v1/tenant/{tenant_id}/timeline/{timeline_id}/basebackup")).isTrue();

    assertThat(client.tenant(tenant.tenantId())).isEqualTo(tenant);
    assertThat(client.tenants()).contains(tenant);
    assertThat(client.createTenant(new CreateTenantRequest(tenant.tenantId(), PageserverFixture.PG_MAJOR)))
        .as("a repeated create with the same id answers the tenant").isEqualTo(tenant);

    TimelineId id = TimelineId.random();
    var request = new CreateTimelineRequest(id, tenant.rootTimelineId(), null);
    TimelineInfo branch = client.createTimeline(tenant.tenantId(), request);
    assertThat(branch.timelineId()).isEqualTo(id);
    assertThat(branch.ancestorTimelineId()).isEqualTo(tenant.rootTimelineId());
    assertThat(branch.state()).isEqualTo(TimelineState.ACTIVE);
    assertThat(client.createTimeline(tenant.tenantId(), new CreateTimelineRequest(id, tenant.rootTimelineId(),
        branch.ancestorLsn().toString()))).as("a repeat at the same LSN answers the branch").isEqualTo(branch);
    assertThat(client.timeline(tenant.tenantId(), id)).isEqualTo(branch);
    assertThat(client.timelines(tenant.tenantId())).extracting(TimelineInfo::timelineId).contains(tenant.rootTimelineId(), id);

    client.deleteTimeline(tenant.tenantId(), id);
    assertThatThrownBy(() -> client.timeline(tenant.tenantId(), id)).isInstanceOfSatisfying(ApiProblem.class, p -> {
      assertThat(p.status()).isEqualTo(404);
      assertThat(p.is("timeline-not-found")).isTrue();
    });
  }

  @Test
  void aTenantCreatedWithoutAnIdGetsOneAndIsDeleted() throws IOException {
    TenantInfo made = client.createTenant(CreateTenantRequest.withRandomId(PageserverFixture.PG_MAJOR));
    assertThat(made.pgVersion()).isEqualTo(PageserverFixture.PG_MAJOR);

    client.deleteTenant(made.tenantId());

    assertThatThrownBy(() -> client.tenant(made.tenantId())).isInstanceOfSatisfying(ApiProblem.class, p -> {
      assertThat(p.is("tenant-not-found")).isTrue();
      assertThat(p.field()).isEqualTo("tenant_id");
    });
  }

  @Test
  void aRefusalArrivesAsTheProblemWithItsTypeAndField() {
    var badLsn = new CreateTimelineRequest(TimelineId.random(), tenant.rootTimelineId(), "not-an-lsn");

    assertThatThrownBy(() -> client.createTimeline(tenant.tenantId(), badLsn)).isInstanceOfSatisfying(ApiProblem.class, p -> {
      assertThat(p.status()).isEqualTo(400);
      assertThat(p.is("invalid-field")).as(p.type()).isTrue();
      assertThat(p.field()).isEqualTo("ancestor_lsn");
      assertThat(p.getMessage()).contains("'not-an-lsn' is not an LSN");
    });
  }

  @Test
  void generationsAreReservedAndReportedStarted() throws IOException {
    TimelineInfo branch = client.createTimeline(tenant.tenantId(), new CreateTimelineRequest(TimelineId.random(),
        tenant.rootTimelineId(), null));
    GenerationReservation reserved = client.reserveGeneration(tenant.tenantId(), branch.timelineId(), 1);
    assertThat(reserved.generation()).isEqualTo(1);
    assertThat(reserved.pgTli()).as("above every TLI the branch inherited").isGreaterThan(branch.currentPgTli());
    assertThat(reserved.latestStartedTli()).as("no generation promoted before").isZero();

    Lsn start = branch.createdLsn();
    var report = new GenerationStartedRequest(branch.currentPgTli(), start,
        branch.currentPgTli() + "\t" + start + "\tno recovery target specified\n");
    GenerationInfo started = client.generationStarted(tenant.tenantId(), branch.timelineId(), 1, report);
    assertThat(started.tli()).isEqualTo(reserved.pgTli());
    assertThat(started.startLsn()).isEqualTo(start);
    assertThat(client.generationStarted(tenant.tenantId(), branch.timelineId(), 1, report))
        .as("a repeated report answers the same generation").isEqualTo(started);

    assertThatThrownBy(() -> client.reserveGeneration(tenant.tenantId(), branch.timelineId(), 1))
        .isInstanceOfSatisfying(ApiProblem.class, p -> {
          assertThat(p.status()).isEqualTo(409);
          assertThat(p.is("stale-generation")).isTrue();
          assertThat(p.field()).isEqualTo("generation");
        });
  }

  @Test
  void basebackupAndWalFilesStream() throws IOException {
    byte[] tar;
    try (InputStream in = client.basebackup(tenant.tenantId(), tenant.rootTimelineId(), BasebackupRequest.head())) {
      tar = in.readAllBytes();
    }
    assertThat(tar.length).as("a whole PGDATA").isGreaterThan(1024 * 1024);
    assertThat(new String(tar, 257, 5, java.nio.charset.StandardCharsets.US_ASCII)).as("a tar's magic").isEqualTo("ustar");

    Optional<InputStream> segment = client.walFile(tenant.tenantId(), tenant.rootTimelineId(), "000000010000000000000001", null);
    assertThat(segment).isPresent();
    try (InputStream in = segment.get()) {
      assertThat(in.readAllBytes()).hasSize((int) Lsn.DEFAULT_SEGMENT_SIZE);
    }
    assertThat(client.walFile(tenant.tenantId(), tenant.rootTimelineId(), "0000000100000000000000FF", null)).isEmpty();
  }

  @Test
  void anIdempotentCallOutlastsAPageserverThatStartsAMomentLater() throws Exception {
    int port = FreePort.pickStable();
    var late = new PageserverClient("http://127.0.0.1:" + port, Duration.ofSeconds(30),
        new RetryPolicy(30, Duration.ofMillis(100), Duration.ofMillis(200)));
    assertThat(late.isRunning()).isFalse();

    CompletableFuture<Pageserver> starting = CompletableFuture.supplyAsync(() -> {
      try {
        Thread.sleep(700);
        return pageserver.startAnother(port, "late-work");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    try {
      assertThat(late.tenant(tenant.tenantId())).as("read once the pageserver came up").isEqualTo(tenant);
      assertThat(late.isRunning()).isTrue();
    } finally {
      starting.get().close();
    }
    assertThat(late.isRunning()).isFalse();
  }

  @Test
  void aReservationIsNotSentAgainAfterATimeoutWhileAReadIs() throws Exception {
    try (var proxy = FaultProxy.start(pageserver.url())) {
      var gate = Fault.gate();
      proxy.inject(".*/generation", gate);
      proxy.inject(".*/timeline/[0-9a-f]+", gate);
      var impatient = new PageserverClient(proxy.url(), Duration.ofMillis(500),
          new RetryPolicy(3, Duration.ofMillis(50), Duration.ofMillis(50)));
      // Its own branch: the reservation reaches the pageserver once the gate opens.
      TimelineId branch = client.createTimeline(tenant.tenantId(), new CreateTimelineRequest(TimelineId.random(),
          tenant.rootTimelineId(), null)).timelineId();
      try {
        assertThatThrownBy(() -> impatient.reserveGeneration(tenant.tenantId(), branch, 1))
            .isInstanceOf(SocketTimeoutException.class);
        assertThat(proxy.faults(".*/generation")).as("the reservation went out once").isEqualTo(1);

        assertThatThrownBy(() -> impatient.timeline(tenant.tenantId(), branch)).isInstanceOf(SocketTimeoutException.class);
        assertThat(proxy.faults(".*/timeline/[0-9a-f]+")).as("the read was tried three times").isEqualTo(3);
      } finally {
        gate.open();
      }
    }
  }
}
