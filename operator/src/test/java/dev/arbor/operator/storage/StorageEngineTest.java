package dev.arbor.operator.storage;

import dev.arbor.api.ProblemTypes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.operator.config.OperatorConfig;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.CreateTenantRequest;
import dev.arbor.api.pageserver.CreateTimelineRequest;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.testing.FaultProxy;
import dev.arbor.testing.StorageProcesses;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Where the operator's calls go, against real storage engines (processes): with
 * {@code arbor.storage-engine.pageserver-management-url}, to the management listener while compute specs keep
 * {@code pageserver-url}; without it, to {@code pageserver-url}.
 */
class StorageEngineTest {
  static final String UNREACHABLE_SAFEKEEPER = "http://127.0.0.1:9";
  /** With --management-listen, as the Helm chart runs it. */
  static StorageProcesses split;
  /** Without: one port serves everything, as in the CLI's local mode. */
  static StorageProcesses single;

  @BeforeAll
  static void startPageservers() {
    split = new StorageProcesses(1).withManagementListener().start();
    single = new StorageProcesses(1).start();
  }

  @AfterAll
  static void stopPageservers() {
    for (AutoCloseable c : new AutoCloseable[] {split, single}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (Exception ignored) {
        // the next one still closes
      }
    }
  }

  /** Every call the operator makes, on the management port; the compute port would refuse them. */
  @Test
  void withAManagementUrlEveryCallGoesThereWhileComputesGetThePageserverUrl() {
    StorageEngine storage = storageEngine(split.pageserverUrl() + "/", split.pageserverManagementUrl() + "/");
    assertThat(storage.pageserverUrl()).isEqualTo(split.pageserverUrl());

    TenantId tenant = TenantId.random();
    assertThat(storage.tenant(tenant)).isEmpty();
    var created = storage.ensureTenant(tenant, 15);
    assertThat(created.created()).isTrue();
    assertThat(storage.tenant(tenant)).isPresent();
    TimelineId branch = TimelineId.random();
    assertThat(storage.ensureBranch(tenant, branch, created.info().rootTimelineId(), null).created()).isTrue();
    assertThat(storage.timeline(tenant, branch)).isPresent();
    storage.deleteTimeline(tenant, branch);
    assertThat(storage.timeline(tenant, branch)).isEmpty();
    storage.deleteTenant(tenant);
    assertThat(storage.tenant(tenant)).isEmpty();
  }

  @Test
  void withoutAManagementUrlCallsGoToThePageserverUrl() {
    StorageEngine storage = storageEngine(single.pageserverUrl(), null);
    assertThat(storage.pageserverUrl()).isEqualTo(single.pageserverUrl());
    assertThat(storage.tenant(TenantId.random())).isEmpty();
    storage.deleteTenant(TenantId.random());
  }

  /**
   * Pointed at the compute port of a pageserver that has a management listener, the operator is told so; it never
   * reads "served on the management port" as "this tenant is gone", which would let a finalizer drop a Project
   * whose tenant is still there.
   */
  @Test
  void theComputePortsRefusalIsNotTakenForAbsence() {
    StorageEngine storage = storageEngine(split.pageserverUrl(), null);
    TenantId tenant = TenantId.random();
    for (Runnable call : List.<Runnable>of(() -> storage.tenant(tenant), () -> storage.deleteTenant(tenant),
        () -> storage.deleteTimeline(tenant, TimelineId.random()))) {
      assertThatThrownBy(call::run).isInstanceOfSatisfying(ApiProblem.class, p -> {
        assertThat(p.is(ProblemTypes.SERVED_ON_MANAGEMENT_PORT)).as(p.getMessage()).isTrue();
        assertThat(p.getMessage()).startsWith("the pageserver at " + split.pageserverUrl() + " cannot ")
            .contains("is served on this pageserver's management port", "set arbor.storage-engine.pageserver-management-url");
      });
    }
  }

