package dev.arbor.bench;

import java.util.Arrays;

/** Entry point of {@code bench/run NAME [options]}. */
public final class BenchMain {
  private BenchMain() {}

  public static void main(String[] args) throws Exception {
    String name = args.length == 0 ? "" : args[0];
    String[] rest = args.length == 0 ? args : Arrays.copyOfRange(args, 1, args.length);
    switch (name) {
      case "branch-latency" -> BranchLatency.run(Options.parse(rest));
      case "pgbench" -> PgbenchQuorum.run(Options.parse(rest));
      case "chaos" -> Chaos.run(Options.parse(rest));
      case "start-latency" -> StartLatency.run(Options.parse(rest));
      case "s3client" -> S3ClientBench.run(Options.parse(rest));
      case "branch-storage" -> BranchStorage.run(Options.parse(rest));
      case "object-stores" -> ObjectStoreSides.run(Options.parse(rest));
      case "http-server" -> HttpServerBench.run(Options.parse(rest));
      case "daemon-start" -> DaemonStart.run(Options.parse(rest));
      case "proxy-overhead" -> ProxyOverhead.run(Options.parse(rest));
      case "wake" -> WakeLatency.run(Options.parse(rest));
      case "security-cost" -> SecurityCost.run(Options.parse(rest));
      default -> {
        System.err.println("""
            usage: bench/run NAME [--option value ...]
              branch-latency  [--small-mb 10] [--large-mb 1024] [--repeat 20]
                  branch-creation latency for a small and a large database, and the bytes a branch adds
              pgbench         [--scale 10] [--clients 8] [--seconds 60] [--warmup 15]
                              [--only all|plain|quorum|c-quorum] [--max-wal-size 1GB] [--image-threshold 0]
                  pgbench TPC-B TPS of a compute with 3 safekeepers beside the same PostgreSQL with no replication
                  and with its own quorum of 3 pg_receivewal --synchronous
              start-latency   [--db-mb 100] [--churn-mb 1024] [--threshold 256MiB[,1GiB...]]
                  compute start to first query without and with images (one side per threshold): a new branch,
                  and main after churn
              branch-storage  [--db-mb 1024] [--branches 10] [--change-pct 1]
                  object-store bytes of branches that each change a share of the rows and are imaged
              object-stores   [--db-mb 100] [--branches 20] [--starts 5]
                  branch creation and compute start with the local store and with S3 (S3Proxy), side by side
              daemon-start    [--repeat 5] [--requests 50]
                  spawn to GET /metrics answering and VmRSS (after start, after requests) of a safekeeper, the
                  pageserver and the compute agent (its spawn to Running too), medians of fresh processes
              proxy-overhead  [--scale 10] [--clients 8] [--seconds 20] [--rounds 3] [--pin false] [--haproxy false]
                  pgbench TPC-B and select-only TPS and SELECT 1 latency, directly and through arbor-proxy (and HAProxy
                  as a reference with --haproxy true), in turn; --pin true: PostgreSQL and pgbench on CPU 0, proxies on 1
              security-cost   [--scale 10] [--clients 8] [--seconds 30] [--warmup 10] [--starts 5] [--rounds 2]
                  the price of tokens and TLS: pgbench TPC-B TPS of a compute with 3 safekeepers and compute start to
                  first query, on a storage engine with both on and one with both off, alternating round by round
              wake            [--db-mb 100] [--wakes 30] [--clients 20]
                  local mode: connect to the first row of SELECT 1 on a suspended endpoint, p50/p95/max with the phases
                  (proxy, agent JVM, election, basebackup, PostgreSQL start, roles, proxy); then N clients at once: one wake
              wake-cluster    [--db-mb 100] [--wakes 30] [--clients 20]
                  the same on the e2e cluster with the chart installed (e2e/.../WakeOnClusterBenchmark; the table also in
                  e2e/target/wake-cluster.md)
              chaos           [--rounds 200] [--seed S]
                  randomized faults (kill, pause, power cut, wiped disk of safekeepers; kill, pause of the pageserver
                  and the compute) under a ledger load; checks no acknowledged commit is lost and no two
                  generations commit (needs root and /dev/fuse for crashfs)
              s3client        [--mb 16] [--rounds 4] [--starts 5]
                  per SDK HTTP client: JVM start to first S3 object written, and put/get MiB/s, against S3Proxy
              http-server     [--mib 1024] [--runs 5] [--servers jdk,jdk-64k,jdk-tuned,vertx,jetty]
                              [--flags image|cli]
                  the daemons' JDK server (HttpApi) beside Vert.x and Jetty: start to first answer, RSS, and MiB/s of
                  a basebackup tar stream and of 16 MiB WAL-segment GETs (sequential, 4 clients) on loopback
            """);
        System.exit(2);
      }
    }
    System.exit(0);
  }
}
