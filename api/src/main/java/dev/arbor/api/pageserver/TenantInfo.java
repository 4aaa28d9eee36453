package dev.arbor.api.pageserver;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.time.Instant;

/** A tenant (an Arbor Project) as the pageserver API shows it: {@code GET /v1/tenant/{tenant_id}}. */
public record TenantInfo(TenantId tenantId, int pgVersion, TimelineId rootTimelineId, Instant createdAt) {}
