package dev.arbor.bench;

import dev.arbor.storage.objectstore.S3ObjectStore;
import dev.arbor.testing.S3ProxyFixture;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import software.amazon.awssdk.http.SdkHttpClient;

/**
 * {@code bench/run s3client}: which SDK HTTP client S3ObjectStore should ship. For each client, fresh JVMs
 * measure the time from JVM start to the first object written (client construction, class loading, the
 * checks of {@link S3ObjectStore#open}) and the CPU time the process spent until then, then put/get throughput of objects of {@code --mb} MiB, all against
 * S3Proxy on loopback.
 */
final class S3ClientBench {
  private S3ClientBench() {}

  static final List<String> CLIENTS = List.of("url-connection", "apache", "apache5", "crt");

  static void run(Options o) throws Exception {
    int mb = o.integer("mb", 16);
    int rounds = o.integer("rounds", 4);
    int starts = o.integer("starts", 5);
    System.out.println("machine: " + Machine.describe() + "; java " + Runtime.version());
    Map<String, List<Double>> first = new HashMap<>();
    Map<String, List<Double>> firstCpu = new HashMap<>();
    Map<String, List<Double>> put = new HashMap<>();
    Map<String, List<Double>> get = new HashMap<>();
    try (var s3 = new S3ProxyFixture().start()) {
      s3.createBucket("bench");
      // Clients take turns, so that a burst of load from elsewhere on the machine spreads over all of them.
      for (int i = 0; i < starts; i++) {
        for (String client : CLIENTS) {
          Map<String, String> r = child(s3, client, mb, rounds);
          first.computeIfAbsent(client, c -> new ArrayList<>()).add(Double.parseDouble(r.get("first_ms")));
          firstCpu.computeIfAbsent(client, c -> new ArrayList<>()).add(Double.parseDouble(r.get("first_cpu_ms")));
          put.computeIfAbsent(client, c -> new ArrayList<>()).add(Double.parseDouble(r.get("put_mibs")));
          get.computeIfAbsent(client, c -> new ArrayList<>()).add(Double.parseDouble(r.get("get_mibs")));
        }
      }
    }
    System.out.printf("medians of %d fresh JVMs per client, %d x %d MiB objects each way%n", starts, rounds, mb);
    System.out.printf("%-15s %18s %18s %12s %12s   %s%n", "client", "first request ms", "CPU ms until then", "put MiB/s",
        "get MiB/s", "first request ms, every start");
    for (String client : CLIENTS) {
      System.out.printf("%-15s %18.0f %18.0f %12.0f %12.0f   %s%n", client, median(first.get(client)), median(firstCpu.get(client)),
          median(put.get(client)), median(get.get(client)), first.get(client).stream().map(d -> String.valueOf(d.longValue())).toList());
    }
  }

  private static double median(List<Double> values) {
    List<Double> sorted = values.stream().sorted().toList();
    return sorted.get(sorted.size() / 2);
  }

  private static Map<String, String> child(S3ProxyFixture s3, String client, int mb, int rounds) throws Exception {
    var command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
        System.getProperty("java.class.path"), S3ClientBench.class.getName(), client, Integer.toString(mb), Integer.toString(rounds));
    var pb = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
    pb.environment().putAll(s3.environment());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
    if (p.waitFor() != 0) {
      throw new IllegalStateException(client + " run failed: " + out);
    }
    Map<String, String> values = new HashMap<>();
    for (String kv : out.lines().reduce((a, b) -> b).orElse("").split(" ")) {
      int eq = kv.indexOf('=');
      if (eq > 0) {
        values.put(kv.substring(0, eq), kv.substring(eq + 1));
      }
    }
    return values;
  }

  /** One fresh JVM: CLIENT MIB ROUNDS; prints {@code first_ms=… put_mibs=… get_mibs=…}. */
  public static void main(String[] args) throws Exception {
    String client = args[0];
    int mb = Integer.parseInt(args[1]);
    int rounds = Integer.parseInt(args[2]);
    var settings = S3ObjectStore.Settings.fromEnvironment("s3://bench/" + client, System.getenv());
    try (var store = S3ObjectStore.open(settings, http(client))) {
      store.put("first", new byte[] {1});
      long firstMs = System.currentTimeMillis() - ManagementFactory.getRuntimeMXBean().getStartTime();
      // CPU time is what the start costs this process; wall time also holds whatever else the machine ran
      long firstCpuMs = ProcessHandle.current().info().totalCpuDuration().orElseThrow().toMillis();
      double put;
      double get;
      {
        byte[] data = new byte[mb << 20];
        new Random(1).nextBytes(data);
        store.put("warmup", data);
        long t = System.nanoTime();
        for (int i = 0; i < rounds; i++) {
          store.put("object-" + i, data);
        }
        put = (double) rounds * mb / ((System.nanoTime() - t) / 1e9);
        byte[] buf = new byte[64 * 1024];
        t = System.nanoTime();
        for (int i = 0; i < rounds; i++) {
          try (InputStream in = store.get("object-" + i).orElseThrow()) {
            while (in.read(buf) >= 0) {
              // drain
            }
          }
        }
        get = (double) rounds * mb / ((System.nanoTime() - t) / 1e9);
      }
      System.out.printf("first_ms=%d first_cpu_ms=%d put_mibs=%.1f get_mibs=%.1f%n", firstMs, firstCpuMs, put, get);
    }
  }

  private static SdkHttpClient http(String client) {
    Duration connect = Duration.ofSeconds(10);
    Duration socket = Duration.ofSeconds(60);
    return switch (client) {
      case "url-connection" -> software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient.builder()
          .connectionTimeout(connect).socketTimeout(socket).build();
      case "apache" -> software.amazon.awssdk.http.apache.ApacheHttpClient.builder()
          .connectionTimeout(connect).socketTimeout(socket).build();
      case "apache5" -> software.amazon.awssdk.http.apache5.Apache5HttpClient.builder()
          .connectionTimeout(connect).socketTimeout(socket).build();
      case "crt" -> software.amazon.awssdk.http.crt.AwsCrtHttpClient.builder()
          .connectionTimeout(connect).build();
      default -> throw new IllegalArgumentException("unknown client " + client + "; one of " + CLIENTS);
    };
  }
}
