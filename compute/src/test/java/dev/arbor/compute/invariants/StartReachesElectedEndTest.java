package dev.arbor.compute.invariants;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.start.ComputeStartException;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.CommitLedger;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.FaultProxy.Fault;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Invariant 1 at the start: a read-write start either recovers every acknowledged commit or fails. WAL that
 * recovery cannot get never looks like the end of WAL (the WAL service answers 503 for a segment the history
 * says exists), and if it did anyway, the start sees that PostgreSQL promoted before the last whole record
 * below the elected end of WAL and stops before it streams or reports anything.
 */
class StartReachesElectedEndTest {
  private static final long SEGMENT = Lsn.DEFAULT_SEGMENT_SIZE;

  private StorageProcesses storage;
  private TempDirectory work;
  private TenantInfo tenant;

  @BeforeEach
  void setUp() throws Exception {
    storage = new StorageProcesses(3).withPageserverProxy().start();
    work = TempDirectory.create("arbor-end-");
    tenant = storage.createTenant(15);
  }

  @AfterEach
  void tearDown() {
    if (work != null) {
      work.close();
    }
    if (storage != null) {
      storage.close();
    }
  }

  /**
   * Writes acknowledged ledger rows while bulk inserts produce {@code bulkInserts} × ~25 MB of WAL; returns the
   * ledger's ids, and in {@code midLsn} the end of WAL after the second bulk insert.
   */
  private static Set<Long> ledgerThroughWal(RunningCompute compute, int bulkInserts, String[] midLsn) throws Exception {
    Sql.exec(compute, CommitLedger.DDL);
    Sql.exec(compute, "CREATE TABLE items (id int, pad text)");
    try (var ledger = new CommitLedger(2, Sql.connections(compute))) {
      for (int i = 0; i < bulkInserts; i++) {
        Sql.exec(compute, "INSERT INTO items SELECT g, repeat(md5(g::text), 24) FROM generate_series(1, 30000) g");
        if (i == 1) {
          midLsn[0] = Sql.one(compute, "SELECT pg_current_wal_lsn()");
        }
      }
      await().atMost(Duration.ofMinutes(1)).until(() -> ledger.count() >= 200);
      return ledger.acknowledged();
    }
  }

  @Test
  void aSegmentOnlyObjectStorageHeldGoesMissingAndTheStartFailsInsteadOfLosingCommits() throws Exception {
    String[] mid = new String[1];
    RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
    Set<Long> acked = ledgerThroughWal(first, 7, mid);
    int firstTli = first.pgTli();
    String middle = WalFileName.segment(firstTli, Lsn.parse(mid[0]).segmentNumber(SEGMENT), SEGMENT);
    Path archived = storage.objectStore().resolve("tenants/" + tenant.tenantId() + "/timelines/" + tenant.rootTimelineId()
        + "/wal/" + middle);
    await().atMost(Duration.ofMinutes(1)).untilAsserted(() -> {
      assertThat(archived).as("offloaded").exists();
      for (String id : storage.safekeeperIds()) {
        assertThat(segmentFile(storage.directory().resolve("safekeepers/" + id), middle)).as("%s keeps %s", id, middle).isFalse();
      }
    });
    first.kill();

    // The one copy left is lost (or unreachable): the start must fail, not promote without it.
    Path aside = work.resolve(middle + ".aside");
    Files.move(archived, aside);
    assertThatThrownBy(() -> Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2")))
        .isInstanceOf(ComputeStartException.class);

    // Nothing was damaged: with the segment back, a start recovers every acknowledged commit.
    Files.move(aside, archived);
    try (RunningCompute third = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c3"))) {
      assertThat(new HashSet<>(Sql.longs(third, "SELECT id FROM ledger_rows"))).containsAll(acked);
      assertThat(Sql.one(third, "SELECT count(*) FROM items")).isEqualTo(Integer.toString(7 * 30000));
    }
  }

  @Test
  void aPageserverThatAnswersNotFoundForAMiddleSegmentIsCaughtBeforeTheStartReportsAnything() throws Exception {
    String[] mid = new String[1];
    RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
    Set<Long> acked = ledgerThroughWal(first, 4, mid);
    String middle = WalFileName.segment(first.pgTli(), Lsn.parse(mid[0]).segmentNumber(SEGMENT), SEGMENT);
    first.kill();

    // As the pageserver did when a safekeeper errored or an offload raced the lookup: "not found".
    storage.pageserverProxy().inject(".+/wal/" + middle, Fault.status(404));
    int tliBefore = storage.timeline(tenant.tenantId(), tenant.rootTimelineId()).currentPgTli();
    assertThatThrownBy(() -> Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2")))
        .isInstanceOf(ComputeStartException.class)
        .hasMessageContaining("before the end of WAL");
    assertThat(storage.pageserverProxy().faults(".+/wal/" + middle)).as("recovery asked for the segment").isPositive();
    assertThat(storage.timeline(tenant.tenantId(), tenant.rootTimelineId()).currentPgTli())
        .as("the failed start never reported its TLI started").isEqualTo(tliBefore);

    storage.pageserverProxy().clear();
    try (RunningCompute third = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c3"))) {
      assertThat(new HashSet<>(Sql.longs(third, "SELECT id FROM ledger_rows"))).containsAll(acked);
      assertThat(Sql.one(third, "SELECT count(*) FROM items")).isEqualTo(Integer.toString(4 * 30000));
    }
  }

  @Test
  void aWalTransferCutShortOrRefusedNeverLooksLikeTheEndOfWal() throws Exception {
    String[] mid = new String[1];
    RunningCompute first = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c1"));
    Set<Long> acked = ledgerThroughWal(first, 4, mid);
    String middle = WalFileName.segment(first.pgTli(), Lsn.parse(mid[0]).segmentNumber(SEGMENT), SEGMENT);
    first.kill();

    // The first transfer of the segment breaks off after 1 MiB, the next two are refused as overloaded.
    String path = ".+/wal/" + middle;
    storage.pageserverProxy().inject(path, Fault.truncateAfter(1 << 20), 1).inject(path, Fault.status(503), 2);
    RunningCompute second = null;
    try {
      second = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c2"));
    } catch (ComputeStartException stopped) {
      // stopping recovery is one right answer; promoting without the segment is the wrong one
    }
    assertThat(storage.pageserverProxy().faults(path)).as("recovery met the faults").isPositive();
    storage.pageserverProxy().clear();
    try (RunningCompute recovered = second != null ? second
        : Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c3"))) {
      assertThat(new HashSet<>(Sql.longs(recovered, "SELECT id FROM ledger_rows"))).containsAll(acked);
      assertThat(Sql.one(recovered, "SELECT count(*) FROM items")).isEqualTo(Integer.toString(4 * 30000));
    }
  }

  private static boolean segmentFile(Path dir, String name) throws Exception {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.anyMatch(p -> p.getFileName().toString().equals(name));
    }
  }
}
