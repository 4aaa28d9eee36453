package dev.arbor.storage.safekeeper;

import dev.arbor.api.safekeeper.FenceRequest;
import dev.arbor.api.safekeeper.FollowRequest;
import dev.arbor.api.safekeeper.TimelineWalStatus;

import static dev.arbor.storage.safekeeper.ComputeWal.execute;
import static dev.arbor.storage.safekeeper.ComputeWal.flushPosition;
import static dev.arbor.storage.safekeeper.ComputeWal.queryLsn;
import static dev.arbor.storage.safekeeper.ComputeWal.queryString;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.api.Lsn;
import dev.arbor.postgres.WalFileName;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;
import org.postgresql.PGConnection;
import org.postgresql.PGProperty;
import org.postgresql.replication.LogSequenceNumber;
import org.postgresql.replication.PGReplicationStream;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A real safekeeper (HTTP API, in-process) told to follow a real PostgreSQL 15 compute. */
class SafekeeperFollowTest {

  @RegisterExtension
  static final PostgresFixture pg = ComputeWal.computeWithQuorumOfOneSafekeeper();

  private final ComputeWal compute = new ComputeWal(pg);
  private final TenantId tenant = TenantId.random();
  private final TimelineId timeline = TimelineId.random();

  /**
   * After a safekeeper restart the compute's old walsender holds the slot until wal_sender_timeout, so the
   * new receiver is refused "slot is active". That is not WAL gone: no catch-up may run (it would hold the
   * timeline lock while it copies segments), even when object storage holds the segment to copy.
   */
  @Test
  void aSlotStillHeldByAnOldWalsenderDoesNotStartACatchUp() throws Exception {
    String slot = "sk_follow_busy";
    try (var dir = TempDirectory.create("arbor-sk-follow-"); Connection setup = compute.unacknowledgedSession()) {
      var objects = new LocalObjectStore(dir.resolve("objects"));
      execute(setup, "CREATE TABLE IF NOT EXISTS items (id bigint, payload text)");
      Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()").segmentStart(Lsn.DEFAULT_SEGMENT_SIZE);
      try (Safekeeper sk = SafekeeperData.start(ComputeWal.SAFEKEEPER_ID, dir.resolve("data"), objects)) {
        SafekeeperClient client = SafekeeperData.client(sk);
        client.fence(tenant, timeline, new FenceRequest(1, null));
        client.follow(tenant, timeline, follow(1, 1, start, slot));
        execute(setup, "INSERT INTO items SELECT g, repeat('a', 300) FROM generate_series(1, 2000) g");
        Lsn written = flushPosition(setup);
        await().atMost(Duration.ofMinutes(1)).until(() -> !client.timeline(tenant, timeline).flushLsn().isBefore(written));
        Lsn flushed = client.timeline(tenant, timeline).flushLsn();

        client.fence(tenant, timeline, new FenceRequest(2, null)); // as a restarted safekeeper is fenced anew
        awaitSlotInactive(setup, slot);
        // The segment the safekeeper stopped in becomes complete, and object storage has it, as offloaded by a peer.
        execute(setup, "INSERT INTO items SELECT g, repeat('b', 300) FROM generate_series(1, 2000) g");
        execute(setup, "SELECT pg_switch_wal()");
        String stoppedIn = WalFileName.segment(1, flushed.segmentNumber(Lsn.DEFAULT_SEGMENT_SIZE), Lsn.DEFAULT_SEGMENT_SIZE);
        objects.put(ObjectKeys.wal(tenant, timeline, stoppedIn), Files.readAllBytes(compute.pgWal().resolve(stoppedIn)));

        try (AutoCloseable holder = holdSlot(slot, start)) {
          awaitSlotActive(setup, slot); // the old walsender, still holding the slot

          client.follow(tenant, timeline, follow(2, 1, start, slot));
          await().atMost(Duration.ofMinutes(1)).until(() -> receiverFailures(sk, "replication_refused") > 0);
          assertThat(client.timeline(tenant, timeline).following()).isFalse();
          client.follow(tenant, timeline, follow(2, 1, start, slot)); // the follow keeper's retry

          assertThat(client.timeline(tenant, timeline).flushLsn()).as("no segment copied from object storage").isEqualTo(flushed);
        }
      } finally {
        awaitSlotInactive(setup, slot);
        execute(setup, "SELECT pg_drop_replication_slot('" + slot + "')");
      }
    }
  }

