package dev.arbor.bench;

import static dev.arbor.bench.HttpServerBenchServer.SEGMENT;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.image.ImageManifest;
import dev.arbor.storage.image.ImageMaterializer;
import dev.arbor.storage.image.ImageWriter;
import dev.arbor.storage.objectstore.LocalObjectStore;
import dev.arbor.testing.TempDirectory;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.CRC32C;
import java.util.zip.CheckedOutputStream;
import java.util.zip.Checksum;

/**
 * {@code bench/run http-server}: whether a library would serve the daemons' HTTP better than the JDK server
 * under Arbor's own {@code HttpApi}. For each server kind ({@link HttpServerBenchServer}), in turns, a fresh
 * JVM with the daemons' flags ({@link #DAEMON_FLAGS}): time and CPU from process start to the first answer,
 * RSS then; after an unmeasured warm-up that checks the bytes, MiB/s and server CPU per GiB of a
 * basebackup-like tar stream of the whole data file, and of the data file as 16 MiB WAL-segment GETs one after
 * another and from 4 clients at once; the peak RSS. The client is the same for all: JDK
 * {@link HttpURLConnection}, as the agent and {@code HttpJson} use, reading into a 64 KiB buffer, on loopback;
 * the data file sits in the page cache, so the figures are the servers', not a disk's.
 */
final class HttpServerBench {
  private HttpServerBench() {}

