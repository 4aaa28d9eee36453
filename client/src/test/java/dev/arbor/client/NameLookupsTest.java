package dev.arbor.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.Security;
import org.junit.jupiter.api.Test;

/** The daemons and the agent keep a name's answer seconds, not the JDK's 30 s, and never cache "no such name". */
class NameLookupsTest {
  @Test
  void answersAreKeptSecondsAndMissingNamesNotAtAll() {
    NameLookups.followReplacedPods();
    assertThat(Integer.parseInt(Security.getProperty("networkaddress.cache.ttl"))).isBetween(1, 5);
    assertThat(Security.getProperty("networkaddress.cache.negative.ttl")).isEqualTo("0");
  }
}
