package dev.arbor.storage.safekeeper;

import static dev.arbor.storage.safekeeper.ComputeWal.awaitFlushed;
import static dev.arbor.storage.safekeeper.ComputeWal.awaitStreaming;
import static dev.arbor.storage.safekeeper.ComputeWal.execute;
import static dev.arbor.storage.safekeeper.ComputeWal.flushPosition;
import static dev.arbor.storage.safekeeper.ComputeWal.queryLsn;
import static dev.arbor.storage.safekeeper.ComputeWal.queryString;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.Lsn;
import dev.arbor.storage.safekeeper.WalReceiver.FailureReason;
import dev.arbor.storage.safekeeper.WalReceiver.State;
import dev.arbor.testing.FreePort;
import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.TempDirectory;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A real PostgreSQL 15 whose commits wait for one synchronous standby named {@code sk-test}; the
 * receiver under test is that standby.
 */
class WalReceiverTest {

  @RegisterExtension
  static final PostgresFixture pg = ComputeWal.computeWithQuorumOfOneSafekeeper();

  private final ComputeWal compute = new ComputeWal(pg);
  private TempDirectory dir;
  private Connection setup;

  @BeforeEach
  void createStoreDirectoryAndSetupSession() throws SQLException {
    dir = TempDirectory.create("arbor-sk-");
    setup = compute.unacknowledgedSession();
    execute(setup, "CREATE TABLE IF NOT EXISTS items (id bigint, payload text)");
  }

  @AfterEach
  void cleanUp() throws SQLException {
    setup.close();
    dir.close();
  }