  /**
   * The daemons' JVM flags ({@code --flags}): the arbor-storage image's (images/storage/Dockerfile), or those the
   * CLI starts local daemons with (cli's {@code Daemons.java}: C1 only).
   */
  static final Map<String, List<String>> DAEMON_FLAGS = Map.of(
      "image", List.of("-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xmx512m"),
      "cli", List.of("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
  private static final int CONCURRENT_CLIENTS = 4;

  /** Jars each library brings, by the path of the local Maven repository they come from. */
  private static final Map<String, List<String>> LIBRARY_JARS = Map.of(
      "jdk", List.of(),
      "jdk-64k", List.of(),
      "jdk-tuned", List.of(),
      "vertx", List.of("/io/vertx/vertx-core/", "/io/vertx/vertx-web/", "/io/vertx/vertx-web-common/",
          "/io/vertx/vertx-auth-common/", "/io/vertx/vertx-bridge-common/", "/io/netty/"),
      "jetty", List.of("/org/eclipse/jetty/"));

  /** One measured transfer: MiB/s of response bodies, and the server process's CPU ms per GiB sent. */
  private record Rate(double mibPerSecond, double cpuMsPerGiB) {
    static final Rate NONE = new Rate(0, 0);
  }

  private record Measured(double startMs, double startCpuMs, double rssStartMiB, Rate basebackup, Rate wal,
      Rate walConcurrent, Rate walSendfile, double peakRssMiB) {}

  static void run(Options o) throws Exception {
    int mib = o.integer("mib", 1024);
    int runs = o.integer("runs", 5);
    List<String> kinds = Arrays.asList(o.string("servers", String.join(",", HttpServerBenchServer.KINDS)).split(","));
    String flagsName = o.string("flags", "image");
    List<String> flags = DAEMON_FLAGS.get(flagsName);
    if (flags == null) {
      throw new IllegalArgumentException("--flags " + flagsName + ": one of " + DAEMON_FLAGS.keySet());
    }
    System.out.println("machine: " + Machine.describe() + "; java " + Runtime.version() + "; server flags " + flags);
    try (var dir = TempDirectory.create("arbor-http-bench")) {
      Path data = dir.resolve("data");
      writeData(data, (long) mib << 20);
      System.out.printf("source: %d MiB file in the page cache, read through the servers' source (PrefixThenZeros) at %.0f MiB/s%n", mib,
          sourceRate(data));
      System.out.printf("a real basebackup's source: ImageMaterializer writing the tar of an image of the same bytes "
          + "(local object store, page cache) into nothing at %.0f MiB/s (median of 3)%n", imageSourceRate(data, dir.path()));
      Map<String, List<Measured>> results = new LinkedHashMap<>();
      for (int run = 1; run <= runs; run++) {
        for (String kind : kinds) {
          Measured m = measure(kind, data, flags);
          results.computeIfAbsent(kind, k -> new ArrayList<>()).add(m);
          System.out.printf("run %d %-9s %s%n", run, kind, m);
        }
      }
      report(results, mib, runs);
    }
  }

  private static void report(Map<String, List<Measured>> results, int mib, int runs) {
    System.out.printf("%nmedians of %d runs; %d MiB per stream measurement; MiB/s of response bodies (server CPU ms per GiB)%n",
        runs, mib);
    System.out.printf("%-9s %9s %9s %8s %16s %16s %16s %16s %9s %9s%n", "server", "start ms", "start CPU", "RSS MiB",
        "basebackup", "WAL seq", "WAL 4 clients", "WAL sendfile", "peak RSS", "jars KiB");
    for (var e : results.entrySet()) {
      List<Measured> m = e.getValue();
      System.out.printf("%-9s %9.0f %9.0f %8.0f %16s %16s %16s %16s %9.0f %9d%n", e.getKey(),
          median(m, Measured::startMs), median(m, Measured::startCpuMs), median(m, Measured::rssStartMiB),
          rate(m, Measured::basebackup), rate(m, Measured::wal), rate(m, Measured::walConcurrent),
          e.getKey().equals("vertx") ? rate(m, Measured::walSendfile) : "-", median(m, Measured::peakRssMiB),
          libraryBytes(e.getKey()) / 1024);
    }
  }

  private static String rate(List<Measured> values, java.util.function.Function<Measured, Rate> field) {
    List<Rate> rates = values.stream().map(field).toList();
    return String.format("%.0f (%.0f)", medianOf(rates.stream().mapToDouble(Rate::mibPerSecond)),
        medianOf(rates.stream().mapToDouble(Rate::cpuMsPerGiB)));
  }

  private static double median(List<Measured> values, java.util.function.ToDoubleFunction<Measured> field) {
    return medianOf(values.stream().mapToDouble(field));
  }

  private static double medianOf(java.util.stream.DoubleStream values) {
    double[] sorted = values.sorted().toArray();
    return sorted[sorted.length / 2];
  }

  private static Measured measure(String kind, Path data, List<String> flags) throws Exception {
    int port;
    try (var probe = new ServerSocket(0)) {
      port = probe.getLocalPort();
    }
    String base = "http://127.0.0.1:" + port + "/v1";
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(flags);
    command.addAll(List.of("-cp", classpath(kind), HttpServerBenchServer.class.getName(), kind, Integer.toString(port),
        data.toString()));
    long started = System.nanoTime();
    Path log = data.resolveSibling(kind + ".log");
    Process server = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    try {
      awaitFirstAnswer(server, base + "/status", log);
      double startMs = (System.nanoTime() - started) / 1e6;
      double startCpuMs = server.info().totalCpuDuration().orElseThrow().toMillis();
      double rssStart = procStatusMiB(server.pid(), "VmRSS");

      long segments = HttpServerBenchServer.segments(data);
      long tarLength = HttpServerBenchServer.tarLength(Files.size(data));
      // Warm-up, unmeasured: the daemons serve these paths warm, after their JIT compiled them. It also checks
      // that every server sends the very bytes of its source, so no side is fast by sending something else.
      verify(base + "/basebackup", tarLength, out -> HttpServerBenchServer.writeTar(data, out));
      verifySegments(base + "/wal/", data, segments);
      walConcurrent(base + "/wal/", segments);

      Rate basebackup = rate(server, tarLength, () -> get(base + "/basebackup", tarLength));
      Rate wal = rate(server, segments * SEGMENT, () -> walSequential(base + "/wal/", segments));
      Rate walConcurrent = rate(server, segments * SEGMENT, () -> walConcurrent(base + "/wal/", segments));
      Rate sendfile = Rate.NONE;
      if (kind.equals("vertx")) {
        verifySegments(base + "/wal-file/", data, segments);
        sendfile = rate(server, segments * SEGMENT, () -> walSequential(base + "/wal-file/", segments));
      }
      return new Measured(startMs, startCpuMs, rssStart, basebackup, wal, walConcurrent, sendfile,
          procStatusMiB(server.pid(), "VmHWM"));
    } finally {
      server.destroyForcibly().waitFor();
      Files.deleteIfExists(log);
    }
  }

  /** The bench's classpath without the jars of the libraries that this kind does not use. */
  private static String classpath(String kind) {
    List<String> foreign = LIBRARY_JARS.entrySet().stream().filter(e -> !e.getKey().equals(kind))
        .flatMap(e -> e.getValue().stream()).toList();
    return Arrays.stream(System.getProperty("java.class.path").split(java.io.File.pathSeparator))
        .filter(entry -> foreign.stream().noneMatch(entry::contains))
        .reduce((a, b) -> a + java.io.File.pathSeparator + b).orElseThrow();
  }

  /** The bytes of the jars a library adds to the storage engine's classpath. */
  private static long libraryBytes(String kind) {
    return Arrays.stream(System.getProperty("java.class.path").split(java.io.File.pathSeparator))
        .filter(entry -> LIBRARY_JARS.get(kind).stream().anyMatch(entry::contains))
        .mapToLong(entry -> Path.of(entry).toFile().length()).sum();
  }

  private static void awaitFirstAnswer(Process server, String url, Path log) throws Exception {
    long deadline = System.nanoTime() + 60_000_000_000L;
    while (System.nanoTime() < deadline) {
      if (!server.isAlive()) {
        throw new IllegalStateException("the server exited with " + server.exitValue() + " before answering " + url + ": "
            + Files.readString(log));
      }
      try {
        get(url, -1);
        return;
      } catch (ConnectException e) {
        Thread.sleep(2);
      }
    }
    throw new IllegalStateException("no answer from " + url + " within 60 s");
  }

  @FunctionalInterface
  private interface Transfer {
    void run() throws Exception;
  }

  private static Rate rate(Process server, long bytes, Transfer transfer) throws Exception {
    long cpuBefore = server.info().totalCpuDuration().orElseThrow().toMillis();
    double mibPerSecond = mibPerSecond(bytes, transfer);
    long cpuMs = server.info().totalCpuDuration().orElseThrow().toMillis() - cpuBefore;
    return new Rate(mibPerSecond, cpuMs / (bytes / (1024.0 * 1024 * 1024)));
  }

  private static double mibPerSecond(long bytes, Transfer transfer) throws Exception {
    long t = System.nanoTime();
    transfer.run();
    return bytes / (1024.0 * 1024) / ((System.nanoTime() - t) / 1e9);
  }

  private static void walSequential(String prefix, long segments) throws IOException {
    for (long i = 0; i < segments; i++) {
      get(prefix + i, SEGMENT);
    }
  }

  private static void walConcurrent(String prefix, long segments) throws Exception {
    ExecutorService clients = Executors.newFixedThreadPool(CONCURRENT_CLIENTS);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int c = 0; c < CONCURRENT_CLIENTS; c++) {
        int first = c;
        done.add(clients.submit(() -> {
          for (long i = first; i < segments; i += CONCURRENT_CLIENTS) {
            get(prefix + i, SEGMENT);
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      clients.shutdownNow();
    }
  }

  private static void verifySegments(String prefix, Path data, long segments) throws IOException {
    for (long i = 0; i < segments; i++) {
      long offset = i * SEGMENT;
      verify(prefix + i, SEGMENT, out -> {
        try (InputStream in = HttpServerBenchServer.slice(data, offset, SEGMENT)) {
          in.transferTo(out);
        }
      });
    }
  }

  /** GETs {@code url} and fails unless its body has the length and the CRC-32C of what {@code source} writes. */
  private static void verify(String url, long length, HttpServerBenchServer.Body source) throws IOException {
    var expected = new CRC32C();
    try (var out = new CheckedOutputStream(OutputStream.nullOutputStream(), expected)) {
      source.writeTo(out);
    }
    var got = new CRC32C();
    get(url, length, got);
    if (got.getValue() != expected.getValue()) {
      throw new IOException("GET " + url + " sent other bytes than its source (CRC-32C " + Long.toHexString(got.getValue())
          + ", expected " + Long.toHexString(expected.getValue()) + ")");
    }
  }

  private static long get(String url, long expected) throws IOException {
    return get(url, expected, null);
  }

  /**
   * GETs {@code url}, reads the whole body and checks its length ({@code expected} < 0: any); {@code checksum},
   * when not null, is updated with the body.
   */
  private static long get(String url, long expected, Checksum checksum) throws IOException {
    var c = (HttpURLConnection) URI.create(url).toURL().openConnection();
    c.setConnectTimeout(5_000);
    c.setReadTimeout(60_000);
    int status = c.getResponseCode();
    if (status != 200) {
      throw new IOException("GET " + url + " answered " + status);
    }
    long n = 0;
    byte[] buffer = new byte[64 * 1024];
    try (InputStream in = c.getInputStream()) {
      for (int r; (r = in.read(buffer)) >= 0; ) {
        n += r;
        if (checksum != null) {
          checksum.update(buffer, 0, r);
        }
      }
    }
    if (expected >= 0 && n != expected) {
      throw new IOException("GET " + url + " gave " + n + " bytes, not " + expected);
    }
    return n;
  }

  private static void writeData(Path data, long size) throws IOException {
    var random = new SplittableRandom(14);
    byte[] block = new byte[1 << 20];
    try (OutputStream out = Files.newOutputStream(data)) {
      for (long written = 0; written < size; written += block.length) {
        for (int i = 0; i < block.length; i += 8) {
          long v = random.nextLong();
          for (int j = 0; j < 8; j++) {
            block[i + j] = (byte) (v >>> (8 * j));
          }
        }
        out.write(block);
      }
    }
  }

  /** MiB/s of reading the data file as the servers read it, with nothing sent: what their source costs. */
  private static double sourceRate(Path data) throws Exception {
    Transfer read = () -> {
      try (InputStream in = HttpServerBenchServer.slice(data, 0, Files.size(data))) {
        in.transferTo(OutputStream.nullOutputStream());
      }
    };
    read.run();
    return mibPerSecond(Files.size(data), read);
  }

  /**
   * MiB/s at which the pageserver produces a basebackup before any server sees it: the data file as a PGDATA's
   * relation files, imaged by {@link ImageWriter} into a {@link LocalObjectStore} (128 KiB chunks), then
   * {@link ImageMaterializer#writeTar} reading the chunks back and checking their hashes, into nothing.
   */
  private static double imageSourceRate(Path data, Path dir) throws Exception {
    Path pgdata = dir.resolve("pgdata");
    Files.createDirectories(pgdata.resolve("base/5"));
    Files.writeString(pgdata.resolve("PG_VERSION"), "15\n");
    for (long i = 0; i < HttpServerBenchServer.segments(data); i++) {
      try (InputStream in = HttpServerBenchServer.slice(data, i * SEGMENT, SEGMENT)) {
        Files.copy(in, pgdata.resolve("base/5/" + (16384 + i)));
      }
    }
    var store = new LocalObjectStore(dir.resolve("objects"));
    ImageManifest image = new ImageWriter(store).write(TenantId.random(), TimelineId.random(), new Lsn(1L << 24), 15, pgdata)
        .manifest();
    var materializer = new ImageMaterializer(store);
    List<Double> rates = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      rates.add(mibPerSecond(image.totalBytes(), () -> materializer.writeTar(image, Map.of(), OutputStream.nullOutputStream())));
    }
    return medianOf(rates.stream().mapToDouble(Double::doubleValue));
  }

  private static double procStatusMiB(long pid, String field) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
      if (line.startsWith(field + ":")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
      }
    }
    throw new IOException("no " + field + " in /proc/" + pid + "/status");
  }
}
