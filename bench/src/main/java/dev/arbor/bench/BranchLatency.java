package dev.arbor.bench;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.TempDirectory;
import java.util.ArrayList;
import java.util.List;

/**
 * Branch-creation latency for a small and a large database: creating a branch pins an LSN and writes one
 * timeline.json, so the latency must not grow with the size of the data.
 */
final class BranchLatency {
  private BranchLatency() {}

  static void run(Options o) throws Exception {
    int smallMb = o.integer("small-mb", 10);
    int largeMb = o.integer("large-mb", 1024);
    int repeat = o.integer("repeat", 20);
    try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-bench-")) {
      TenantInfo tenant = storage.createTenant(15);
      try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c"))) {
        Sql.exec(c, "CREATE TABLE filler (id int, pad text)");
        System.out.println("| database size | branch creation p50 | p95 | bytes added per branch |");
        System.out.println("|---|---|---|---|");
        int loadedMb = 0;
        for (int targetMb : new int[] {smallMb, largeMb}) {
          load(c, loadedMb, targetMb);
          loadedMb = targetMb;
          String size = Sql.one(c, "SELECT pg_size_pretty(pg_database_size('postgres'))");
          List<Long> micros = new ArrayList<>();
          long bytesBefore = storage.objectStoreBytes();
          for (int i = 0; i < repeat; i++) {
            String lsn = Sql.one(c, "SELECT pg_current_wal_lsn()");
            long t0 = System.nanoTime();
            storage.branch(tenant.tenantId(), tenant.rootTimelineId(), lsn);
            micros.add((System.nanoTime() - t0) / 1000);
          }
          long perBranch = (storage.objectStoreBytes() - bytesBefore) / repeat;
          micros.sort(null);
          System.out.printf("| %s | %.1f ms | %.1f ms | %d B |%n", size, micros.get(micros.size() / 2) / 1000.0,
              micros.get((int) Math.ceil(micros.size() * 0.95) - 1) / 1000.0, perBranch);
        }
      }
    }
    System.out.println("machine: " + Machine.describe());
  }

  /** Grows the filler table from {@code fromMb} to about {@code toMb} MiB, in 64 MiB transactions. */
  private static void load(RunningCompute c, int fromMb, int toMb) throws Exception {
    int rowsPerMb = 1024; // 1 KiB rows
    int start = fromMb * rowsPerMb;
    int end = toMb * rowsPerMb;
    for (int lo = start; lo < end; lo += 64 * rowsPerMb) {
      int hi = Math.min(end, lo + 64 * rowsPerMb);
      Sql.exec(c, "INSERT INTO filler SELECT g, repeat(md5(g::text), 30) FROM generate_series(" + (lo + 1) + ", " + hi + ") g");
    }
    Sql.exec(c, "CHECKPOINT");
  }
}
