package dev.arbor.bench;

import dev.arbor.compute.start.RunningCompute;
import dev.arbor.compute.testing.Computes;
import dev.arbor.testing.StorageProcesses;
import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.api.pageserver.TenantInfo;
import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.postgresql.util.PasswordUtil;

/**
 * pgbench TPC-B against a compute whose commits wait for 2 of 3 safekeepers, beside the same PostgreSQL
 * with no replication and beside PostgreSQL's own quorum (the same primary settings as a compute, three C
 * {@code pg_receivewal --synchronous} as the quorum), in one run on one machine. Arbor/plain is the price of
 * durable quorum commits; Arbor/C-quorum compares the Java safekeepers with PostgreSQL's own receivers.
 */
final class PgbenchQuorum {
  private static final String BENCH_ROLE = "arbor_bench";
  private static final Pattern TPS = Pattern.compile("tps = ([0-9.]+) \\(without initial connection time\\)");

  private PgbenchQuorum() {}

  static void run(Options o) throws Exception {
    int scale = o.integer("scale", 10);
    int clients = o.integer("clients", 8);
    int seconds = o.integer("seconds", 60);
    int warmup = o.integer("warmup", 15);
    var load = new Load(scale, clients, seconds, warmup);
    PostgresInstallation pg = PostgresInstallation.find(15);

    String only = o.string("only", "all");
    if (!List.of("all", "plain", "quorum", "c-quorum").contains(only)) {
      throw new IllegalArgumentException("--only must be all, plain, quorum or c-quorum, not '" + only + "'");
    }
    double plain = Double.NaN;
    if (only.equals("all") || only.equals("plain")) {
      try (var alone = new PostgresFixture().withSetting("wal_level", "replica").start()) {
        plain = pgbench(pg, alone.server().port(), "postgres", null, load);
      }
    }
    double cQuorum = Double.NaN;
    if (only.equals("all") || only.equals("c-quorum")) {
      cQuorum = receivewalQuorum(pg, load);
    }
    double quorum = Double.NaN;
    if (only.equals("all") || only.equals("quorum")) {
      // --image-threshold: the pageserver's images from WAL (default 0, off: this run weighs the commit path,
      // and images are the pageserver's background work, on its own machine in a cluster).
      String imageThreshold = o.string("image-threshold", "0");
      try (var storage = new StorageProcesses(3).withImageThreshold(imageThreshold).start();
          var work = TempDirectory.create("arbor-bench-")) {
        TenantInfo tenant = storage.createTenant(15);
        // --max-wal-size: the compute's checkpoint spacing (default: the compute's own default), to weigh its cost.
        java.util.Map<String, String> settings = o.values().containsKey("max-wal-size")
            ? java.util.Map.of("max_wal_size", o.string("max-wal-size", "128MB")) : java.util.Map.of();
        try (RunningCompute c = Computes.start(storage, tenant.tenantId(), tenant.rootTimelineId(), work.resolve("c"), settings)) {
          quorum = pgbench(pg, c.port(), BENCH_ROLE, benchRole(c), load);
        }
      }
    }
    System.out.println("| setup | TPS |");
    System.out.println("|---|---|");
    System.out.printf("| PostgreSQL 15, no replication | %.0f |%n", plain);
    System.out.printf("| PostgreSQL 15, commits on 2 of 3 pg_receivewal --synchronous | %.0f |%n", cQuorum);
    System.out.printf("| Arbor compute, commits on 2 of 3 safekeepers | %.0f |%n", quorum);
    System.out.printf("Arbor/plain: %.2f; Arbor/C-quorum: %.2f (target >= 1.0); pgbench -s %d -c %d -j 2 -T %d after a %d s "
        + "warm-up; machine: %s%n", quorum / plain, quorum / cQuorum, scale, clients, seconds, warmup, Machine.describe());
  }

  /**
   * PostgreSQL's own quorum commit: a primary configured as a compute is (ComputeStart, ComputePgdata) whose
   * commits wait for 2 of 3 {@code pg_receivewal --synchronous}, each flushing to its own directory on the
   * same disk as the safekeepers would.
   */
  private static double receivewalQuorum(PostgresInstallation pg, Load load) throws Exception {
    var primary = new PostgresFixture().withSetting("wal_level", "replica").withSetting("fsync", "off")
        .withSetting("max_wal_senders", "10").withSetting("max_replication_slots", "10")
        .withSetting("synchronous_commit", "on").withSetting("synchronous_standby_names", "ANY 2 (r0, r1, r2)");
    List<Process> receivers = new ArrayList<>();
    try (primary; var dir = TempDirectory.create("arbor-bench-receivewal-")) {
      primary.start();
      int port = primary.server().port();
      for (int i = 0; i < 3; i++) {
        java.nio.file.Path target = java.nio.file.Files.createDirectories(dir.resolve("r" + i));
        receivers.add(new ProcessBuilder(pg.binary("pg_receivewal").toString(), "--synchronous", "--no-password",
            "-D", target.toString(), "-d", "host=127.0.0.1 port=" + port + " user=postgres application_name=r" + i)
            .redirectErrorStream(true).redirectOutput(dir.resolve("r" + i + ".log").toFile()).start());
      }
      awaitQuorumStreaming(primary);
      return pgbench(pg, port, "postgres", null, load);
    } finally {
      receivers.forEach(Process::destroy);
    }
  }

  /**
   * A compute refuses its superuser on TCP, so pgbench connects (over TCP, as the plain PostgreSQL run does) as a
   * role of its own that may create its tables; returns the role's password.
   */
  static String benchRole(RunningCompute c) throws java.sql.SQLException {
    byte[] random = new byte[18];
    new java.security.SecureRandom().nextBytes(random);
    String password = java.util.HexFormat.of().formatHex(random);
    try (var conn = c.connect("postgres"); var st = conn.createStatement()) {
      st.execute("CREATE ROLE " + BENCH_ROLE + " LOGIN PASSWORD '" + PasswordUtil.encodeScramSha256(password.toCharArray()) + "'");
      st.execute("GRANT CREATE ON SCHEMA public TO " + BENCH_ROLE);
    }
    return password;
  }

  private static void awaitQuorumStreaming(PostgresFixture primary) throws Exception {
    long deadline = System.nanoTime() + java.time.Duration.ofSeconds(30).toNanos();
    try (var conn = primary.connect(); var st = conn.createStatement()) {
      while (System.nanoTime() < deadline) {
        try (var rs = st.executeQuery("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'quorum' AND state = 'streaming'")) {
          rs.next();
          if (rs.getInt(1) == 3) {
            return;
          }
        }
        Thread.sleep(100);
      }
    }
    throw new IllegalStateException("the three pg_receivewal did not stream within 30 s (logs in the bench directory)");
  }

  /**
   * The measured run follows an unmeasured one of {@code warmup} seconds on both sides alike: long-running
   * servers are measured warm (the safekeepers' JIT compiler is busy for ~20 s after a start).
   */
  record Load(int scale, int clients, int seconds, int warmup) {
    List<String> run(int runSeconds) {
      return List.of("-c", Integer.toString(clients), "-j", "2", "-T", Integer.toString(runSeconds));
    }
  }

  static double pgbench(PostgresInstallation pg, int port, String user, String password, Load load)
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
    // The client's own TLS is the application's choice, not Arbor's price: a compute with ssl=on would be
    // reached over TLS by libpq's default (prefer), and a server without it in the clear.
    pb.environment().put("PGSSLMODE", "disable");
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
