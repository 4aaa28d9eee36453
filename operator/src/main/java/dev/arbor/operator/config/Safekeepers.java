package dev.arbor.operator.config;

import java.net.URI;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Parses {@code arbor.storage-engine.safekeepers} ({@code id=url,...}) and says what is wrong with a bad entry. */
public final class Safekeepers {
  private Safekeepers() {}

  public static Map<String, String> parse(List<String> entries) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String entry : entries) {
      String e = entry.strip();
      int eq = e.indexOf('=');
      if (eq <= 0 || eq == e.length() - 1) {
        throw new IllegalArgumentException("arbor.storage-engine.safekeepers: '" + entry + "' is not id=url; write e.g. "
            + "sk-0=http://arbor-safekeeper-0.arbor-safekeeper:7676 (comma-separated, one per safekeeper)");
      }
      String id = e.substring(0, eq).strip();
      String url = e.substring(eq + 1).strip();
      URI uri = URI.create(url);
      if (uri.getScheme() == null || uri.getHost() == null) {
        throw new IllegalArgumentException("arbor.storage-engine.safekeepers: '" + url + "' (safekeeper " + id
            + ") is not an http URL with a host");
      }
      if (out.put(id, url) != null) {
        throw new IllegalArgumentException("arbor.storage-engine.safekeepers: safekeeper id '" + id + "' is listed twice");
      }
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException("arbor.storage-engine.safekeepers is empty: list every safekeeper as id=url");
    }
    return out;
  }
}
