package dev.arbor.storage.pageserver;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.ApiProblem;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code /v1/openapi.json} describes the API the pageserver really serves: it is OpenAPI 3.x JSON, its
 * paths and methods are exactly the routes below, each of which the running pageserver answers, and the
 * document is self-consistent (every path parameter declared, every reference resolvable).
 */
class OpenApiTest {

  /** Every route the pageserver registers (Pageserver#routes), as METHOD and path template. */
  static final List<String> ROUTES = List.of(
      "GET /v1/status",
      "GET /v1/openapi.json",
      "POST /v1/tenant",
      "GET /v1/tenant",
      "GET /v1/tenant/{tenant_id}",
      "DELETE /v1/tenant/{tenant_id}",
      "POST /v1/tenant/{tenant_id}/timeline",
      "GET /v1/tenant/{tenant_id}/timeline",
      "GET /v1/tenant/{tenant_id}/timeline/{timeline_id}",
      "DELETE /v1/tenant/{tenant_id}/timeline/{timeline_id}",
      "POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/generation",
      "POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/image",
      "POST /v1/tenant/{tenant_id}/timeline/{timeline_id}/generation/{generation}/started",
      "GET /v1/tenant/{tenant_id}/timeline/{timeline_id}/basebackup",
      "GET /v1/tenant/{tenant_id}/timeline/{timeline_id}/wal/{file}");

  private static final Set<String> HTTP_METHODS = Set.of("get", "put", "post", "delete", "options", "head", "patch", "trace");
  private static final Pattern TEMPLATE_PARAM = Pattern.compile("\\{([^}]+)}");

  @RegisterExtension
  static final PageserverFixture pageserver = new PageserverFixture();

  @Test
  void theDocumentIsOpenApi3Json() {
    RawApi.Reply reply = pageserver.api().get("/v1/openapi.json");
    assertThat(reply.status()).isEqualTo(200);
    assertThat(reply.contentType()).isEqualTo("application/json");
    JsonNode doc = reply.json();

    assertThat(doc.path("openapi").asText()).matches("3\\.\\d+\\.\\d+");
    assertThat(doc.path("info").path("title").asText()).isNotBlank();
    assertThat(doc.path("info").path("version").asText()).isNotBlank();
    assertThat(doc.path("paths").isObject()).isTrue();
  }

  @Test
  void itListsExactlyTheRoutesThePageserverServes() {
    JsonNode doc = pageserver.api().get("/v1/openapi.json").json();
    Set<String> documented = new TreeSet<>();
    doc.path("paths").properties().forEach(path -> path.getValue().properties().stream()
        .filter(op -> HTTP_METHODS.contains(op.getKey()))
        .forEach(op -> documented.add(op.getKey().toUpperCase(Locale.ROOT) + " " + path.getKey())));

    assertThat(documented).containsExactlyInAnyOrderElementsOf(ROUTES);
  }

  /**
   * The list above is what the pageserver registers: each route answers its method with something other
   * than "no such route" or "method not allowed" (unknown ids get a 404 naming the tenant, which is fine).
   */
  @Test
  void everyListedRouteIsServed() {
    String tenant = TenantId.random().toString();
    String timeline = TimelineId.random().toString();
    for (String route : ROUTES) {
      RawApi.Reply reply = pageserver.api().probe(route, tenant, timeline);
      assertThat(reply.status()).as(reply.describe()).isNotEqualTo(405).isLessThan(500);
      if (reply.status() == 404) {
        assertThat(reply.json().path("type").asText()).as(reply.describe()).isNotEqualTo(ApiProblem.TYPE_BASE + "no-such-route");
      }
    }
  }

  @Test
  void everyPathParameterIsDeclaredAndEveryReferenceResolves() {
    JsonNode doc = pageserver.api().get("/v1/openapi.json").json();
    doc.path("paths").properties().forEach(path -> {
      Set<String> inTemplate = new TreeSet<>();
      Matcher m = TEMPLATE_PARAM.matcher(path.getKey());
      while (m.find()) {
        inTemplate.add(m.group(1));
      }
      Set<String> declared = new TreeSet<>();
      for (JsonNode p : path.getValue().path("parameters")) {
        JsonNode parameter = resolve(doc, p);
        if (parameter.path("in").asText().equals("path")) {
          assertThat(parameter.path("required").asBoolean()).as("path parameter %s of %s is required", parameter.path("name"), path.getKey()).isTrue();
          declared.add(parameter.path("name").asText());
        }
      }
      assertThat(declared).as("path parameters of %s", path.getKey()).isEqualTo(inTemplate);
      path.getValue().properties().stream().filter(op -> HTTP_METHODS.contains(op.getKey())).forEach(op ->
          assertThat(op.getValue().path("responses").isEmpty()).as("%s %s has responses", op.getKey(), path.getKey()).isFalse());
    });

    List<String> refs = new ArrayList<>();
    collectRefs(doc, refs);
    assertThat(refs).isNotEmpty();
    for (String ref : refs) {
      assertThat(ref).startsWith("#/");
      assertThat(doc.at(ref.substring(1)).isMissingNode()).as("reference %s resolves", ref).isFalse();
    }
    assertThat(doc.at("/components/schemas/Problem/properties").properties().stream().map(e -> e.getKey()).toList())
        .as("the problem schema has RFC 9457's members and Arbor's field")
        .contains("type", "title", "status", "detail", "instance", "field");
  }

  private static JsonNode resolve(JsonNode doc, JsonNode node) {
    return node.has("$ref") ? doc.at(node.get("$ref").asText().substring(1)) : node;
  }

  private static void collectRefs(JsonNode node, List<String> out) {
    if (node.isObject()) {
      node.properties().forEach(e -> {
        if (e.getKey().equals("$ref")) {
          out.add(e.getValue().asText());
        } else {
          collectRefs(e.getValue(), out);
        }
      });
    } else if (node.isArray()) {
      node.forEach(n -> collectRefs(n, out));
    }
  }
}