  @Test
  void aCommitReturnsOnlyOnceTheReceiverHasItsCommitRecordOnDisk() throws Exception {
    Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
    Connection client = compute.acknowledgedSession();
    client.setAutoCommit(false);
    execute(client, "INSERT INTO items SELECT g, repeat('a', 200) FROM generate_series(1, 100) g");
    long xid = Long.parseLong(queryString(client, "SELECT txid_current()"));
    String backendPid = queryString(client, "SELECT pg_backend_pid()");
    // The commit record starts at or after the insert position read inside the transaction.
    Lsn beforeCommit = queryLsn(client, "SELECT pg_current_wal_insert_lsn()");

    CompletableFuture<Void> commit = CompletableFuture.runAsync(() -> {
      try {
        client.commit();
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    }, runnable -> Thread.ofVirtual().start(runnable));

    // With no safekeeper connected the backend waits for synchronous replication, and only for that.
    String waitEvent = "SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = " + backendPid;
    await().atMost(Duration.ofMinutes(1)).until(() -> queryString(setup, waitEvent).equals("SyncRep"));
    Thread.sleep(300);
    assertThat(commit).as("commit while no safekeeper is connected").isNotDone();
    assertThat(queryString(setup, waitEvent)).isEqualTo("SyncRep");

    Lsn acknowledged;
    try (var store = WalSegmentStore.open(dir.path())) {
      var receiver = compute.receiver(store, start).start();
      try {
        commit.get(1, TimeUnit.MINUTES);
        acknowledged = receiver.flushLsn();
        assertThat(acknowledged).isGreaterThan(beforeCommit);
      } finally {
        receiver.close();
      }
      assertThat(receiver.state()).isEqualTo(State.CLOSED);
      assertThat(receiver.failure()).isEmpty();
    } finally {
      client.close();
    }

    // What the acknowledgement promised is on disk: a new store instance recovers a flush LSN at least as
    // high, and the commit record of the transaction decodes from the stored WAL below the LSN acknowledged.
    try (var reopened = WalSegmentStore.open(dir.path())) {
      assertThat(reopened.flushPosition()).hasValueSatisfying(p -> {
        assertThat(p.timeline()).isEqualTo(1);
        assertThat(p.lsn()).isGreaterThanOrEqualTo(acknowledged);
      });
      List<String> records = compute.waldump(reopened.directory().resolve("wal"), beforeCommit, acknowledged, xid);
      assertThat(records).as("pg_waldump of transaction %d up to %s", xid, acknowledged)
          .anySatisfy(line -> assertThat(line).contains("rmgr: Transaction").contains("desc: COMMIT"));
    }
  }

  @Test
  void theComputeIsNeverToldMoreThanIsDurable() throws Exception {
    Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
    try (var store = WalSegmentStore.open(dir.path());
         var receiver = compute.receiver(store, start).start()) {
      awaitStreaming(receiver);
      var writer = Thread.ofVirtual().start(() -> {
        try (Connection client = compute.acknowledgedSession()) {
          for (int i = 0; i < 400; i++) {
            execute(client, "INSERT INTO items SELECT g, repeat('h', 100) FROM generate_series(1, 50) g");
          }
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      });
      int observed = 0;
      while (writer.isAlive()) {
        // Read what the compute was told first, then what the store has made durable: the second can
        // only be lower if a flush LSN was reported before it was durable.
        String reported = queryString(setup, "SELECT coalesce(flush_lsn::text, '0/0') FROM pg_stat_replication "
            + "WHERE application_name = '" + ComputeWal.SAFEKEEPER_ID + "'");
        Lsn durable = store.flushLsn(1).orElse(Lsn.ZERO);
        assertThat(durable).as("durable flush LSN after the compute was told %s", reported)
            .isGreaterThanOrEqualTo(Lsn.parse(reported));
        observed++;
      }
      writer.join();
      assertThat(observed).isPositive();
      assertThat(receiver.failure()).isEmpty();
    }
  }

  /**
   * synchronous_commit is settable per session; with remote_write a commit waits only for the standby's write
   * position. The receiver reports what it has written only once it is durable, so such a commit gets the
   * same guarantee as with on: the compute never sees a write position above the flush position.
   */
  @Test
  void aRemoteWriteCommitIsAcknowledgedOnlyOnceDurable() throws Exception {
    Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
    try (var store = WalSegmentStore.open(dir.path());
         var receiver = compute.receiver(store, start).start()) {
      awaitStreaming(receiver);
      var writer = Thread.ofVirtual().start(() -> {
        try (Connection client = compute.acknowledgedSession()) {
          execute(client, "SET synchronous_commit = remote_write");
          for (int i = 0; i < 400; i++) {
            execute(client, "INSERT INTO items SELECT g, repeat('w', 100) FROM generate_series(1, 50) g");
          }
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      });
      int observed = 0;
      while (writer.isAlive()) {
        String[] reported = queryString(setup, "SELECT coalesce(write_lsn::text, '0/0') || ' ' || coalesce(flush_lsn::text, '0/0') "
            + "FROM pg_stat_replication WHERE application_name = '" + ComputeWal.SAFEKEEPER_ID + "'").split(" ");
        assertThat(Lsn.parse(reported[0])).as("write position reported to the compute").isLessThanOrEqualTo(Lsn.parse(reported[1]));
        Lsn durable = store.flushLsn(1).orElse(Lsn.ZERO);
        assertThat(durable).as("durable flush LSN after the compute was told write %s", reported[0])
            .isGreaterThanOrEqualTo(Lsn.parse(reported[0]));
        observed++;
      }
      writer.join();
      assertThat(observed).isPositive();
      assertThat(receiver.failure()).isEmpty();
    }
  }

  @Test
  void staysConnectedThroughIdlePeriodsAndAcknowledgesAfterThem() throws Exception {
    Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
    try (var store = WalSegmentStore.open(dir.path());
         var receiver = compute.receiver(store, start)
             .statusInterval(Duration.ofSeconds(1)).receiveTimeout(Duration.ofSeconds(4)).start();
         Connection client = compute.acknowledgedSession()) {
      awaitStreaming(receiver);
      // Longer than the receive timeout: only status updates and the compute's keepalives keep it alive.
      Thread.sleep(6000);
      assertThat(receiver.state()).isEqualTo(State.STREAMING);
      execute(client, "INSERT INTO items VALUES (-3, 'after a quiet while')"); // returns once acknowledged
      awaitFlushed(receiver, flushPosition(setup));
    }
  }

  @Test
  void completedSegmentsAreByteIdenticalToPostgresOwn() throws Exception {
    Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
    try (var store = WalSegmentStore.open(dir.path());
         var receiver = compute.receiver(store, start).start();
         Connection client = compute.acknowledgedSession()) {
      for (int round = 0; round < 3; round++) {
        execute(client, "INSERT INTO items SELECT g, repeat('b', 500) FROM generate_series(1, 2000) g");
        execute(client, "SELECT pg_switch_wal()");
      }
      execute(client, "UPDATE items SET payload = 'c' WHERE id % 7 = 0");
      awaitFlushed(receiver, flushPosition(setup));

      assertThat(receiver.streamStart()).contains(start.segmentStart(store.segmentSize()));
      assertThat(compute.assertCompletedSegmentsIdentical(store)).isGreaterThanOrEqualTo(3);
      compute.assertPartialSegmentIdentical(store, 1);
    }
  }

  @Test
  void aNewReceiverResumesAtTheStoredFlushLsnWithoutGaps() throws Exception {
    Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
    Lsn stoppedAt;
    try (var store = WalSegmentStore.open(dir.path());
         Connection client = compute.acknowledgedSession()) {
      var receiver = compute.receiver(store, start).slot("sk_test").start();
      try {
        execute(client, "INSERT INTO items SELECT g, repeat('d', 300) FROM generate_series(1, 3000) g");
        execute(client, "SELECT pg_switch_wal()");
        execute(client, "INSERT INTO items SELECT g, repeat('e', 300) FROM generate_series(1, 1000) g");
        awaitFlushed(receiver, flushPosition(setup));
      } finally {
        receiver.close();
      }
      stoppedAt = receiver.flushLsn();
    }

    // While the safekeeper is down the compute goes on (these commits are not acknowledged by it); its
    // slot keeps the WAL the safekeeper has not flushed.
    execute(setup, "INSERT INTO items SELECT g, repeat('f', 300) FROM generate_series(1, 3000) g");
    execute(setup, "SELECT pg_switch_wal()");
    execute(setup, "INSERT INTO items SELECT g, repeat('g', 300) FROM generate_series(1, 1000) g");
    assertThat(queryLsn(setup, "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'sk_test'"))
        .isLessThanOrEqualTo(stoppedAt);

    try (var store = WalSegmentStore.open(dir.path())) {
      assertThat(store.flushPosition()).contains(new WalPosition(1, stoppedAt));
      try (var receiver = compute.receiver(store, start).slot("sk_test").start();
           Connection client = compute.acknowledgedSession()) {
        execute(client, "INSERT INTO items VALUES (-1, 'acknowledged after the restart')");
        awaitFlushed(receiver, flushPosition(setup));
        assertThat(receiver.streamStart()).contains(stoppedAt);
        assertThat(queryString(setup, "SELECT active FROM pg_replication_slots WHERE slot_name = 'sk_test'"))
            .isEqualTo("t");
      }
      // The segment the first receiver stopped in was finished by the second one.
      assertThat(store.completedSegments()).contains(new WalSegmentId(1, stoppedAt.segmentNumber(store.segmentSize())));
      assertThat(compute.assertCompletedSegmentsIdentical(store)).isGreaterThanOrEqualTo(2);
      compute.assertPartialSegmentIdentical(store, 1);
    } finally {
      await().atMost(Duration.ofMinutes(1)).until(() -> queryString(setup,
          "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sk_test' AND active").equals("0"));
      execute(setup, "SELECT pg_drop_replication_slot('sk_test')");
    }
  }

  @Test
  void anUnreachableComputeEndsTheReceiverWithARetryableReason() throws Exception {
    try (var store = WalSegmentStore.open(dir.path());
         var receiver = WalReceiver.builder(store).safekeeperId(ComputeWal.SAFEKEEPER_ID)
             .compute("127.0.0.1", FreePort.pick()).credentials("postgres", null).startLsn(Lsn.ZERO).start()) {
      assertThat(receiver.awaitTermination(Duration.ofMinutes(1))).isTrue();
      assertThat(receiver.state()).isEqualTo(State.FAILED);
      assertThat(receiver.failure()).hasValueSatisfying(f -> {
        assertThat(f.reason()).isEqualTo(FailureReason.COMPUTE_UNREACHABLE);
        assertThat(f.reason().retryable()).isTrue();
      });
    }
  }

  @Test
  void refusesAComputeOfAnotherPostgresSystem() throws Exception {
    try (var store = WalSegmentStore.open(dir.path())) {
      store.bindSystemIdentifier(12345);
      try (var receiver = compute.receiver(store, Lsn.ZERO).start()) {
        assertThat(receiver.awaitTermination(Duration.ofMinutes(1))).isTrue();
        assertThat(receiver.failure()).hasValueSatisfying(f -> {
          assertThat(f.reason()).isEqualTo(FailureReason.WRONG_SYSTEM);
          assertThat(f.detail()).contains("holds WAL of system 12345");
        });
      }
      assertThat(store.flushPosition()).isEmpty();
    }
  }

  @Test
  void closeEndsAnIdleStreamPromptly() throws Exception {
    Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()");
    try (var store = WalSegmentStore.open(dir.path())) {
      var receiver = compute.receiver(store, start).start();
      awaitStreaming(receiver);
      receiver.close(); // the receiver thread is blocked in a read: close must not wait for WAL to arrive
      assertThat(receiver.awaitTermination(Duration.ZERO)).isTrue();
      assertThat(receiver.state()).isEqualTo(State.CLOSED);
      // The walsender sees the connection gone and exits.
      await().atMost(Duration.ofMinutes(1)).until(() -> queryString(setup,
          "SELECT count(*) FROM pg_stat_replication WHERE application_name = '" + ComputeWal.SAFEKEEPER_ID + "'")
          .equals("0"));
    }
  }
}
