package dev.arbor.bench;

import dev.arbor.postgres.PostgresInstallation;
import dev.arbor.proxy.ComputeState;
import dev.arbor.proxy.Computes;
import dev.arbor.proxy.ProxyConfig;
import dev.arbor.proxy.ProxyServer;
import dev.arbor.testing.PostgresFixture;
import dev.arbor.testing.TempDirectory;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The price of arbor-proxy on the data path: pgbench against one PostgreSQL directly and through the proxy
 * (in this JVM, on loopback), in one run, alternating the two sides: TPC-B TPS, select-only TPS, and the
 * latency of {@code SELECT 1} from one client. Target: proxied TPS at least 0.9 of direct.
 *
 * <p>With {@code --pin true} PostgreSQL (every process of it) and pgbench run on CPU 0 and this JVM, the proxy, on
 * CPU 1 (Linux {@code taskset}), on both sides: the proxy then pays in latency only, as it does in a cluster where it
 * runs on other cores than the client and the compute. Without it all share every core, so the proxy's CPU per
 * message also comes out of PostgreSQL's and pgbench's.
 */
final class ProxyOverhead {
  private static final Pattern TPS = Pattern.compile("tps = ([0-9.]+) \\(without initial connection time\\)");
  private static final Pattern LATENCY = Pattern.compile("latency average = ([0-9.]+) ms");

  private ProxyOverhead() {}

  record Result(double tps, double latencyMs) {}

  static void run(Options o) throws Exception {
    int scale = o.integer("scale", 10);
    int clients = o.integer("clients", 8);
    int seconds = o.integer("seconds", 20);
    int rounds = o.integer("rounds", 3);
    boolean pin = Boolean.parseBoolean(o.string("pin", "false"));
    boolean reference = Boolean.parseBoolean(o.string("haproxy", "false"));
    PostgresInstallation pg = PostgresInstallation.find(PostgresFixture.DEFAULT_MAJOR);
    try (var server = new PostgresFixture().withSetting("max_connections", "200").start();
        var work = TempDirectory.create("arbor-proxy-bench-")) {
      int direct = server.server().port();
      if (pin) {
        pinTo("1", ProcessHandle.current());
        pinTo("0", ProcessHandle.of(server.server().pid()).orElseThrow());
      }
      Computes one = new Computes() {
        @Override public ComputeState state(String endpoint) {
          return new ComputeState.Running(new InetSocketAddress("127.0.0.1", direct), null);
        }
        @Override public void wake(String endpoint) {
          throw new IllegalStateException("the benchmark's compute never sleeps");
        }
        @Override public void connected(String endpoint, ComputeState.Running compute) {}
      };
      try (var proxy = new ProxyServer(ProxyConfig.defaults(), one, new SimpleMeterRegistry());
          var haproxy = reference ? HaproxyReference.start(work.path(), direct, pin) : null) {
        List<String> sides = new ArrayList<>(List.of("direct", "arbor-proxy"));
        List<Integer> ports = new ArrayList<>(List.of(direct, proxy.listen("bench", new InetSocketAddress("127.0.0.1", 0)).getPort()));
        if (haproxy != null) {
          sides.add("HAProxy");
          ports.add(haproxy.port());
        }
        pgbench(pg, direct, pin, List.of("-i", "-q", "-s", Integer.toString(scale)));
        Path select1 = work.resolve("select1.sql");
        Files.writeString(select1, "SELECT 1;\n", StandardCharsets.UTF_8);
        List<String> tpcb = List.of("-c", Integer.toString(clients), "-j", "2", "-T", Integer.toString(seconds));
        List<String> selectOnly = List.of("-S", "-c", Integer.toString(clients), "-j", "2", "-T", Integer.toString(seconds));
        List<String> oneClient = List.of("-n", "-f", select1.toString(), "-c", "1", "-T", Integer.toString(seconds));
        pgbench(pg, direct, pin, List.of("-c", Integer.toString(clients), "-j", "2", "-T", "5")); // warm-up
        List<List<String>> loads = List.of(tpcb, selectOnly, oneClient);
        double[][] tps = new double[loads.size()][sides.size()];
        double[][] latency = new double[loads.size()][sides.size()];
        for (int r = 0; r < rounds; r++) {
          for (int l = 0; l < loads.size(); l++) {
            // each round starts with another side, so a drift of the machine does not favour one
            for (int i = 0; i < sides.size(); i++) {
              int side = (i + r) % sides.size();
              Result result = pgbench(pg, ports.get(side), pin, loads.get(l));
              tps[l][side] += result.tps / rounds;
              latency[l][side] += result.latencyMs / rounds;
            }
          }
        }
        String[] names = {"TPC-B, " + clients + " clients", "select-only (-S), " + clients + " clients", "SELECT 1, 1 client"};
        var head = new StringBuilder("| load | direct TPS |");
        var rule = new StringBuilder("|---|---|");
        for (String side : sides.subList(1, sides.size())) {
          head.append(" ").append(side).append(" TPS | ").append(side).append("/direct |");
          rule.append("---|---|");
        }
        head.append(" latency ms (").append(String.join(" / ", sides)).append(") |");
        System.out.println(head);
        System.out.println(rule.append("---|"));
        for (int l = 0; l < loads.size(); l++) {
          var row = new StringBuilder(String.format("| %s | %.0f |", names[l], tps[l][0]));
          List<String> latencies = new ArrayList<>();
          for (int side = 0; side < sides.size(); side++) {
            if (side > 0) {
              row.append(String.format(" %.0f | %.2f |", tps[l][side], tps[l][side] / tps[l][0]));
            }
            latencies.add(String.format("%.3f", latency[l][side]));
          }
          System.out.println(row.append(" ").append(String.join(" / ", latencies)).append(" |"));
        }
        System.out.printf("pgbench -s %d, %d s per run, %d rounds, the sides in turn (means); target arbor-proxy/direct >= 0.9;"
            + " PostgreSQL %d, the proxy in the benchmark's JVM%s, all on loopback; %s; machine: %s%n", scale, seconds, rounds,
            PostgresFixture.DEFAULT_MAJOR, haproxy == null ? "" : ", " + haproxy.version() + " (one thread) as a reference",
            pin ? "PostgreSQL and pgbench pinned to CPU 0, the proxies to CPU 1" : "nothing pinned", Machine.describe());
      }
    }
  }

