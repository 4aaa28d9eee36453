package dev.arbor.bench;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.compute.testing.StorageProcesses;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.storage.pageserver.TenantService.TenantInfo;
import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * pgbench TPC-B against a compute whose commits wait for 2 of 3 safekeepers, beside the same PostgreSQL
 * with no replication, in one run on one machine. The ratio is the price of durable quorum commits.
 */
final class PgbenchQuorum {
  private static final Pattern TPS = Pattern.compile("tps = ([0-9.]+) \\(without initial connection time\\)");

  private PgbenchQuorum() {}

  static void run(Options o) throws Exception {
    int scale = o.integer("scale", 10);
    int clients = o.integer("clients", 8);
    int seconds = o.integer("seconds", 60);
    int warmup = o.integer("warmup", 15);
    var load = new Load(scale, clients, seconds, warmup);
    PostgresInstallation pg = PostgresInstallation.find(15);

    String only = o.string("only", "both");
    if (!List.of("both", "plain", "quorum").contains(only)) {
      throw new IllegalArgumentException("--only must be both, plain or quorum, not '" + only + "'");
    }
    double plain = Double.NaN;
    if (!only.equals("quorum")) {
      try (var alone = new PostgresFixture().withSetting("wal_level", "replica").start()) {
        plain = pgbench(pg, alone.server().port(), "postgres", null, load);
      }
    }
    double quorum = Double.NaN;
    if (!only.equals("plain")) {
      try (var storage = new StorageProcesses(3).start(); var work = TempDirectory.create("arbor-bench-")) {
        TenantInfo tenant = storage.createTenant(15);
        try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c"))) {
          quorum = pgbench(pg, c.port(), c.superuser(), c.superuserPassword(), load);
        }
      }
    }
    System.out.println("| setup | TPS |");
    System.out.println("|---|---|");
    System.out.printf("| PostgreSQL 15, no replication | %.0f |%n", plain);
    System.out.printf("| Arbor compute, commits on 2 of 3 safekeepers | %.0f |%n", quorum);
    System.out.printf("ratio: %.2f (target >= 0.7); pgbench -s %d -c %d -j 2 -T %d after a %d s warm-up; machine: %s%n",
        quorum / plain, scale, clients, seconds, warmup, Machine.describe());
  }

  /**
   * The measured run follows an unmeasured one of {@code warmup} seconds on both sides alike: long-running
   * servers are measured warm (the safekeepers' JIT compiler is busy for ~20 s after a start).
   */
  private record Load(int scale, int clients, int seconds, int warmup) {
    List<String> run(int runSeconds) {
      return List.of("-c", Integer.toString(clients), "-j", "2", "-T", Integer.toString(runSeconds));
    }
  }

  private static double pgbench(PostgresInstallation pg, int port, String user, String password, Load load)
      throws IOException, InterruptedException {
    run(pg, port, user, password, List.of("-i", "-q", "-s", Integer.toString(load.scale())));
    if (load.warmup() > 0) {
      run(pg, port, user, password, load.run(load.warmup()));
    }
    String out = run(pg, port, user, password, load.run(load.seconds()));
    Matcher m = TPS.matcher(out);
    if (!m.find()) {
      throw new IllegalStateException("no TPS in pgbench output:\n" + out);
    }
    return Double.parseDouble(m.group(1));
  }

  private static String run(PostgresInstallation pg, int port, String user, String password, List<String> args)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(pg.binary("pgbench").toString(), "-h", "127.0.0.1", "-p", Integer.toString(port),
        "-U", user));
    cmd.addAll(args);
    cmd.add("postgres");
    var pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    if (password != null) {
      pb.environment().put("PGPASSWORD", password);
    }
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException("pgbench " + args + " failed:\n" + out);
    }
    return out;
  }
}
