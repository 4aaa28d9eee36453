package dev.arbor.operator.endpoint;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Hands out the proxy ports of Endpoints ({@code status.proxyPort}): one port of a range per Endpoint, unique over every
 * Endpoint the operator sees, and the same for the Endpoint's life. What is taken is what the Endpoints' statuses
 * record (the informer cache) plus what this allocator granted and the cache has not shown yet: several Endpoints
 * reconcile at once, and a grant reaches the cache only after its status patch. An Endpoint keeps, in this order, the
 * port its status records, the one granted to it before, or the one its Service already sends to (a status that was
 * lost); otherwise it gets the lowest free port of the range.
 */
final class ProxyPorts {
  /** An Endpoint (by UID) in the cache, and the port its status records (null: none yet). */
  record Claim(String uid, Integer port) {}

  private final int first;
  private final int last;
  /** UID → port granted by this allocator, whether or not the Endpoint's status shows it yet. */
  private final Map<String, Integer> granted = new HashMap<>();

  ProxyPorts(int first, int last) {
    if (first < 1 || last > 65535 || first > last) {
      throw new IllegalArgumentException("the proxy port range " + first + "-" + last + " is not a range of TCP ports (1-65535, "
          + "first not above last)");
    }
    this.first = first;
    this.last = last;
  }

  /** A range as {@code arbor.proxy.port-range} gives it, {@code FIRST-LAST}, e.g. {@code 20000-29999}. */
  static ProxyPorts parse(String range) {
    String[] parts = range.trim().split("-");
    try {
      if (parts.length == 2) {
        return new ProxyPorts(Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim()));
      }
    } catch (NumberFormatException e) {
      // described below
    }
    throw new IllegalArgumentException("arbor.proxy.port-range is '" + range + "'; write it as FIRST-LAST, e.g. 20000-29999");
  }

  int size() {
    return last - first + 1;
  }

  String range() {
    return first + "-" + last;
  }

  /**
   * The port of Endpoint {@code uid}, or empty when every port of the range is taken by another Endpoint.
   *
   * @param recorded the port its status records, or null
   * @param adoptable the port its existing Service sends to, or null
   * @param seen every Endpoint in the cache, this one's included, with the port its status records
   */
  synchronized OptionalInt assign(String uid, Integer recorded, Integer adoptable, Collection<Claim> seen) {
    Set<String> live = seen.stream().map(Claim::uid).collect(Collectors.toSet());
    live.add(uid);
    granted.keySet().retainAll(live); // the grants of deleted Endpoints are free again
    Map<Integer, String> taken = new HashMap<>();
    seen.stream().filter(c -> c.port() != null).forEach(c -> taken.putIfAbsent(c.port(), c.uid()));
    granted.forEach((u, p) -> taken.putIfAbsent(p, u));
    for (Integer candidate : new Integer[] {recorded, granted.get(uid), adoptable}) {
      // A recorded port stays even when the range has changed since; an adopted one must be in the range.
      if (candidate != null && (candidate.equals(recorded) || inRange(candidate)) && uid.equals(taken.getOrDefault(candidate, uid))) {
        granted.put(uid, candidate);
        return OptionalInt.of(candidate);
      }
    }
    for (int p = first; p <= last; p++) {
      if (!taken.containsKey(p)) {
        granted.put(uid, p);
        return OptionalInt.of(p);
      }
    }
    return OptionalInt.empty();
  }

  private boolean inRange(int port) {
    return port >= first && port <= last;
  }
}
