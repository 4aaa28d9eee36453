package dev.arbor.client;

import java.security.Security;

/**
 * How long this JVM keeps the answer of a host-name lookup. Arbor's peers are reached by name and change address when
 * their pod is replaced (a safekeeper, the pageserver, a compute's replication Service); the JDK's default (30 s for an
 * answer, 10 s for none) would keep calling the old address, or none, through a restart.
 */
public final class NameLookups {
  /** Seconds an answer is kept: enough to spare a lookup per request, short enough to follow a replaced pod. */
  static final String ANSWER_TTL = "2";

  private NameLookups() {}

  /** Sets the JVM-wide lookup cache; call first in {@code main}, before any lookup (the JDK reads it once). */
  public static void followReplacedPods() {
    Security.setProperty("networkaddress.cache.ttl", ANSWER_TTL);
    Security.setProperty("networkaddress.cache.negative.ttl", "0");
  }
}
