package dev.arbor.storage.objectstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@link ObjectStore} contract, run against every store: a subclass says how to open one, and a second
 * one on the same storage (another process's view of it).
 */
abstract class ObjectStoreContractTest {

  /** A listing page small enough that {@link #listPagesThroughMoreKeysThanOnePage} needs several. */
  static final int LIST_PAGE_SIZE = 3;
  /** The smallest multipart part size S3 allows: a file above it is uploaded in parts. */
  static final long PART_SIZE = S3ObjectStore.Settings.MIN_PART_SIZE;

  @TempDir
  Path scratch;

  /** A fresh, empty store for this test; same storage on every call within one test. */
  abstract ObjectStore store() throws Exception;

  @Test
  void putGetListDelete() throws Exception {
    var store = store();
    store.put("tenants/a/tenant.json", bytes("{}"));
    store.put("tenants/a/timelines/t1/timeline.json", bytes("one"));
    store.put("tenants/ab/tenant.json", bytes("other"));

    assertThat(text(store.getBytes("tenants/a/timelines/t1/timeline.json").orElseThrow())).isEqualTo("one");
    assertThat(store.list("tenants/a/")).containsExactly("tenants/a/tenant.json", "tenants/a/timelines/t1/timeline.json");
    assertThat(store.list("tenants/a")).as("a prefix is a string prefix, not a directory")
        .containsExactly("tenants/a/tenant.json", "tenants/a/timelines/t1/timeline.json", "tenants/ab/tenant.json");
    assertThat(store.list("tenants/a/timelines/t1/")).containsExactly("tenants/a/timelines/t1/timeline.json");
    assertThat(store.list("tenants/b")).isEmpty();
    assertThat(store.size("tenants/a/tenant.json")).contains(2L);
    assertThat(store.exists("tenants/a/tenant.json")).isTrue();

    store.put("tenants/a/tenant.json", bytes("replaced"));
    assertThat(store.getBytes("tenants/a/tenant.json")).hasValueSatisfying(b -> assertThat(b).isEqualTo(bytes("replaced")));

    store.delete("tenants/a/tenant.json");
    store.delete("tenants/a/tenant.json");
    store.delete("tenants/never/written");
    assertThat(store.get("tenants/a/tenant.json")).isEmpty();
    assertThat(store.getVersioned("tenants/a/tenant.json")).isEmpty();
    assertThat(store.exists("tenants/a/tenant.json")).isFalse();
    assertThat(store.size("tenants/a/tenant.json")).isEmpty();
    assertThat(store.list("")).containsExactly("tenants/a/timelines/t1/timeline.json", "tenants/ab/tenant.json");
  }

  /** A reader during overwrites sees one whole version or the other, never a mix or a part. */
  @Test
  void readersNeverSeeATornObject() throws Exception {
    var store = store();
    String key = "tenants/a/timelines/t/timeline.json";
    byte[] x = filled(256 * 1024, (byte) 'x');
    byte[] y = filled(300 * 1024, (byte) 'y');
    store.put(key, x);
    var stop = new AtomicBoolean();
    try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
      Future<?> writer = pool.submit(() -> {
        for (int i = 0; i < 40 && !stop.get(); i++) {
          store.put(key, i % 2 == 0 ? y : x);
        }
        return null;
      });
      try {
        while (!writer.isDone()) {
          byte[] seen = store.getBytes(key).orElseThrow();
          assertThat(seen).satisfiesAnyOf(
              b -> assertThat(b).isEqualTo(x), b -> assertThat(b).isEqualTo(y));
        }
        writer.get();
      } finally {
        stop.set(true);
      }
    }
  }

  @Test
  void putIfAbsentWritesOnce() throws Exception {
    var store = store();
    assertThat(store.putIfAbsent("tenants/a/chunks/abc", bytes("x"))).isTrue();
    assertThat(store.putIfAbsent("tenants/a/chunks/abc", bytes("y"))).isFalse();
    assertThat(store.getBytes("tenants/a/chunks/abc")).hasValueSatisfying(b -> assertThat(b).isEqualTo(bytes("x")));
    assertThat(store.list("")).containsExactly("tenants/a/chunks/abc");
  }

  @Test
  void putIfVersionWritesOnlyOverTheVersionItWasGiven() throws Exception {
    var store = store();
    String key = "tenants/a/timelines/t/timeline.json";
    assertThat(store.putIfVersion(key, bytes("v1"), null)).as("absent, expected absent").isTrue();
    assertThat(store.putIfVersion(key, bytes("v1'"), null)).as("present, expected absent").isFalse();
    ObjectStore.Versioned v1 = store.getVersioned(key).orElseThrow();
    assertThat(v1.bytes()).isEqualTo(bytes("v1"));
    var other = store(); // another writer on the same store
    assertThat(other.putIfVersion(key, bytes("v2"), other.getVersioned(key).orElseThrow().version())).isTrue();
    assertThat(store.getVersioned(key).orElseThrow().version()).as("a new version for new bytes").isNotEqualTo(v1.version());
    assertThat(store.putIfVersion(key, bytes("v2'"), v1.version())).as("stale version").isFalse();
    assertThat(store.getBytes(key)).hasValueSatisfying(b -> assertThat(b).isEqualTo(bytes("v2")));
  }

  /** Two writers that read the same version (or saw no object) both try to replace it: exactly one wins. */
  @Test
  void twoWritersOfTheSameVersionHaveExactlyOneWinner() throws Exception {
    var a = store();
    var b = store();
    String key = "tenants/a/timelines/cas/timeline.json";
    for (int round = 0; round < 5; round++) {
      String seenByA = a.getVersioned(key).map(ObjectStore.Versioned::version).orElse(null);
      String seenByB = b.getVersioned(key).map(ObjectStore.Versioned::version).orElse(null);
      assertThat(seenByB).isEqualTo(seenByA);
      boolean aFirst = round % 2 == 0;
      boolean first = (aFirst ? a : b).putIfVersion(key, bytes((aFirst ? "a" : "b") + round), seenByA);
      boolean second = (aFirst ? b : a).putIfVersion(key, bytes((aFirst ? "b" : "a") + round), seenByB);
      assertThat(first).as("round %d: the first writer", round).isTrue();
      assertThat(second).as("round %d: the second writer, on a version that is gone", round).isFalse();
      assertThat(text(b.getBytes(key).orElseThrow())).isEqualTo((aFirst ? "a" : "b") + round);
    }
  }

  /** Writers racing to create one object at the same moment: exactly one creates it, every time. */
  @Test
  void concurrentCreatorsHaveExactlyOneWinner() throws Exception {
    var a = store();
    var b = store();
    try (var pool = Executors.newFixedThreadPool(2)) {
      for (int round = 0; round < 15; round++) {
        String key = "tenants/a/timelines/race-" + round + "/timeline.json";
        boolean viaVersion = round % 2 == 0; // both ways of saying "only if absent"
        var barrier = new CyclicBarrier(2);
        Future<Boolean> wa = pool.submit(() -> {
          barrier.await();
          return viaVersion ? a.putIfVersion(key, bytes("a"), null) : a.putIfAbsent(key, bytes("a"));
        });
        Future<Boolean> wb = pool.submit(() -> {
          barrier.await();
          return viaVersion ? b.putIfVersion(key, bytes("b"), null) : b.putIfAbsent(key, bytes("b"));
        });
        boolean aWon = wa.get();
        boolean bWon = wb.get();
        assertThat(aWon ^ bWon).as("round %d: a won %s, b won %s", round, aWon, bWon).isTrue();
        assertThat(text(a.getBytes(key).orElseThrow())).isEqualTo(aWon ? "a" : "b");
      }
    }
  }

  @Test
  void putFileStoresASmallFile() throws Exception {
    var store = store();
    Path src = scratch.resolve("segment");
    byte[] content = random(1 << 20, 1);
    Files.write(src, content);
    store.putFile("tenants/a/timelines/t/wal/000000010000000000000001", src);
    assertThat(store.size("tenants/a/timelines/t/wal/000000010000000000000001")).contains(1L << 20);
    assertThat(store.getBytes("tenants/a/timelines/t/wal/000000010000000000000001")).hasValueSatisfying(b -> assertThat(b).isEqualTo(content));
  }

  /** A file of several parts (and a short last one) arrives whole, and streams back whole. */
  @Test
  void putFileStoresAFileLargerThanAPart() throws Exception {
    var store = store();
    Path src = scratch.resolve("image");
    long size = 2 * PART_SIZE + 12345;
    try (var out = Files.newOutputStream(src)) {
      var rnd = new Random(7);
      byte[] block = new byte[64 * 1024];
      for (long left = size; left > 0; left -= block.length) {
        rnd.nextBytes(block);
        out.write(block, 0, (int) Math.min(block.length, left));
      }
    }
    store.putFile("tenants/a/chunks/big", src);
    assertThat(store.size("tenants/a/chunks/big")).contains(size);
    try (InputStream in = store.get("tenants/a/chunks/big").orElseThrow()) {
      assertThat(sha256(in)).isEqualTo(sha256(Files.newInputStream(src)));
    }
    assertThat(store.list("tenants/a/")).containsExactly("tenants/a/chunks/big");
  }

  @Test
  void listPagesThroughMoreKeysThanOnePage() throws Exception {
    var store = store();
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 4 * LIST_PAGE_SIZE + 1; i++) {
      keys.add("tenants/t/timelines/x/wal/" + String.format("%024X", i));
    }
    keys.add("tenants/t/timelines/x/images/0000000001000000.json");
    keys.add("tenants/t/tenant.json");
    List<String> shuffled = new ArrayList<>(keys);
    Collections.shuffle(shuffled, new Random(3));
    for (String k : shuffled) {
      store.put(k, bytes(k));
    }
    Collections.sort(keys);
    assertThat(store.list("tenants/")).containsExactlyElementsOf(keys);
    assertThat(store.list("tenants/t/timelines/x/wal/")).hasSize(4 * LIST_PAGE_SIZE + 1).isSorted();
  }

  @Test
  void deeplyNestedKeysAreIndependentObjects() throws Exception {
    var store = store();
    store.put("tenants/a/timelines/b/wal/c/d/e", bytes("deep"));
    store.put("tenants/a/timelines/b/wal/c/f", bytes("shallow"));
    store.delete("tenants/a/timelines/b/wal/c/f");
    assertThat(store.list("tenants/a/timelines/b/")).containsExactly("tenants/a/timelines/b/wal/c/d/e");
    assertThat(text(store.getBytes("tenants/a/timelines/b/wal/c/d/e").orElseThrow())).isEqualTo("deep");
  }

  @Test
  void rejectsKeysThatEscapeTheStore() throws Exception {
    var store = store();
    assertThatThrownBy(() -> store.put("../x", bytes("x"))).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.put("/abs", bytes("x"))).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.put("a//b", bytes("x"))).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.put(".hidden", bytes("x"))).isInstanceOf(IllegalArgumentException.class);
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static String text(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }

  private static byte[] filled(int size, byte value) {
    byte[] b = new byte[size];
    java.util.Arrays.fill(b, value);
    return b;
  }

  private static byte[] random(int size, long seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }

  private static String sha256(InputStream in) throws Exception {
    try (in) {
      var md = MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[64 * 1024];
      for (int n; (n = in.read(buf)) >= 0; ) {
        md.update(buf, 0, n);
      }
      return HexFormat.of().formatHex(md.digest());
    }
  }
}
