package dev.arbor.compute.start;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Slots;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.Lsn;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.TempDirectory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A safekeeper outside the majority never makes the compute's disk fill up: once its slot is more than
 * maxSlotWalKeepSize behind, the compute moves it up to what the majority holds and recycles the WAL below,
 * while commits go on with the majority; the safekeeper rejoins by catching up from object storage and its peers.
 */
class WalRetentionTest {
  private static final long MB = 1024 * 1024;
  private static final Duration PATIENCE = Duration.ofMinutes(3);

  @Test
  void aDeadSafekeeperHoldsBackAtMostMaxSlotWalKeepSize() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-retention-")) {
      TenantInfo tenant = storage.createTenant(15);
      try (RunningCompute c = Computes.startKeepingWal(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c"),
          Map.of("max_wal_size", "64MB", "min_wal_size", "32MB"), "64MB")) {
        storage.killSafekeeper("sk-2");
        Lsn stoppedAt = Slots.keptFrom(c, "sk-2");
        Sql.exec(c, "CREATE TABLE filler (pad text)");
        for (int i = 0; i < 8; i++) { // ~400 MB of WAL while sk-2 is gone
          Sql.exec(c, "INSERT INTO filler SELECT repeat(md5(g::text), 32) FROM generate_series(1, 45000) g");
          Sql.exec(c, "CHECKPOINT");
        }
        Slots.awaitTrimmedAndRecycled(c, "sk-2", stoppedAt);
        long walBytes = size(c.server().dataDir().resolve("pg_wal"));
        assertThat(walBytes).as("pg_wal stays bounded by max_slot_wal_keep_size + max_wal_size and a few segments")
            .isLessThan(64 * MB + 64 * MB + 6 * 16 * MB);
        Sql.exec(c, "INSERT INTO filler VALUES ('still committing with 2 of 3')");

        // Back, it rejoins: with sk-0 gone, the next commit needs its acknowledgement.
        storage.startSafekeeper("sk-2");
        Lsn flush = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_flush_lsn()"));
        await().atMost(PATIENCE).alias("sk-2 follows again and holds the WAL up to " + flush)
            .until(() -> storage.followsUpTo("sk-2", tenant.tenantId(), tenant.rootTimelineId(), c.generation(), c.pgTli(), flush));
        storage.killSafekeeper("sk-0");
        Sql.exec(c, "INSERT INTO filler VALUES ('acknowledged by sk-1 and the rejoined sk-2')");
      }
    }
  }

  /**
   * A safekeeper that is alive but falls far behind with a minority (here: paused) is trimmed too, and when it
   * comes back before any checkpoint recycled the WAL, it must not stream the gap from the compute: its first
   * status report would pull the slot back to where it stopped and pin all that WAL again. It copies the gap from
   * object storage or its peers and streams only from the segment its trimmed slot keeps.
   */
  @Test
  void aLaggingSafekeeperThatWasTrimmedCatchesUpWithoutPinningTheWalAgain() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-retention-")) {
      TenantInfo tenant = storage.createTenant(15);
      // PostgreSQL's default max_wal_size (1GB): the ~200 MB below trigger no checkpoint, so the compute still
      // has the WAL the paused safekeeper misses when it comes back.
      try (RunningCompute c = Computes.startKeepingWal(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c"),
          Map.of(), "64MB")) {
        Sql.exec(c, "CREATE TABLE filler (pad text)");
        Lsn created = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_flush_lsn()"));
        await().atMost(PATIENCE).until(() -> storage.followsUpTo("sk-2", tenant.tenantId(), tenant.rootTimelineId(), c.generation(), c.pgTli(), created));
        storage.pauseSafekeeper("sk-2");
        Lsn stoppedAt = Slots.keptFrom(c, "sk-2");
        for (int i = 0; i < 4; i++) { // ~200 MB, committed by sk-0 and sk-1
          Sql.exec(c, "INSERT INTO filler SELECT repeat(md5(g::text), 32) FROM generate_series(1, 45000) g");
        }
        // Only the compute moves the slot of a paused safekeeper.
        await().atMost(Duration.ofMinutes(1)).alias("the compute trimmed sk-2's slot")
            .until(() -> Slots.keptFrom(c, "sk-2").isAfter(stoppedAt));
        Lsn trimmedTo = Slots.keptFrom(c, "sk-2");
        assertThat(trimmedTo.segmentNumber(Lsn.DEFAULT_SEGMENT_SIZE)).as("the segment the trimmed slot keeps WAL from (%s; sk-2 stopped "
            + "at %s)", trimmedTo, stoppedAt).isGreaterThan(stoppedAt.segmentNumber(Lsn.DEFAULT_SEGMENT_SIZE));

        Path log = storage.directory().resolve("logs/sk-2.log");
        long logBefore = Files.size(log);
        storage.resumeSafekeeper("sk-2");
        Lsn flush = Lsn.parse(Sql.one(c, "SELECT pg_current_wal_flush_lsn()"));
        await().atMost(PATIENCE).alias("sk-2 follows again and holds the WAL up to " + flush)
            .until(() -> storage.followsUpTo("sk-2", tenant.tenantId(), tenant.rootTimelineId(), c.generation(), c.pgTli(), flush));

        String since = logSince(log, logBefore);
        assertThat(since).as("sk-2 copied what it missed from elsewhere")
            .containsPattern("event=safekeeper_catch_up .*segments=[1-9][0-9]* from=(object_storage|peer)");
        List<Lsn> streamedFrom = streamStarts(since);
        assertThat(streamedFrom).as("where sk-2 streamed from after it came back").isNotEmpty()
            .allSatisfy(start -> assertThat(start.segmentNumber(Lsn.DEFAULT_SEGMENT_SIZE))
                .as("segment of the stream start %s (the trimmed slot keeps WAL from %s)", start, trimmedTo)
                .isGreaterThanOrEqualTo(trimmedTo.segmentNumber(Lsn.DEFAULT_SEGMENT_SIZE)));
      }
    }
  }

  private static final Pattern STREAMING = Pattern.compile("event=wal_receiver_streaming safekeeper=sk-2 .* start_lsn=(\\S+)");

  private static List<Lsn> streamStarts(String log) {
    Matcher m = STREAMING.matcher(log);
    List<Lsn> starts = new ArrayList<>();
    while (m.find()) {
      starts.add(Lsn.parse(m.group(1)));
    }
    return starts;
  }

  private static String logSince(Path log, long offset) throws Exception {
    byte[] all = Files.readAllBytes(log);
    return new String(all, (int) offset, all.length - (int) offset, StandardCharsets.UTF_8);
  }

  private static long size(Path dir) throws Exception {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
    }
  }
}
