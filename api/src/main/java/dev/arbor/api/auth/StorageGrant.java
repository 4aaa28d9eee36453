package dev.arbor.api.auth;

import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;

/**
 * What a storage-engine token grants, as its claims say: who ({@code sub}), the {@link Scope}, and for a
 * {@link Scope#COMPUTE} token the one tenant and timeline it reaches (both required; other scopes carry none).
 */
public record StorageGrant(String subject, Scope scope, TenantId tenant, TimelineId timeline) {
  /** The {@code aud} of every storage-engine token. */
  public static final String AUDIENCE = "arbor-storage";
  public static final String SCOPE_CLAIM = "scope";
  public static final String TENANT_CLAIM = "tenant_id";
  public static final String TIMELINE_CLAIM = "timeline_id";

  public StorageGrant {
    if (subject == null || subject.isBlank()) {
      throw new IllegalArgumentException("a token names who holds it (sub)");
    }
    if (scope == null) {
      throw new IllegalArgumentException("a token has a scope");
    }
    if (scope == Scope.COMPUTE ? tenant == null || timeline == null : tenant != null || timeline != null) {
      throw new IllegalArgumentException(scope == Scope.COMPUTE ? "a compute token names its tenant_id and timeline_id"
          : "a " + scope.claim() + " token names no tenant or timeline");
    }
  }

  public static StorageGrant compute(String subject, TenantId tenant, TimelineId timeline) {
    return new StorageGrant(subject, Scope.COMPUTE, tenant, timeline);
  }

  public static StorageGrant of(String subject, Scope scope) {
    return new StorageGrant(subject, scope, null, null);
  }

  /** Whether this is a compute token of exactly this tenant and timeline. */
  public boolean isComputeOf(String tenantId, String timelineId) {
    return scope == Scope.COMPUTE && tenant.value().equals(tenantId) && timeline.value().equals(timelineId);
  }
}
