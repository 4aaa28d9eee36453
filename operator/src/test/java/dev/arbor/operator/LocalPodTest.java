package dev.arbor.operator;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** LocalPod builds a pod's environment by the kubelet's expansion rule, escapes included. */
class LocalPodTest {
  private static final Map<String, String> EARLIER = Map.of("A", "secret", "POD_IP", "10.0.0.7");

  @Test
  void expandsEarlierVariablesAndReadsDoubledDollarsAsOne() {
    assertThat(LocalPod.expand("$(A)", EARLIER)).isEqualTo("secret");
    assertThat(LocalPod.expand("{\"listen_host\":\"$(POD_IP)\"}", EARLIER)).isEqualTo("{\"listen_host\":\"10.0.0.7\"}");
    assertThat(LocalPod.expand("$$(A)", EARLIER)).isEqualTo("$(A)");
    assertThat(LocalPod.expand("$$$$(A)", EARLIER)).isEqualTo("$$(A)");
    assertThat(LocalPod.expand("$$$(A)", EARLIER)).isEqualTo("$secret");
    assertThat(LocalPod.expand("$(UNDEFINED)", EARLIER)).isEqualTo("$(UNDEFINED)");
    assertThat(LocalPod.expand("$x $ $(A", EARLIER)).isEqualTo("$x $ $(A");
    assertThat(LocalPod.expand("ends with $", EARLIER)).isEqualTo("ends with $");
  }
}
