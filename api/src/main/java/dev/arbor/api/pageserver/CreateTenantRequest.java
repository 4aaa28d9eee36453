package dev.arbor.api.pageserver;

import dev.arbor.api.TenantId;

/**
 * {@code POST /v1/tenant}. With a {@code tenantId} the create is idempotent: repeating it with the same id and
 * version answers the existing tenant (200 instead of 201); without one the pageserver picks a random id.
 */
public record CreateTenantRequest(TenantId tenantId, int pgVersion) {

  /** A tenant with an id the pageserver picks. */
  public static CreateTenantRequest withRandomId(int pgVersion) {
    return new CreateTenantRequest(null, pgVersion);
  }
}
