package dev.arbor.storage.objectstore;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class LocalObjectStoreTest extends ObjectStoreContractTest {

  @Override
  ObjectStore store() throws Exception {
    return new LocalObjectStore(root());
  }

  private Path root() {
    return scratch.resolve("store");
  }

  @Test
  void putIfAbsentLeavesNoTemporaryFiles() throws Exception {
    var store = store();
    assertThat(store.putIfAbsent("tenants/a/chunks/abc", bytes("x"))).isTrue();
    assertThat(store.putIfAbsent("tenants/a/chunks/abc", bytes("y"))).isFalse();
    try (var files = Files.walk(root())) {
      assertThat(files.filter(Files::isRegularFile).map(p -> root().relativize(p).toString()))
          .as("the object and the store's conditional-write lock, no temporary file")
          .containsExactlyInAnyOrder("tenants/a/chunks/abc", ".conditional-writes.lock");
    }
  }

  /**
   * Writers that read the same version race to replace it: exactly one wins, every time. Not in the contract:
   * S3Proxy checks If-Match before it writes, not atomically with the write (docs/storage-engine.md).
   */
  @Test
  void concurrentCompareAndSwapHasExactlyOneWinner() throws Exception {
    var a = store();
    var b = store();
    String key = "tenants/a/timelines/race/timeline.json";
    a.put(key, bytes("start"));
    try (var pool = java.util.concurrent.Executors.newFixedThreadPool(2)) {
      for (int round = 0; round < 15; round++) {
        String expected = a.getVersioned(key).orElseThrow().version();
        var barrier = new java.util.concurrent.CyclicBarrier(2);
        int r = round;
        var wa = pool.submit(() -> {
          barrier.await();
          return a.putIfVersion(key, bytes("a" + r), expected);
        });
        var wb = pool.submit(() -> {
          barrier.await();
          return b.putIfVersion(key, bytes("b" + r), expected);
        });
        boolean aWon = wa.get();
        boolean bWon = wb.get();
        assertThat(aWon ^ bWon).as("round %d: a won %s, b won %s", round, aWon, bWon).isTrue();
        assertThat(text(a.getBytes(key).orElseThrow())).isEqualTo((aWon ? "a" : "b") + round);
      }
    }
  }

  /** A listing taken while objects are written and deleted beside it lists what exists, and never fails. */
  @Test
  void listsWhileObjectsComeAndGo() throws Exception {
    var store = store();
    store.put("tenants/a/tenant.json", bytes("{}"));
    var stop = new java.util.concurrent.atomic.AtomicBoolean();
    Thread writer = Thread.ofPlatform().start(() -> {
      try {
        for (int i = 0; i < 2000 && !stop.get(); i++) {
          store.put("tenants/a/images/" + (i % 20) + "/chunk", bytes("x" + i));
          if (i % 3 == 0) {
            store.delete("tenants/a/images/" + ((i + 7) % 20) + "/chunk");
          }
        }
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
    try {
      for (int i = 0; i < 300 && writer.isAlive(); i++) {
        assertThat(store.list("tenants/")).contains("tenants/a/tenant.json").allMatch(k -> !k.endsWith(".arbor-tmp"));
      }
    } finally {
      stop.set(true);
      writer.join();
    }
  }
}
