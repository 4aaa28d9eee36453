package dev.arbor.storage.objectstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalObjectStoreTest {

  @TempDir
  Path dir;

  @Test
  void putGetListDelete() throws Exception {
    var store = new LocalObjectStore(dir);
    store.put("tenants/a/tenant.json", bytes("{}"));
    store.put("tenants/a/timelines/t1/timeline.json", bytes("one"));
    store.put("tenants/ab/tenant.json", bytes("other"));

    assertThat(new String(store.getBytes("tenants/a/timelines/t1/timeline.json").orElseThrow(), StandardCharsets.UTF_8)).isEqualTo("one");
    assertThat(store.list("tenants/a/")).containsExactly("tenants/a/tenant.json", "tenants/a/timelines/t1/timeline.json");
    assertThat(store.list("tenants/a")).hasSize(3);
    assertThat(store.size("tenants/a/tenant.json")).contains(2L);

    store.put("tenants/a/tenant.json", bytes("replaced"));
    assertThat(store.getBytes("tenants/a/tenant.json")).hasValueSatisfying(b -> assertThat(b).isEqualTo(bytes("replaced")));

    store.delete("tenants/a/tenant.json");
    store.delete("tenants/a/tenant.json");
    assertThat(store.get("tenants/a/tenant.json")).isEmpty();
    assertThat(store.exists("tenants/a/tenant.json")).isFalse();
  }

  @Test
  void putIfAbsentWritesOnceAndLeavesNoTemporaryFiles() throws Exception {
    var store = new LocalObjectStore(dir);
    assertThat(store.putIfAbsent("tenants/a/chunks/abc", bytes("x"))).isTrue();
    assertThat(store.putIfAbsent("tenants/a/chunks/abc", bytes("y"))).isFalse();
    assertThat(store.getBytes("tenants/a/chunks/abc")).hasValueSatisfying(b -> assertThat(b).isEqualTo(bytes("x")));
    try (var files = Files.walk(dir)) {
      assertThat(files.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString()))
          .as("the object and the store's conditional-write lock, no temporary file")
          .containsExactlyInAnyOrder("tenants/a/chunks/abc", ".conditional-writes.lock");
    }
    assertThat(store.list("")).containsExactly("tenants/a/chunks/abc");
  }

  @Test
  void putIfVersionWritesOnlyOverTheVersionItWasGiven() throws Exception {
    var store = new LocalObjectStore(dir);
    String key = "tenants/a/timelines/t/timeline.json";
    assertThat(store.putIfVersion(key, bytes("v1"), null)).as("absent, expected absent").isTrue();
    assertThat(store.putIfVersion(key, bytes("v1'"), null)).as("present, expected absent").isFalse();
    ObjectStore.Versioned v1 = store.getVersioned(key).orElseThrow();
    var other = new LocalObjectStore(dir); // another writer on the same store
    assertThat(other.putIfVersion(key, bytes("v2"), other.getVersioned(key).orElseThrow().version())).isTrue();
    assertThat(store.putIfVersion(key, bytes("v2'"), v1.version())).as("stale version").isFalse();
    assertThat(store.getBytes(key)).hasValueSatisfying(b -> assertThat(b).isEqualTo(bytes("v2")));
  }

  @Test
  void putFileStreamsAFile() throws Exception {
    var store = new LocalObjectStore(dir.resolve("store"));
    Path src = dir.resolve("segment");
    Files.write(src, new byte[1 << 20]);
    store.putFile("tenants/a/timelines/t/wal/000000010000000000000001", src);
    assertThat(store.size("tenants/a/timelines/t/wal/000000010000000000000001")).contains(1L << 20);
  }

  @Test
  void rejectsKeysThatEscapeTheRoot() throws Exception {
    var store = new LocalObjectStore(dir);
    assertThatThrownBy(() -> store.put("../x", bytes("x"))).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.put("/abs", bytes("x"))).isInstanceOf(IllegalArgumentException.class);
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** A listing taken while objects are written and deleted beside it lists what exists, and never fails. */
  @Test
  void listsWhileObjectsComeAndGo() throws Exception {
    var store = new LocalObjectStore(dir);
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
