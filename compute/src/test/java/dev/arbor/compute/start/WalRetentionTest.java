package dev.arbor.compute.start;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.compute.testing.StorageProcesses;
import dev.arbor.storage.pageserver.TenantService.TenantInfo;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A dead safekeeper never makes the compute's disk fill up: its slot keeps WAL only up to
 * max_slot_wal_keep_size, then PostgreSQL gives it up and recycles the WAL, while commits go on with the
 * remaining majority.
 */
class WalRetentionTest {
  private static final long MB = 1024 * 1024;

  @Test
  void aDeadSafekeeperHoldsBackAtMostMaxSlotWalKeepSize() throws Exception {
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-retention-")) {
      TenantInfo tenant = storage.createTenant(15);
      var spec = new ComputeSpec(tenant.tenantId(), tenant.rootTimelineId(), storage.pageserverUrl(), storage.safekeeperUrls(),
          dev.arbor.postgres.PostgresInstallation.find(15), work.resolve("c"), "127.0.0.1", dev.arbor.testing.FreePort.pick(),
          Map.of("max_wal_size", "64MB", "min_wal_size", "32MB"), "64MB");
      try (RunningCompute c = new ComputeStart(spec).start()) {
        storage.killSafekeeper("sk-2");
        Sql.exec(c, "CREATE TABLE filler (pad text)");
        for (int i = 0; i < 8; i++) { // ~400 MB of WAL while sk-2 is gone
          Sql.exec(c, "INSERT INTO filler SELECT repeat(md5(g::text), 32) FROM generate_series(1, 45000) g");
          Sql.exec(c, "CHECKPOINT");
        }
        assertThat(Sql.one(c, "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '" + ComputeStart.slotName("sk-2") + "'"))
            .as("the dead safekeeper's slot was given up").isEqualTo("lost");
        long walBytes = size(c.server().dataDir().resolve("pg_wal"));
        assertThat(walBytes).as("pg_wal stays bounded by max_slot_wal_keep_size + max_wal_size and a few segments")
            .isLessThan(64 * MB + 64 * MB + 6 * 16 * MB);
        Sql.exec(c, "INSERT INTO filler VALUES ('still committing with 2 of 3')");
      }
    }
  }

  private static long size(Path dir) throws Exception {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
    }
  }
}
