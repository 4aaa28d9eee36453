package dev.arbor.api.auth;

import java.util.Arrays;
import java.util.Optional;

/**
 * What a storage-engine token may do, its {@code scope} claim. The routes each scope reaches are the table in
 * docs/security.md; the servers declare them route by route.
 */
public enum Scope {
  /** One compute: one tenant and one timeline ({@code tenant_id}, {@code timeline_id}), the calls a compute makes for it. */
  COMPUTE("compute"),
  /** The storage engine's own calls: the pageserver to the safekeepers, safekeepers to their peers, the pageserver's working copies. */
  PAGESERVER("pageserver"),
  /** The operator and the CLI: everything, tenant and timeline management included. */
  STORAGE_ADMIN("storage_admin");

  private final String claim;

  Scope(String claim) {
    this.claim = claim;
  }

  /** The value of the {@code scope} claim. */
  public String claim() {
    return claim;
  }

  public static Optional<Scope> ofClaim(String value) {
    return Arrays.stream(values()).filter(s -> s.claim.equals(value)).findFirst();
  }
}
