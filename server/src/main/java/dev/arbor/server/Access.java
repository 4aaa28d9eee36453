package dev.arbor.server;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What a route of a server that takes tokens needs ({@link HttpApi#route(String, String, Access, HttpApi.Handler)}):
 * nothing ({@link #OPEN}: metrics and health only), a token of one of some scopes ({@link #scopes}), or a compute
 * token of the timeline the path names ({@link #ownTimeline}). A {@link Scope#STORAGE_ADMIN} token passes every rule.
 */
public final class Access {
  /** No token needed. */
  public static final Access OPEN = new Access(EnumSet.noneOf(Scope.class), false, true);

  private final Set<Scope> scopes;
  /** Whether a compute token passes when its tenant and timeline are the path's {tenant_id} and {timeline_id}. */
  private final boolean ownTimeline;
  private final boolean open;

  private Access(Set<Scope> scopes, boolean ownTimeline, boolean open) {
    this.scopes = scopes;
    this.ownTimeline = ownTimeline;
    this.open = open;
  }

  /** A token of any of {@code scopes} (of any tenant or timeline), or an admin token. */
  public static Access scopes(Scope... scopes) {
    if (Arrays.asList(scopes).contains(Scope.COMPUTE)) {
      throw new IllegalArgumentException("a compute token reaches its own timeline only: use Access.ownTimeline");
    }
    return new Access(withAdmin(scopes), false, false);
  }

  /**
   * A compute token of exactly the tenant and timeline in the route's path ({@code {tenant_id}}, {@code
   * {timeline_id}}), a token of any of {@code alsoScopes}, or an admin token.
   */
  public static Access ownTimeline(Scope... alsoScopes) {
    return new Access(withAdmin(alsoScopes), true, false);
  }

  /** Any valid token, whatever its scope, tenant and timeline (e.g. the API's own document). */
  public static Access anyToken() {
    return new Access(EnumSet.allOf(Scope.class), false, false);
  }

  private static Set<Scope> withAdmin(Scope... scopes) {
    Set<Scope> set = EnumSet.of(Scope.STORAGE_ADMIN);
    set.addAll(Arrays.asList(scopes));
    return set;
  }

  public boolean isOpen() {
    return open;
  }

  /** Checked once when a route is registered: a compute rule needs the ids in its path to compare with. */
  void checkPattern(String pattern) {
    if (ownTimeline && !(pattern.contains("{tenant_id}") && pattern.contains("{timeline_id}"))) {
      throw new IllegalStateException(pattern + " names no {tenant_id} and {timeline_id}: a compute token cannot be matched to it");
    }
  }

  boolean admits(StorageGrant grant, Map<String, String> pathParams) {
    return open || scopes.contains(grant.scope())
        || ownTimeline && grant.isComputeOf(pathParams.get("tenant_id"), pathParams.get("timeline_id"));
  }

  /** The 403 for a valid token this rule does not admit on {@code route} ("GET /v1/tenant"): whose token, and what passes. */
  ApiProblem forbidden(StorageGrant grant, String route) {
    String named = scopes.stream().map(Scope::claim).collect(Collectors.joining(" or "));
    return new ApiProblem(403, ProblemTypes.FORBIDDEN, "Forbidden", "the token of " + grant.subject() + " (scope " + grant.scope().claim()
        + (grant.tenant() == null ? "" : ", tenant " + grant.tenant() + ", timeline " + grant.timeline()) + ") does not reach " + route
        + ", which needs a " + named + " token" + (ownTimeline ? ", or a compute token of this tenant and timeline" : ""), null);
  }
}
