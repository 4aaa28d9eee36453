package dev.arbor.storage.objectstore;

import dev.arbor.api.Lsn;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;

/**
 * The object storage layout (ARCHITECTURE.md), in one place:
 * <pre>
 * tenants/&lt;tenant&gt;/tenant.json
 * tenants/&lt;tenant&gt;/timelines/&lt;timeline&gt;/timeline.json
 * tenants/&lt;tenant&gt;/timelines/&lt;timeline&gt;/wal/&lt;segment or TLI.history&gt;
 * tenants/&lt;tenant&gt;/timelines/&lt;timeline&gt;/images/&lt;lsn&gt;.json
 * tenants/&lt;tenant&gt;/chunks/&lt;sha256&gt;
 * </pre>
 * Image LSNs are written as 16 hex digits so that keys sort in LSN order.
 */
public final class ObjectKeys {
  private ObjectKeys() {}

  /**
   * Refuses a key that is not a plain relative path ('..', a leading or doubled '/', a leading '.'): every
   * store maps keys onto a namespace of its own (a directory, a bucket prefix) that a key must not leave,
   * and names starting with '.' are the stores' own (locks, probes), never listed.
   */
  public static String requireValid(String key) {
    if (key.isEmpty() || key.startsWith("/") || key.startsWith(".") || key.contains("..") || key.contains("//")) {
      throw new IllegalArgumentException("invalid object key '" + key + "'");
    }
    return key;
  }

  public static String tenantsPrefix() {
    return "tenants/";
  }

  public static String tenantPrefix(TenantId tenant) {
    return "tenants/" + tenant + "/";
  }

  public static String tenant(TenantId tenant) {
    return tenantPrefix(tenant) + "tenant.json";
  }

  public static String timelinesPrefix(TenantId tenant) {
    return tenantPrefix(tenant) + "timelines/";
  }

  public static String timelinePrefix(TenantId tenant, TimelineId timeline) {
    return timelinesPrefix(tenant) + timeline + "/";
  }

  public static String timeline(TenantId tenant, TimelineId timeline) {
    return timelinePrefix(tenant, timeline) + "timeline.json";
  }

  public static String walPrefix(TenantId tenant, TimelineId timeline) {
    return timelinePrefix(tenant, timeline) + "wal/";
  }

  /** A WAL file of the timeline: a segment name or {@code TTTTTTTT.history}. */
  public static String wal(TenantId tenant, TimelineId timeline, String walFileName) {
    return walPrefix(tenant, timeline) + walFileName;
  }

  public static String imagesPrefix(TenantId tenant, TimelineId timeline) {
    return timelinePrefix(tenant, timeline) + "images/";
  }

  public static String image(TenantId tenant, TimelineId timeline, Lsn lsn) {
    return imagesPrefix(tenant, timeline) + String.format("%016X", lsn.value()) + ".json";
  }

  /** The LSN of an image key made by {@link #image}. */
  public static Lsn imageLsn(String key) {
    String name = key.substring(key.lastIndexOf('/') + 1, key.length() - ".json".length());
    return new Lsn(Long.parseUnsignedLong(name, 16));
  }

  public static String chunksPrefix(TenantId tenant) {
    return tenantPrefix(tenant) + "chunks/";
  }

  public static String chunk(TenantId tenant, String sha256Hex) {
    return chunksPrefix(tenant) + sha256Hex;
  }
}