  /** The follow request names the TLI its generation promoted into; a compute on another TLI is not that compute. */
  @Test
  void aComputeOnAnotherTimelineThanTheFollowRequestNamesIsRefused() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-follow-"); Connection setup = compute.unacknowledgedSession()) {
      Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()").segmentStart(Lsn.DEFAULT_SEGMENT_SIZE);
      try (Safekeeper sk = SafekeeperData.start(ComputeWal.SAFEKEEPER_ID, dir.resolve("data"), new LocalObjectStore(dir.resolve("objects")))) {
        SafekeeperClient client = SafekeeperData.client(sk);
        client.fence(tenant, timeline, new FenceRequest(1, null));
        client.follow(tenant, timeline, follow(1, 2, start, null)); // the compute runs TLI 1

        await().atMost(Duration.ofMinutes(1)).until(() -> receiverFailures(sk, "stale_timeline") > 0);
        assertThat(client.timeline(tenant, timeline)).isEqualTo(new TimelineWalStatus(ComputeWal.SAFEKEEPER_ID, 1, 0, Lsn.ZERO, false));
        assertThat(queryString(setup, "SELECT count(*) FROM pg_stat_replication WHERE application_name = '"
            + ComputeWal.SAFEKEEPER_ID + "' AND state = 'streaming'")).isEqualTo("0");
      }
    }
  }

  /**
   * The compute's follow keeper asks again every second while a safekeeper does not follow. A failure that
   * retrying cannot cure is logged once, not once a second, and a different failure is logged again.
   */
  @Test
  void aFailureThatRetryingCannotCureIsLoggedOnceNotOnEveryRetry() throws Exception {
    try (var dir = TempDirectory.create("arbor-sk-follow-"); Connection setup = compute.unacknowledgedSession()) {
      Lsn start = queryLsn(setup, "SELECT pg_current_wal_lsn()").segmentStart(Lsn.DEFAULT_SEGMENT_SIZE);
      try (WalSegmentStore store = WalSegmentStore.open(SafekeeperData.storeDir(dir.resolve("data"), tenant, timeline))) {
        store.bindSystemIdentifier(12345); // WAL of another PostgreSQL system: WRONG_SYSTEM, on every attempt
      }
      try (Safekeeper sk = SafekeeperData.start(ComputeWal.SAFEKEEPER_ID, dir.resolve("data"), new LocalObjectStore(dir.resolve("objects")));
           var err = StderrCapture.start()) {
        SafekeeperClient client = SafekeeperData.client(sk);
        client.fence(tenant, timeline, new FenceRequest(1, null));
        for (int attempt = 1; attempt <= 4; attempt++) {
          client.follow(tenant, timeline, follow(1, 1, start, null));
          int failures = attempt;
          await().atMost(Duration.ofMinutes(1)).until(() -> receiverFailures(sk, "wrong_system") == failures);
        }
        client.follow(tenant, timeline, follow(1, 2, start, null)); // now refused for another reason
        await().atMost(Duration.ofMinutes(1)).until(() -> receiverFailures(sk, "stale_timeline") == 1);

        assertThat(err.lines("event=wal_receiver_failed", "reason=wrong_system")).as("log lines for 4 equal failures").hasSize(1);
        assertThat(err.lines("event=wal_receiver_failed", "reason=stale_timeline")).as("a different failure").hasSize(1);
      }
    }
  }

  private static FollowRequest follow(long generation, int tli, Lsn start, String slot) {
    return new FollowRequest(generation, tli, start, "127.0.0.1", pg.server().port(), PostgresFixture.SUPERUSER, null, slot, List.of());
  }

  /**
   * A walsender on {@code slot} that never confirms a position: it holds the slot as the old walsender of a
   * restarted safekeeper does, without moving the slot's restart point (a WalReceiver here would confirm what it
   * stores, past what the safekeeper has, and the safekeeper would rightly see a trimmed slot instead of a busy one).
   */
  private static AutoCloseable holdSlot(String slot, Lsn start) throws SQLException {
    var props = new Properties();
    PGProperty.USER.set(props, PostgresFixture.SUPERUSER);
    PGProperty.REPLICATION.set(props, "true");
    PGProperty.ASSUME_MIN_SERVER_VERSION.set(props, "9.4");
    PGProperty.PREFER_QUERY_MODE.set(props, "simple");
    Connection c = DriverManager.getConnection(pg.server().jdbcUrl("postgres"), props);
    try {
      PGReplicationStream stream = c.unwrap(PGConnection.class).getReplicationAPI().replicationStream().physical()
          .withSlotName(slot).withStartPosition(LogSequenceNumber.valueOf(start.value())).start();
      return () -> {
        try {
          stream.close();
        } finally {
          c.close();
        }
      };
    } catch (SQLException e) {
      c.close();
      throw e;
    }
  }

  private static void awaitSlotActive(Connection setup, String slot) {
    await().atMost(Duration.ofMinutes(1)).until(() -> queryString(setup,
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "' AND active").equals("1"));
  }

  private static void awaitSlotInactive(Connection setup, String slot) {
    await().atMost(Duration.ofMinutes(1)).until(() -> queryString(setup,
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "' AND active").equals("0"));
  }

  /** {@code arbor_safekeeper_receiver_failures_total{reason=...}} from the safekeeper's /metrics. */
  static long receiverFailures(Safekeeper sk, String reason) throws Exception {
    String metrics = SafekeeperData.client(sk).metrics();
    Matcher m = Pattern.compile("(?m)^arbor_safekeeper_receiver_failures_total\\{reason=\"" + reason + "\"} (\\d+)").matcher(metrics);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }
}
