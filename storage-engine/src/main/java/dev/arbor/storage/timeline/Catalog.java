package dev.arbor.storage.timeline;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.client.Json;
import dev.arbor.storage.objectstore.ObjectKeys;
import dev.arbor.storage.objectstore.ObjectStore;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Tenants and timelines as stored in object storage, the system of record: nothing about them lives only
 * in memory, so a restarted pageserver finds every tenant and timeline again. Changes to one tenant are
 * serialized with {@link #lock(TenantId)} inside one pageserver; between pageservers on one object store,
 * documents are created only if absent ({@link #createTenant}, {@link #createTimeline}) and changed by
 * compare-and-swap ({@link #updateTimeline}), so no writer overwrites what another wrote.
 */
public final class Catalog {
  private final ObjectStore store;
  private final ConcurrentHashMap<TenantId, ReentrantLock> locks = new ConcurrentHashMap<>();

  public Catalog(ObjectStore store) {
    this.store = store;
  }

  public ObjectStore store() {
    return store;
  }

  /** Holds the tenant's lock until closed: {@code try (var l = catalog.lock(t)) { ... }}. */
  public AutoCloseable lock(TenantId tenant) {
    ReentrantLock lock = locks.computeIfAbsent(tenant, t -> new ReentrantLock());
    lock.lock();
    return lock::unlock;
  }

  public Optional<TenantMeta> tenant(TenantId tenant) throws IOException {
    return store.getBytes(ObjectKeys.tenant(tenant)).map(b -> Json.read(b, TenantMeta.class));
  }

  public List<TenantMeta> tenants() throws IOException {
    List<TenantMeta> out = new ArrayList<>();
    for (String key : store.list(ObjectKeys.tenantsPrefix())) {
      if (key.endsWith("/tenant.json") && key.split("/").length == 3) {
        store.getBytes(key).map(b -> Json.read(b, TenantMeta.class)).ifPresent(out::add);
      }
    }
    return out;
  }

  /** Writes {@code tenant.json} unless the tenant exists (another pageserver may have created it meanwhile). */
  public boolean createTenant(TenantMeta meta) throws IOException {
    return store.putIfVersion(ObjectKeys.tenant(meta.tenantId()), Json.write(meta), null);
  }

  public Optional<TimelineMeta> timeline(TenantId tenant, TimelineId timeline) throws IOException {
    return store.getBytes(ObjectKeys.timeline(tenant, timeline)).map(b -> Json.read(b, TimelineMeta.class));
  }

  public List<TimelineMeta> timelines(TenantId tenant) throws IOException {
    List<TimelineMeta> out = new ArrayList<>();
    String prefix = ObjectKeys.timelinesPrefix(tenant);
    for (String key : store.list(prefix)) {
      if (key.endsWith("/timeline.json") && key.substring(prefix.length()).indexOf('/') == 32) {
        store.getBytes(key).map(b -> Json.read(b, TimelineMeta.class)).ifPresent(out::add);
      }
    }
    return out;
  }

  /** Writes {@code timeline.json} unless the timeline exists (another pageserver may have created it meanwhile). */
  public boolean createTimeline(TimelineMeta meta) throws IOException {
    return store.putIfVersion(ObjectKeys.timeline(meta.tenantId(), meta.timelineId()), Json.write(meta), null);
  }

  /** A change of a timeline's document; it may refuse by throwing. */
  @FunctionalInterface
  public interface TimelineChange {
    TimelineMeta apply(TimelineMeta current) throws IOException;
  }

  /**
   * Read-modify-write of {@code timeline.json} that no other writer can interleave, in this process or any
   * other pageserver on the same object store: the write is conditional on the version read, and a lost
   * race reads again and reapplies {@code change}. Returns what was written, or empty when the timeline does
   * not exist.
   */
  public Optional<TimelineMeta> updateTimeline(TenantId tenant, TimelineId timeline, TimelineChange change) throws IOException {
    String key = ObjectKeys.timeline(tenant, timeline);
    for (int attempt = 1; ; attempt++) {
      Optional<ObjectStore.Versioned> current = store.getVersioned(key);
      if (current.isEmpty()) {
        return Optional.empty();
      }
      TimelineMeta next = change.apply(Json.read(current.get().bytes(), TimelineMeta.class));
      if (store.putIfVersion(key, Json.write(next), current.get().version())) {
        return Optional.of(next);
      }
      if (attempt == 100) {
        throw new IOException("timeline " + timeline + " of tenant " + tenant + " kept changing under 100 attempts to update it");
      }
    }
  }

  /** Timelines whose ancestor is {@code timeline}. */
  public List<TimelineMeta> children(TenantId tenant, TimelineId timeline) throws IOException {
    return timelines(tenant).stream().filter(t -> timeline.equals(t.ancestorTimelineId())).toList();
  }

  /** Removes every object under the prefix (a timeline's or a tenant's). */
  public void deleteAll(String prefix) throws IOException {
    for (String key : store.list(prefix)) {
      store.delete(key);
    }
  }
}
