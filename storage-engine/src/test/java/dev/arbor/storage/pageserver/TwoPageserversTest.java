package dev.arbor.storage.pageserver;

import static dev.arbor.storage.pageserver.PageserverFixture.timelinePath;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.storage.objectstore.LocalObjectStore;
import java.net.InetSocketAddress;
import java.nio.file.Files;
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
    var config = new PageserverConfig(new InetSocketAddress("127.0.0.1", 0), null, new LocalObjectStore(pageserver.objectsRoot()),
        List.of(PageserverFixture.UNREACHABLE_SAFEKEEPER), PostgresInstallation::find,
        Files.createDirectories(pageserver.directory().resolve("second-work")));
    try (Pageserver second = new Pageserver(config).start()) {
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
}
