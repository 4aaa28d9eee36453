package dev.arbor.storage.timeline;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.time.Instant;

/** {@code tenant.json}: written last when a tenant is created, so its presence means the tenant is complete. */
public record TenantMeta(int formatVersion, TenantId tenantId, int pgVersion, TimelineId rootTimelineId, Instant createdAt) {
  public static final int FORMAT_VERSION = 1;
}
