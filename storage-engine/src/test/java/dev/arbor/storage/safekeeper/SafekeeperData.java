package dev.arbor.storage.safekeeper;

import dev.arbor.api.Lsn;
import dev.arbor.client.HttpJson;
import dev.arbor.client.RetryPolicy;
import dev.arbor.client.SafekeeperClient;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.storage.objectstore.ObjectStore;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A safekeeper's data directory as the tests lay it out before starting a real {@link Safekeeper} on it. */
final class SafekeeperData {
  static final long SEG = Lsn.DEFAULT_SEGMENT_SIZE;

  private SafekeeperData() {}

  /** Where a safekeeper with data directory {@code data} keeps the WAL store of one timeline. */
  static Path storeDir(Path data, TenantId tenant, TimelineId timeline) {
    return timelineDir(data, tenant, timeline).resolve("wal-store");
  }

  static Path timelineDir(Path data, TenantId tenant, TimelineId timeline) {
    return data.resolve(tenant.toString()).resolve(timeline.toString());
  }

  /** Writes {@code wal} of PostgreSQL TLI {@code tli} at {@code start} into the store in {@code storeDir}, flushed. */
  static void writeWal(Path storeDir, int tli, Lsn start, byte[] wal) throws IOException {
    try (WalSegmentStore store = WalSegmentStore.open(storeDir)) {
      store.write(tli, start, ByteBuffer.wrap(wal));
      store.flush();
    }
  }

  /** Bytes that stand in for WAL where nothing parses it; a seed per segment makes segments tell apart. */
  static byte[] randomWal(long length, long seed) {
    byte[] b = new byte[(int) length];
    new Random(seed).nextBytes(b);
    return b;
  }

  static Safekeeper start(String id, Path data, ObjectStore objects) throws IOException {
    return new Safekeeper(new SafekeeperConfig(id, new InetSocketAddress("127.0.0.1", 0), data, objects)).start();
  }

  /**
   * The timeline's URL, for a test that sends the server a raw request (a body the client cannot send) to see it
   * refused; the others call it through {@link #client}.
   */
  static String timelineUrl(Safekeeper sk, TenantId tenant, TimelineId timeline) {
    return sk.url() + "/v1/tenant/" + tenant + "/timeline/" + timeline;
  }

  /** A client of the safekeeper's compute port; one try per call. */
  static SafekeeperClient client(Safekeeper sk) {
    return new SafekeeperClient(sk.url(), Duration.ofSeconds(30), RetryPolicy.NONE);
  }

  static HttpJson http() {
    return new HttpJson(Duration.ofSeconds(30));
  }

  /** {@code GET /metrics} of a safekeeper's listener at {@code baseUrl}. */
  static String metrics(String baseUrl) throws IOException {
    try (InputStream in = http().download(baseUrl + "/metrics", Duration.ofSeconds(30)).orElseThrow()) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** The value of the sample with exactly this name and label set in a scrape; fails when there is none. */
  static double metric(String text, String sample) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(sample) + " (\\S+)$").matcher(text);
    if (!m.find()) {
      throw new AssertionError("no sample " + sample + " in:\n" + text);
    }
    return Double.parseDouble(m.group(1));
  }
}
