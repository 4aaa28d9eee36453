package dev.arbor.testing;

import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.BeanPropertyDefinition;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SchemaValidatorsConfig;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A service's OpenAPI 3.1 document held against what the service really does. The checks every service's
 * document gets:
 * <ul>
 *   <li>{@link #routes()}: its operations, to compare with the routes the server registers;</li>
 *   <li>{@link #assertSelfConsistent()}: every path parameter declared, every reference resolvable;</li>
 *   <li>{@link #assertSchemaIsRecord}: a schema has exactly the JSON properties of the record the server writes;</li>
 *   <li>{@link #validate} (or {@link #answer}, which asks the server first): an answer of the running server has a status, content type and body the document
 *       declares for its route. Objects are checked closed: a field the server sends that the schema does not
 *       list fails, although the document itself leaves objects open for clients;</li>
 *   <li>{@link #problemTypes()} and {@link #problemTypesIn}: the problem types the document lists and the ones
 *       the server's sources can answer.</li>
 * </ul>
 */
public final class OpenApiContract {
  private static final Set<String> HTTP_METHODS = Set.of("get", "put", "post", "delete", "options", "head", "patch", "trace");
  private static final Pattern TEMPLATE_PARAM = Pattern.compile("\\{([^}]+)}");
  private static final JsonSchemaFactory SCHEMAS = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);
  private static final SchemaValidatorsConfig STRICT = SchemaValidatorsConfig.builder().formatAssertionsEnabled(true).build();

  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();

  private final String name;
  private final JsonNode doc;
  private final ObjectMapper mapper;
  /** "METHOD template status" of every answer {@link #validate} accepted. */
  private final Set<String> seen = new ConcurrentSkipListSet<>();

  private OpenApiContract(String name, JsonNode doc, ObjectMapper mapper) {
    this.name = name;
    this.doc = doc;
    this.mapper = mapper;
  }

  /**
   * @param name how failures name the document ("the pageserver's document")
   * @param mapper the JSON mapping the server writes its records with
   */
  public static OpenApiContract parse(String name, byte[] json, ObjectMapper mapper) {
    try {
      JsonNode doc = mapper.readTree(json);
      if (!doc.path("openapi").asText().startsWith("3.1.")) {
        throw new AssertionError(name + " is not an OpenAPI 3.1 document: openapi is " + doc.path("openapi"));
      }
      return new OpenApiContract(name, doc, mapper);
    } catch (IOException e) {
      throw new AssertionError(name + " is not JSON", e);
    }
  }

  public JsonNode document() {
    return doc;
  }

  /** Every operation, as {@code METHOD /path/{param}}. */
  public Set<String> routes() {
    Set<String> routes = new TreeSet<>();
    doc.path("paths").properties().forEach(path -> path.getValue().properties().stream()
        .filter(op -> HTTP_METHODS.contains(op.getKey()))
        .forEach(op -> routes.add(op.getKey().toUpperCase(Locale.ROOT) + " " + path.getKey())));
    return routes;
  }

  /** Each path declares its template's parameters (required), each operation has responses, each reference resolves. */
  public void assertSelfConsistent() {
    doc.path("paths").properties().forEach(path -> {
      Set<String> inTemplate = new TreeSet<>();
      Matcher m = TEMPLATE_PARAM.matcher(path.getKey());
      while (m.find()) {
        inTemplate.add(m.group(1));
      }
      Set<String> declared = new TreeSet<>();
      for (JsonNode p : path.getValue().path("parameters")) {
        JsonNode parameter = resolve(p);
        if (parameter.path("in").asText().equals("path")) {
          check(parameter.path("required").asBoolean(), "path parameter " + parameter.path("name") + " of " + path.getKey() + " is required");
          declared.add(parameter.path("name").asText());
        }
      }
      check(declared.equals(inTemplate), "path parameters of " + path.getKey() + ": declared " + declared + ", in the template " + inTemplate);
      path.getValue().properties().stream().filter(op -> HTTP_METHODS.contains(op.getKey())).forEach(op ->
          check(!op.getValue().path("responses").isEmpty(), op.getKey() + " " + path.getKey() + " lists its responses"));
    });
    List<String> refs = new ArrayList<>();
    collectRefs(doc, refs);
    for (String ref : refs) {
      check(ref.startsWith("#/") && !doc.at(ref.substring(1)).isMissingNode(), "reference " + ref + " resolves");
    }
  }

  /**
   * {@code components/schemas/<schema>} lists exactly the JSON properties {@link #mapper} writes for
   * {@code type}: a component added to the record and not to the document fails, and so does the reverse.
   */
  public void assertSchemaIsRecord(String schema, Class<?> type) {
    JsonNode properties = doc.path("components").path("schemas").path(schema).path("properties");
    check(properties.isObject(), "components/schemas/" + schema + " has properties");
    Set<String> documented = new TreeSet<>();
    properties.fieldNames().forEachRemaining(documented::add);
    BeanDescription bean = mapper.getSerializationConfig().introspect(mapper.constructType(type));
    Set<String> written = new TreeSet<>();
    for (BeanPropertyDefinition p : bean.findProperties()) {
      written.add(p.getName());
    }
    check(documented.equals(written), "components/schemas/" + schema + " lists " + documented + " but " + type.getName()
        + " is written with " + written);
  }

  /**
   * Checks one answer of the server against the document: {@code path} (a query is ignored) matches a documented
   * path, the route lists {@code status}, a body comes with a documented content type, and a JSON body validates
   * against that content's schema.
   */
  public void validate(String method, String path, int status, String contentType, byte[] body) {
    String template = template(path.replaceFirst("\\?.*", ""));
    String route = method + " " + template;
    JsonNode operation = doc.path("paths").path(template).path(method.toLowerCase(Locale.ROOT));
    check(!operation.isMissingNode(), route + " is not in " + name);
    JsonNode response = resolve(operation.path("responses").path(Integer.toString(status)));
    check(!response.isMissingNode(), route + " answered " + status + ", which " + name + " does not list for it: "
        + preview(body));
    JsonNode content = response.path("content");
    if (body.length == 0) {
      check(content.isMissingNode(), route + " answered " + status + " without the body " + name + " declares");
    } else {
      String mediaType = contentType.replaceFirst(";.*", "").trim();
      check(content.has(mediaType), route + " answered " + status + " with " + contentType + ", which " + name + " does not declare ("
          + content.properties().stream().map(e -> e.getKey()).toList() + ")");
      JsonNode schema = content.path(mediaType).path("schema");
      if (isJson(mediaType) && !schema.isMissingNode()) {
        JsonNode instance;
        try {
          instance = mapper.readTree(body);
        } catch (IOException e) {
          throw new AssertionError(route + " answered " + status + " with a body that is not JSON: " + preview(body), e);
        }
        Set<ValidationMessage> errors = closedSchema(schema).validate(instance);
        check(errors.isEmpty(), route + " answered " + status + " with a body that does not match " + name + ": " + errors + "\n"
            + preview(body));
      }
    }
    seen.add(route + " " + status);
  }

  /** One answer of a server, as the wire carried it. */
  public record Answer(int status, String contentType, byte[] body) {
    public String text() {
      return new String(body, StandardCharsets.UTF_8);
    }
  }

  /** Fetches the document a server serves at {@code GET baseUrl+path} and parses it ({@link #parse}). */
  public static OpenApiContract fetch(String name, String baseUrl, String path, ObjectMapper mapper) {
    Answer answer = send("GET", baseUrl, path, null);
    check(answer.status() == 200 && answer.contentType().equals("application/json"), "GET " + path + " answered " + answer.status()
        + " " + answer.contentType() + ": " + preview(answer.body()));
    return parse(name, answer.body(), mapper);
  }

  /**
   * Sends {@code METHOD baseUrl+path} (with {@code jsonBody} when not null), checks that the server answered
   * {@code expectedStatus}, and {@link #validate}s the answer.
   */
  public Answer answer(int expectedStatus, String method, String baseUrl, String path, String jsonBody) {
    Answer answer = send(method, baseUrl, path, jsonBody);
    check(answer.status() == expectedStatus, method + " " + path + " answered " + answer.status() + ", not " + expectedStatus + ": "
        + preview(answer.body()));
    validate(method, path, answer.status(), answer.contentType(), answer.body());
    return answer;
  }

  /**
   * Sends a request that no route serves (an unknown path, a method a path does not have), checks that the server
   * answered {@code expectedStatus}, and validates the body against the document's Problem schema.
   */
  public Answer answerWithoutRoute(int expectedStatus, String method, String baseUrl, String path) {
    Answer answer = send(method, baseUrl, path, null);
    check(answer.status() == expectedStatus && answer.contentType().equals("application/problem+json"), method + " " + path
        + " answered " + answer.status() + " " + answer.contentType() + ", not a " + expectedStatus + " problem: " + preview(answer.body()));
    ObjectNode problem = JsonNodeFactory.instance.objectNode().put("$ref", "#/components/schemas/Problem");
    try {
      Set<ValidationMessage> errors = closedSchema(problem).validate(mapper.readTree(answer.body()));
      check(errors.isEmpty(), method + " " + path + " answered a problem that does not match " + name + ": " + errors + "\n"
          + preview(answer.body()));
    } catch (IOException e) {
      throw new AssertionError(method + " " + path + " answered a body that is not JSON: " + preview(answer.body()), e);
    }
    return answer;
  }

  private static Answer send(String method, String baseUrl, String path, String jsonBody) {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(baseUrl + path)).timeout(Duration.ofMinutes(1));
    if (jsonBody != null) {
      request.header("Content-Type", "application/json");
    }
    request.method(method, jsonBody == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(jsonBody));
    try {
      HttpResponse<byte[]> response = HTTP.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
      return new Answer(response.statusCode(), response.headers().firstValue("Content-Type").orElse(""), response.body());
    } catch (IOException e) {
      throw new UncheckedIOException(method + " " + baseUrl + path + " failed", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** The documented {@code METHOD template status} answers that no call to {@link #validate} produced. */
  public Set<String> unexercised() {
    Set<String> documented = new TreeSet<>();
    doc.path("paths").properties().forEach(path -> path.getValue().properties().stream()
        .filter(op -> HTTP_METHODS.contains(op.getKey()))
        .forEach(op -> op.getValue().path("responses").fieldNames().forEachRemaining(status ->
            documented.add(op.getKey().toUpperCase(Locale.ROOT) + " " + path.getKey() + " " + status))));
    documented.removeAll(seen);
    return documented;
  }

  /** The problem types the document lists: the {@code enum} of the Problem schema's {@code type}. */
  public Set<String> problemTypes() {
    JsonNode values = doc.at("/components/schemas/Problem/properties/type/enum");
    check(values.isArray() && !values.isEmpty(), name + " lists its problem types as the enum of components/schemas/Problem type");
    Set<String> types = new TreeSet<>();
    values.forEach(v -> types.add(v.asText()));
    return types;
  }

  /**
   * The problem types that the Java sources under {@code sources} (directories or files, relative to the
   * repository root) can answer: each {@code ProblemTypes.NAME} they mention, looked up in {@code constants}, and
   * {@code invalidField} where they call {@code ApiProblem.invalid}. A type written as a string literal in an
   * {@code ApiProblem} call fails: the servers name their types through {@code constants} only.
   */
  public static Set<String> problemTypesIn(Class<?> constants, String invalidField, String... sources) {
    Pattern constant = Pattern.compile("\\b" + constants.getSimpleName() + "\\.([A-Z][A-Z0-9_]*)\\b");
    Pattern literal = Pattern.compile("ApiProblem\\.(notFound|conflict|unavailable)\\(\\s*\"|new ApiProblem\\(\\s*\\d+\\s*,\\s*\"");
    Set<String> types = new TreeSet<>();
    for (String source : sources) {
      for (Path file : javaFiles(RepoFiles.root().resolve(source))) {
        String text;
        try {
          text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
        Matcher l = literal.matcher(text);
        if (l.find()) {
          throw new AssertionError(file + " names a problem type as a literal (" + l.group() + "…); add it to " + constants.getName()
              + " and use the constant");
        }
        Matcher m = constant.matcher(text);
        while (m.find()) {
          try {
            types.add((String) constants.getField(m.group(1)).get(null));
          } catch (ReflectiveOperationException | ClassCastException e) {
            throw new AssertionError(file + " mentions " + m.group() + ", which is not a problem type of " + constants.getName(), e);
          }
        }
        if (text.contains("ApiProblem.invalid(")) {
          types.add(invalidField);
        }
      }
    }
    return types;
  }

  private static List<Path> javaFiles(Path source) {
    check(Files.exists(source), source + " exists");
    if (Files.isRegularFile(source)) {
      return List.of(source);
    }
    try (Stream<Path> files = Files.walk(source)) {
      return files.filter(f -> f.toString().endsWith(".java")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The documented path template that {@code path} matches; literal segments win over parameters. */
  private String template(String path) {
    String[] parts = path.split("/", -1);
    String best = null;
    int bestLiterals = -1;
    for (var it = doc.path("paths").fieldNames(); it.hasNext(); ) {
      String candidate = it.next();
      String[] segments = candidate.split("/", -1);
      if (segments.length != parts.length) {
        continue;
      }
      int literals = 0;
      boolean matches = true;
      for (int i = 0; i < segments.length && matches; i++) {
        if (segments[i].startsWith("{") && segments[i].endsWith("}")) {
          matches = !parts[i].isEmpty();
        } else {
          matches = segments[i].equals(parts[i]);
          literals++;
        }
      }
      if (matches && literals > bestLiterals) {
        best = candidate;
        bestLiterals = literals;
      }
    }
    check(best != null, path + " matches no path of " + name);
    return best;
  }

  /**
   * A validator for {@code schema} with the document's components beside it (so its references resolve), and
   * every object schema that lists properties closed to others.
   */
  private JsonSchema closedSchema(JsonNode schema) {
    ObjectNode root = schema.deepCopy();
    root.set("components", doc.path("components").deepCopy());
    close(root);
    return SCHEMAS.getSchema(root, STRICT);
  }

  private static void close(JsonNode node) {
    if (node instanceof ObjectNode object) {
      if (object.path("type").asText().equals("object") && object.path("properties").isObject() && !object.has("additionalProperties")) {
        object.put("additionalProperties", false);
      }
      object.forEach(OpenApiContract::close);
    } else if (node.isArray()) {
      node.forEach(OpenApiContract::close);
    }
  }

  private static boolean isJson(String mediaType) {
    return mediaType.equals("application/json") || mediaType.endsWith("+json");
  }

  private JsonNode resolve(JsonNode node) {
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

  private static String preview(byte[] body) {
    String text = new String(body, StandardCharsets.UTF_8);
    return text.length() > 2000 ? text.substring(0, 2000) + "…" : text;
  }

  private static void check(boolean condition, String message) {
    if (!condition) {
      throw new AssertionError(message);
    }
  }
}
