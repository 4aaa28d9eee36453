package dev.arbor.server;

import dev.arbor.api.ApiProblem;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.sun.net.httpserver.HttpExchange;
import dev.arbor.client.Json;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** One HTTP request as handlers see it: path parameters, query parameters and a JSON body. */
public final class Request {
  private static final int MAX_JSON_BODY = 1 << 20;
  private static final ObjectReader STRICT = Json.MAPPER.reader().with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private final HttpExchange exchange;
  private final Map<String, String> pathParams;
  private final Map<String, String> query;

  Request(HttpExchange exchange, Map<String, String> pathParams) {
    this.exchange = exchange;
    this.pathParams = pathParams;
    this.query = parseQuery(exchange.getRequestURI().getRawQuery());
  }

  public String path(String name) {
    return pathParams.get(name);
  }

  public Optional<String> query(String name) {
    return Optional.ofNullable(query.get(name));
  }

  public String method() {
    return exchange.getRequestMethod();
  }

  public String uri() {
    return exchange.getRequestURI().getPath();
  }

  public InputStream body() {
    return exchange.getRequestBody();
  }

  /** The body as a JSON object; an empty body is an empty object. Malformed JSON is a 400 problem. */
  public JsonNode json() {
    try (InputStream in = exchange.getRequestBody()) {
      byte[] bytes = in.readNBytes(MAX_JSON_BODY + 1);
      if (bytes.length > MAX_JSON_BODY) {
        throw ApiProblem.invalid("body", "request body is larger than " + MAX_JSON_BODY + " bytes");
      }
      if (bytes.length == 0) {
        return Json.MAPPER.createObjectNode();
      }
      // Strict: a body with more after its first value is not JSON, and must not be half-read and acted on.
      JsonNode node = STRICT.readTree(bytes);
      if (node == null || !node.isObject()) {
        throw ApiProblem.invalid("body", "the request body must be a JSON object");
      }
      return node;
    } catch (IOException e) {
      throw ApiProblem.invalid("body", "the request body is not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
    }
  }

  private static Map<String, String> parseQuery(String raw) {
    Map<String, String> out = new LinkedHashMap<>();
    if (raw == null || raw.isEmpty()) {
      return out;
    }
    for (String pair : raw.split("&")) {
      int eq = pair.indexOf('=');
      String k = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
      String v = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
      out.put(k, v);
    }
    return out;
  }
}