  /** Every thread of {@code process} and of its descendants on {@code cpus}; processes they start later inherit it. */
  private static void pinTo(String cpus, ProcessHandle process) throws IOException, InterruptedException {
    List<ProcessHandle> all = new ArrayList<>(process.descendants().toList());
    all.add(process);
    for (ProcessHandle h : all) {
      Process p = new ProcessBuilder("taskset", "-a", "-p", "-c", cpus, Long.toString(h.pid())).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (p.waitFor() != 0 && h.isAlive()) {
        throw new IllegalStateException("taskset -a -p -c " + cpus + " " + h.pid() + " failed (--pin needs util-linux's taskset):\n" + out);
      }
    }
  }

  private static Result pgbench(PostgresInstallation pg, int port, boolean pin, List<String> args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(pin ? List.of("taskset", "-c", "0") : List.of());
    cmd.addAll(List.of(pg.binary("pgbench").toString(), "-h", "127.0.0.1", "-p", Integer.toString(port), "-U", PostgresFixture.SUPERUSER));
    cmd.addAll(args);
    cmd.add("postgres");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw new IllegalStateException("pgbench " + args + " failed:\n" + out);
    }
    if (args.contains("-i")) {
      return new Result(0, 0);
    }
    Matcher tps = TPS.matcher(out);
    Matcher latency = LATENCY.matcher(out);
    if (!tps.find() || !latency.find()) {
      throw new IllegalStateException("no TPS or latency in pgbench output:\n" + out);
    }
    return new Result(Double.parseDouble(tps.group(1)), Double.parseDouble(latency.group(1)));
  }
}
