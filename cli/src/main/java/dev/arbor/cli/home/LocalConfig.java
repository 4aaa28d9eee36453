package dev.arbor.cli.home;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The local installation's fixed layout: chosen at the first {@code arbor up} and kept, because branches and
 * computes refer to the storage engine by these addresses.
 *
 * @param safekeepers safekeeper id → port
 */
public record LocalConfig(int formatVersion, int pageserverPort, Map<String, Integer> safekeepers) {
  public static final int FORMAT_VERSION = 1;

  public LocalConfig {
    safekeepers = new LinkedHashMap<>(safekeepers);
  }

  public String pageserverUrl() {
    return "http://127.0.0.1:" + pageserverPort;
  }

  public Map<String, String> safekeeperUrls() {
    Map<String, String> out = new LinkedHashMap<>();
    safekeepers.forEach((id, port) -> out.put(id, "http://127.0.0.1:" + port));
    return out;
  }
}
