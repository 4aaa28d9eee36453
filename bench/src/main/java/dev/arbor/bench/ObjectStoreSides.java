package dev.arbor.bench;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.api.pageserver.TimelineInfo;
import dev.arbor.testing.S3ProxyFixture;
import dev.arbor.testing.TempDirectory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Branch creation and compute start with the local object store and with S3 (S3Proxy on loopback, its own
 * process), side by side (issue 11): the same load on a storage engine of its own per side.
 */
final class ObjectStoreSides {
  private ObjectStoreSides() {}

  static void run(Options o) throws Exception {
    int dbMb = o.integer("db-mb", 100);
    int branches = o.integer("branches", 20);
    int starts = o.integer("starts", 5);
    System.out.println("| object store | database | tenant creation | branch creation p50 | p95 | new branch: start to first query, median "
        + "| main after an image: start to first query, median |");
    System.out.println("|---|---|---|---|---|---|---|");
    System.out.println(measure("local directory", null, Map.of(), dbMb, branches, starts));
    try (var s3 = new S3ProxyFixture().start()) {
      s3.createBucket("arbor");
      System.out.println(measure("S3 (S3Proxy on loopback)", "s3://arbor/bench", s3.environment(), dbMb, branches, starts));
    }
    System.out.println("machine: " + Machine.describe());
  }

  private static String measure(String name, String spec, Map<String, String> env, int dbMb, int branches, int starts) throws Exception {
    StorageProcesses processes = new StorageProcesses(3).withImageThreshold("0");
    if (spec != null) {
      processes.withObjectStore(spec, env);
    }
    try (var storage = processes.start(); var work = TempDirectory.create("arbor-stores-")) {
      long t0 = System.nanoTime();
      TenantInfo tenant = storage.createTenant(15);
      double tenantMs = (System.nanoTime() - t0) / 1e6;
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();
      try (RunningCompute c = Computes.start(storage, t, main, work.resolve("load"))) {
        StartLatency.load(c, dbMb);
      }
      storage.makeImage(t, main);
      List<Double> branchMs = new ArrayList<>();
      List<TimelineId> made = new ArrayList<>();
      for (int i = 0; i < branches; i++) {
        long b0 = System.nanoTime();
        TimelineInfo branch = storage.branch(t, main, null);
        branchMs.add((System.nanoTime() - b0) / 1e6);
        made.add(branch.timelineId());
      }
      List<Double> branchStarts = new ArrayList<>();
      List<Double> mainStarts = new ArrayList<>();
      for (int i = 0; i < starts; i++) {
        branchStarts.add(StartLatency.secondsToFirstQuery(storage, t, made.get(i % made.size()), work.resolve("b" + i)));
        mainStarts.add(StartLatency.secondsToFirstQuery(storage, t, main, work.resolve("m" + i)));
      }
      return String.format("| %s | %d MB | %.0f ms | %.1f ms | %.1f ms | %.2f s | %.2f s |", name, dbMb, tenantMs,
          percentile(branchMs, 0.5), percentile(branchMs, 0.95), percentile(branchStarts, 0.5), percentile(mainStarts, 0.5));
    }
  }

  static double percentile(List<Double> values, double p) {
    List<Double> sorted = new ArrayList<>(values);
    sorted.sort(null);
    return sorted.get(Math.max(0, (int) Math.ceil(sorted.size() * p) - 1));
  }
}
