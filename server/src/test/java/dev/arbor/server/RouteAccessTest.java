package dev.arbor.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.auth.Scope;
import org.junit.jupiter.api.Test;

/**
 * A server that takes tokens cannot get a route that says nothing about who may call it: a future route is never
 * open by accident. (What the rules admit is checked on real servers: storage-engine's StorageTokensTest.)
 */
class RouteAccessTest {

  @Test
  void aServerThatTakesTokensRefusesARouteWithoutAnAccessRule() {
    var api = new HttpApi("guarded", HttpApi.Authenticator.INSECURE);
    assertThatThrownBy(() -> api.route("GET", "/v1/new", r -> Response.noContent()))
        .isInstanceOf(IllegalStateException.class).hasMessageContaining("GET /v1/new declares no Access");
    assertThatThrownBy(() -> api.route("GET", "/v1/new", null, r -> Response.noContent())).isInstanceOf(NullPointerException.class);
    api.route("GET", "/v1/new", Access.scopes(Scope.PAGESERVER), r -> Response.noContent());
    assertThat(api.routes()).contains("GET /v1/new", "GET /metrics");
  }

  @Test
  void aComputeRuleNeedsTheIdsItComparesWith() {
    var api = new HttpApi("guarded", HttpApi.Authenticator.INSECURE);
    assertThatThrownBy(() -> api.route("GET", "/v1/tenant/{tenant_id}", Access.ownTimeline(), r -> Response.noContent()))
        .hasMessageContaining("names no {tenant_id} and {timeline_id}");
    assertThatThrownBy(() -> Access.scopes(Scope.COMPUTE)).hasMessageContaining("Access.ownTimeline");
  }

  @Test
  void aServerThatTakesNoTokensTakesNoRules() {
    var api = new HttpApi("open");
    assertThatThrownBy(() -> api.route("GET", "/x", Access.OPEN, r -> Response.noContent())).hasMessageContaining("takes no tokens");
    api.route("GET", "/x", r -> Response.noContent());
  }
}
