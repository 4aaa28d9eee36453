package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.auth.StorageGrant;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.client.PageserverClient;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.postgres.RedoRange;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A compute's token lives shorter than the test (issue 16, "rotation and refresh"): it is minted again at half its
 * life into the compute's token file, as the operator does, and nothing holds on to the first one. Once the first
 * token is refused as expired, the compute still gets a restarted safekeeper to follow it (its agent's calls read the
 * file), and its next start (election, basebackup, the WAL restore_command and the prefetch fetch) runs on the
 * current token and finds every acknowledged commit.
 */
class TokenExpiryTest {
  /** The storage engine allows 60 s of clock skew past {@code exp}: the first token is refused after ~70 s. */
  private static final Duration TTL = Duration.ofSeconds(10);

  @Test
  void aComputeOutlivesItsFirstTokenAndRestartsOnTheCurrentOne() throws Exception {
    try (var storage = new StorageProcesses(3).withTls().start(); var work = TempDirectory.create("arbor-token-expiry-");
        var minter = Executors.newSingleThreadScheduledExecutor()) {
      TenantInfo tenant = storage.createTenant(15);
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();
      Path tokenFile = work.resolve("storage.token");
      StorageGrant grant = StorageGrant.compute("compute-" + main, t, main);
      storage.keys().mintInto(tokenFile, grant, TTL);
      String first = Files.readString(tokenFile).strip();
      AtomicInteger minted = new AtomicInteger(1);
      minter.scheduleAtFixedRate(() -> {
        try {
          storage.keys().mintInto(tokenFile, grant, TTL);
          minted.incrementAndGet();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }, TTL.toMillis() / 2, TTL.toMillis() / 2, TimeUnit.MILLISECONDS);

      Set<Long> acked;
      RunningCompute compute = Computes.startWithTokens(storage, t, main, work.resolve("main-1"), TokenSource.file(tokenFile));
      Sql.exec(compute, CommitLedger.DDL);
      try (var ledger = new CommitLedger(2, Sql.connections(compute))) {
        PageserverClient withFirst = new PageserverClient(storage.pageserverUrl(), Duration.ofSeconds(10), RetryPolicy.NONE,
            TokenSource.fixed(first), storage.clientTls());
        assertThat(withFirst.timeline(t, main).timelineId()).as("the first token, while it is valid").isEqualTo(main);
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofSeconds(2)).untilAsserted(() ->
            assertThatThrownBy(() -> withFirst.timeline(t, main))
                .isInstanceOfSatisfying(ApiProblem.class, p -> assertThat(p.status()).as("the first token, expired").isEqualTo(401)));
        assertThat(minted.get()).as("tokens minted while the first one expired").isGreaterThan(10);

        // Past the first token's life, a safekeeper that restarts is followed again: the compute's calls to it
        // (status, follow) carry the current token.
        storage.killSafekeeper("sk-1");
        storage.startSafekeeper("sk-1");
        int before = ledger.count();
        await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= before + 100);
        Lsn now = Lsn.parse(Sql.one(compute, "SELECT pg_current_wal_flush_lsn()"));
        await().atMost(Duration.ofMinutes(1)).until(() -> storage.followsUpTo("sk-1", t, main, compute.generation(), compute.pgTli(), now));
        compute.kill();
        acked = ledger.acknowledged();
      }
      assertThat(acked).as("commits acknowledged").hasSizeGreaterThan(100);

      try (RunningCompute again = Computes.startWithTokens(storage, t, main, work.resolve("main-2"), TokenSource.file(tokenFile))) {
        assertThat(again.redo().map(RedoRange::bytes).orElse(0L)).as("WAL restored and replayed at the start").isPositive();
        Set<Long> present = new HashSet<>(Sql.longs(again, "SELECT id FROM ledger_rows"));
        assertThat(present).containsAll(acked);
      }
    }
  }
}
