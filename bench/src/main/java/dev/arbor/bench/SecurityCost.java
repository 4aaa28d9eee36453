package dev.arbor.bench;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.Sql;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.testing.TempDirectory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The price of the storage engine's security (issue 16): the same quorum pgbench and the same compute starts on a
 * storage engine with tokens and TLS on (every daemon serves HTTPS; each call carries a token that is checked; the
 * compute runs PostgreSQL with ssl=on and the safekeepers replicate over verify-full TLS when the harness gives the
 * computes TLS) and on one with both off ({@code --insecure-no-auth}, plain HTTP), side by side in one run. The sides
 * alternate round by round, so the machine's drift falls on both alike.
 */
final class SecurityCost {
  private SecurityCost() {}

  private enum Side {
    OFF("tokens and TLS off"),
    ON("tokens and TLS on");

    final String label;

    Side(String label) {
      this.label = label;
    }

    StorageProcesses storage() {
      return this == ON ? new StorageProcesses(3).withTls() : new StorageProcesses(3).withoutAuth();
    }
  }

  static void run(Options o) throws Exception {
    var load = new PgbenchQuorum.Load(o.integer("scale", 10), o.integer("clients", 8), o.integer("seconds", 30),
        o.integer("warmup", 10));
    int starts = o.integer("starts", 5);
    int rounds = o.integer("rounds", 2);
    if (starts < 1 || rounds < 1) {
      throw new IllegalArgumentException("--starts and --rounds must be at least 1");
    }
    PostgresInstallation pg = PostgresInstallation.find(15);
    List<Double> offTps = new ArrayList<>();
    List<Double> onTps = new ArrayList<>();
    List<Double> offStarts = new ArrayList<>();
    List<Double> onStarts = new ArrayList<>();
    for (int round = 0; round < rounds; round++) {
      for (Side side : round % 2 == 0 ? List.of(Side.OFF, Side.ON) : List.of(Side.ON, Side.OFF)) {
        System.err.printf("round %d of %d: %s%n", round + 1, rounds, side.label);
        measure(side, pg, load, starts, side == Side.ON ? onTps : offTps, side == Side.ON ? onStarts : offStarts);
      }
    }
    System.out.println("| storage engine | pgbench TPC-B TPS (median of rounds) | compute start to first query: median | p90 |");
    System.out.println("|---|---|---|---|");
    System.out.printf("| %s | %.0f | %.2f s | %.2f s |%n", Side.OFF.label, median(offTps), median(offStarts), quantile(offStarts, 0.9));
    System.out.printf("| %s | %.0f | %.2f s | %.2f s |%n", Side.ON.label, median(onTps), median(onStarts), quantile(onStarts, 0.9));
    System.out.printf("on/off: TPS %.2f, start %.2f; TPS per round off %s, on %s; pgbench -s %d -c %d -j 2 -T %d after a %d s "
            + "warm-up, %d starts a round; machine: %s%n", median(onTps) / median(offTps), median(onStarts) / median(offStarts),
        offTps, onTps, load.scale(), load.clients(), load.seconds(), load.warmup(), starts, Machine.describe());
  }

  /**
   * One round of a side: a fresh storage engine, pgbench against a compute of a new tenant, then {@code starts}
   * starts of that timeline (agent start sequence to the answer of a query on pgbench's tables).
   */
  private static void measure(Side side, PostgresInstallation pg, PgbenchQuorum.Load load, int starts, List<Double> tps,
      List<Double> startSeconds) throws Exception {
    try (var storage = side.storage().start(); var work = TempDirectory.create("arbor-bench-security-")) {
      TenantInfo tenant = storage.createTenant(15);
      TenantId t = tenant.tenantId();
      TimelineId main = tenant.rootTimelineId();
      try (RunningCompute c = Computes.start(storage, t, main, work.resolve("pgbench"))) {
        tps.add(PgbenchQuorum.pgbench(pg, c.port(), "arbor_bench", PgbenchQuorum.benchRole(c), load));
      }
      for (int i = 0; i < starts; i++) {
        startSeconds.add(secondsToFirstQuery(storage, t, main, work.resolve("start-" + i)));
      }
    }
  }

  private static double secondsToFirstQuery(StorageProcesses storage, TenantId t, TimelineId timeline, Path work) throws Exception {
    long t0 = System.nanoTime();
    try (RunningCompute c = Computes.start(storage, t, timeline, work)) {
      Sql.one(c, "SELECT count(*) FROM pgbench_branches");
      return (System.nanoTime() - t0) / 1e9;
    }
  }

  private static double median(List<Double> values) {
    return quantile(values, 0.5);
  }

  private static double quantile(List<Double> values, double q) {
    double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return sorted.length == 0 ? Double.NaN : sorted[(int) Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  }
}