  /**
   * A create whose answer was lost, as the next try meets it: the timeline is not there when it looks (GET 404) and is
   * by the time it creates (POST 409 timeline-exists), so it reads it (GET 200) and reports it found, not a refusal.
   * Every answer is the real pageserver's; a FaultProxy only holds the operator's POST while the test creates the
   * timeline directly, which makes the interleaving certain. The direct creation branches from another timeline: the
   * pageserver answers a repeat of the same branch point with 200 (its idempotent retry), and the 409 that happens in
   * production, the parent's head moved on between the lost create and this one (no parentLsn), needs WAL that no
   * compute writes here.
   */
  @Test
  void aTimelineCreatedBetweenTheLookUpAndTheCreateIsFoundNotRefused() throws Exception {
    var direct = single.pageserver();
    TenantId tenant = TenantId.random();
    TimelineId root = direct.createTenant(new CreateTenantRequest(tenant, 15)).rootTimelineId();
    TimelineId other = direct.createTimeline(tenant, new CreateTimelineRequest(TimelineId.random(), root, null)).timelineId();
    TimelineId id = TimelineId.random();
    String create = "/v1/tenant/" + tenant + "/timeline";
    var pool = Executors.newSingleThreadExecutor();
    try (var proxy = FaultProxy.start(single.pageserverUrl())) {
      var gate = FaultProxy.Fault.gate();
      proxy.inject(create, gate, 1);
      StorageEngine storage = storageEngine(proxy.url(), null);
      Future<StorageEngine.Created<TimelineInfo>> ensured = pool.submit(() -> storage.ensureBranch(tenant, id, root, null));
      await().atMost(Duration.ofSeconds(10)).until(() -> proxy.faults(create) == 1);
      direct.createTimeline(tenant, new CreateTimelineRequest(id, other, null));
      gate.open();
      var result = ensured.get(30, TimeUnit.SECONDS);
      assertThat(result.created()).isFalse();
      assertThat(result.info().timelineId()).isEqualTo(id);
      assertThat(result.info().ancestorTimelineId()).as("the timeline as found").isEqualTo(other);
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * A pageserver that accepts and never answers (a partition dropping packets) costs a reconcile thread one request
   * timeout: the call is made once, not repeated in the thread with sleeps between.
   */
  @Test
  void aPageserverThatNeverAnswersIsCalledOnce() throws Exception {
    try (var hole = new BlackHole()) {
      StorageEngine storage = storageEngine(hole.url(), null, Duration.ofMillis(300), 10);
      assertThatThrownBy(() -> storage.tenant(TenantId.random())).isInstanceOfSatisfying(StorageEngineUnavailableException.class,
          e -> assertThat(e.getMessage()).contains("cannot reach the storage engine at " + hole.url(), "arbor.storage-engine.pageserver-url"));
      assertThat(hole.connections()).as("connections the call made").isEqualTo(1);
    }
  }

  /**
   * While max-concurrent-calls calls wait on a pageserver that does not answer, another call fails at once (to be
   * retried by JOSDK) instead of taking one more reconcile thread.
   */
  @Test
  void callsBeyondTheLimitFailInsteadOfWaiting() throws Exception {
    try (var hole = new BlackHole()) {
      StorageEngine storage = storageEngine(hole.url(), null, Duration.ofSeconds(5), 2);
      var pool = Executors.newFixedThreadPool(2);
      try {
        for (int i = 0; i < 2; i++) {
          pool.submit(() -> storage.tenant(TenantId.random()));
        }
        await().atMost(Duration.ofSeconds(4)).until(() -> hole.connections() == 2);
        assertThatThrownBy(() -> storage.tenant(TenantId.random())).isInstanceOfSatisfying(StorageEngineUnavailableException.class,
            e -> assertThat(e.getMessage()).contains("2 calls are in flight", "arbor.storage-engine.max-concurrent-calls"));
        assertThat(hole.connections()).isEqualTo(2);
      } finally {
        pool.shutdownNow();
      }
    }
  }

  /**
   * The operator's storage-engine settings: these URLs, one safekeeper, one attempt per refused connection. (Their environment
   * variables, as the Helm chart sets them, are what OperatorIT gives the packaged operator.)
   */
  private static StorageEngine storageEngine(String pageserverUrl, String managementUrl) {
    return storageEngine(pageserverUrl, managementUrl, Duration.ofSeconds(30), 1, 10);
  }

  /** With the default of attempts (3: for refused connections only) and this many calls in flight. */
  private static StorageEngine storageEngine(String pageserverUrl, String managementUrl, Duration timeout, int maxConcurrentCalls) {
    return storageEngine(pageserverUrl, managementUrl, timeout, 3, maxConcurrentCalls);
  }

  private static StorageEngine storageEngine(String pageserverUrl, String managementUrl, Duration timeout, int attempts,
      int maxConcurrentCalls) {
    // The operator's storage_admin token of the storage engine called (each harness has keys of its own); a black
    // hole or a proxy in front of the single one takes the single one's.
    TokenSource tokens = pageserverUrl.startsWith(split.pageserverUrl()) ? split.adminTokens() : single.adminTokens();
    var settings = new OperatorConfig.StorageEngine() {
      @Override
      public String pageserverUrl() {
        return pageserverUrl;
      }

      @Override
      public Optional<String> pageserverManagementUrl() {
        return Optional.ofNullable(managementUrl);
      }

      @Override
      public List<String> safekeepers() {
        return List.of("sk-0=" + UNREACHABLE_SAFEKEEPER);
      }

      @Override
      public Duration requestTimeout() {
        return timeout;
      }

      @Override
      public int attempts() {
        return attempts;
      }

      @Override
      public int maxConcurrentCalls() {
        return maxConcurrentCalls;
      }

      @Override
      public boolean insecureHttp() {
        return true;
      }
    };
    return new StorageEngine(new OperatorConfig() {
      @Override
      public OperatorConfig.StorageEngine storageEngine() {
        return settings;
      }

      @Override
      public Postgres postgres() {
        throw new UnsupportedOperationException("not read by StorageEngine");
      }

      @Override
      public Compute compute() {
        throw new UnsupportedOperationException("not read by StorageEngine");
      }

      @Override
      public Proxy proxy() {
        throw new UnsupportedOperationException("not read by StorageEngine");
      }

      @Override
      public LeaderElection leaderElection() {
        throw new UnsupportedOperationException("not read by StorageEngine");
      }

      @Override
      public Auth auth() {
        throw new UnsupportedOperationException("not read by StorageEngine");
      }

      @Override
      public Tls tls() {
        throw new UnsupportedOperationException("not read by StorageEngine");
      }
    }, tokens, dev.arbor.client.tls.ClientTls.SYSTEM);
  }
}
