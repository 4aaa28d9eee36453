package dev.arbor.storage.pageserver;

import static dev.arbor.storage.pageserver.PageserverFixture.timelinePath;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * ARCHITECTURE.md allows more than one pageserver replica. Two of them on one object store, reserving
 * generations of one timeline at the same time, never hand out one PostgreSQL TLI twice: two computes
 * promoting into one TLI would have their WAL spliced by a safekeeper.
 */
class TwoPageserversTest {

  @RegisterExtension
  static final PageserverFixture pageserver = new PageserverFixture();

  @Test
  void concurrentReservationsOnTwoPageserversNeverShareATli() throws Exception {
    JsonNode t = pageserver.createTenant();
    String path = timelinePath(t.get("tenant_id").asText(), t.get("root_timeline_id").asText()) + "/generation";
    try (Pageserver second = secondPageserver("second-work")) {
      List<RawApi> apis = List.of(pageserver.api(), new RawApi(second.url()));
      AtomicLong generations = new AtomicLong();
      Map<Integer, List<Long>> byTli = new ConcurrentHashMap<>();
      List<Integer> refused = Collections.synchronizedList(new ArrayList<>());
      CountDownLatch go = new CountDownLatch(1);
      List<Thread> threads = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        RawApi api = apis.get(i % 2);
        threads.add(Thread.ofPlatform().start(() -> {
          try {
            go.await();
          } catch (InterruptedException e) {
            return;
          }
          for (int n = 0; n < 40; n++) {
            long g = generations.incrementAndGet();
            RawApi.Reply reply = api.post(path, Map.of("generation", g));
            if (reply.status() == 200) {
              byTli.computeIfAbsent(reply.json().get("pg_tli").asInt(), k -> Collections.synchronizedList(new ArrayList<>())).add(g);
            } else {
              refused.add(reply.status());
            }
          }
        }));
      }
      go.countDown();
      for (Thread th : threads) {
        th.join();
      }
      assertThat(refused).as("refusals are 'not above the highest generation'").allMatch(status -> status == 409);
      assertThat(byTli).as("generations per TLI handed out").allSatisfy((tli, gs) -> assertThat(gs).hasSize(1));
      assertThat(byTli).hasSizeGreaterThan(40);
    }
  }

  /**
   * Two pageservers asked to create one tenant id at once both run initdb, each with its own root timeline:
   * one {@code tenant.json} wins, and both answers name its root (the other pageserver's root is removed).
   */
  @Test
  void concurrentCreatesOfOneTenantOnTwoPageserversAgreeOnItsRoot() throws Exception {
    try (Pageserver second = secondPageserver("tenant-race-work")) {
      String tenant = dev.arbor.api.TenantId.random().toString();
      List<RawApi> apis = List.of(pageserver.api(), new RawApi(second.url()));
      List<RawApi.Reply> replies = race(apis, api -> api.post("/v1/tenant", Map.of("pg_version", PageserverFixture.PG_MAJOR,
          "tenant_id", tenant)));
      assertThat(replies).extracting(RawApi.Reply::status).containsExactlyInAnyOrder(200, 201);
      String root = pageserver.api().get("/v1/tenant/" + tenant).expect(200).get("root_timeline_id").asText();
      assertThat(replies).extracting(r -> r.json().get("root_timeline_id").asText()).containsOnly(root);
      assertThat(pageserver.api().get(PageserverFixture.timelines(tenant)).expect(200)).extracting(n -> n.get("timeline_id").asText())
          .containsExactly(root);
      assertThat(pageserver.snapshot().entries().keySet()).as("objects of the tenant's timelines")
          .filteredOn(k -> k.startsWith("tenants/" + tenant + "/timelines/"))
          .allMatch(k -> k.startsWith("tenants/" + tenant + "/timelines/" + root + "/"));
    }
  }

  /**
   * Two pageservers asked to create one timeline id with different ancestry: at most one succeeds, the other
   * is refused, and the stored branch is the one that was answered 201.
   */
  @Test
  void concurrentBranchCreatesOfOneIdOnTwoPageserversNeverBothSucceed() throws Exception {
    JsonNode t = pageserver.createTenant();
    String tenant = t.get("tenant_id").asText();
    String root = t.get("root_timeline_id").asText();
    String other = pageserver.createBranch(tenant, Map.of("ancestor_timeline_id", root)).get("timeline_id").asText();
    try (Pageserver second = secondPageserver("branch-race-work")) {
      List<RawApi> apis = List.of(pageserver.api(), new RawApi(second.url()));
      for (int round = 0; round < 30; round++) {
        String id = dev.arbor.api.TimelineId.random().toString();
        List<String> ancestors = List.of(root, other);
        var next = new java.util.concurrent.atomic.AtomicInteger();
        List<RawApi.Reply> replies = race(apis, api -> api.post(PageserverFixture.timelines(tenant),
            Map.of("ancestor_timeline_id", ancestors.get(next.getAndIncrement()), "new_timeline_id", id)));
        assertThat(replies).as("round %d", round).extracting(RawApi.Reply::status).containsExactlyInAnyOrder(201, 409);
        JsonNode created = replies.stream().filter(r -> r.status() == 201).findFirst().orElseThrow().json();
        assertThat(pageserver.timeline(tenant, id).get("ancestor_timeline_id")).isEqualTo(created.get("ancestor_timeline_id"));
        assertThat(replies.stream().filter(r -> r.status() == 409).findFirst().orElseThrow().json().get("type").asText())
            .endsWith("timeline-exists");
      }
    }
  }

  /** Runs {@code call} on each API at once, one thread each, and returns the replies in the APIs' order. */
  private static List<RawApi.Reply> race(List<RawApi> apis, java.util.function.Function<RawApi, RawApi.Reply> call) throws Exception {
    CountDownLatch go = new CountDownLatch(1);
    List<java.util.concurrent.CompletableFuture<RawApi.Reply>> replies = new ArrayList<>();
    for (RawApi api : apis) {
      var reply = new java.util.concurrent.CompletableFuture<RawApi.Reply>();
      replies.add(reply);
      Thread.ofPlatform().start(() -> {
        try {
          go.await();
          reply.complete(call.apply(api));
        } catch (Throwable e) {
          reply.completeExceptionally(e);
        }
      });
    }
    go.countDown();
    List<RawApi.Reply> out = new ArrayList<>();
    for (var r : replies) {
      out.add(r.get(5, java.util.concurrent.TimeUnit.MINUTES));
    }
    return out;
  }

  /** A second pageserver on the fixture's object store, with a work directory of its own. */
  private static Pageserver secondPageserver(String workDir) throws Exception {
    return pageserver.startAnother(0, workDir);
  }
}
