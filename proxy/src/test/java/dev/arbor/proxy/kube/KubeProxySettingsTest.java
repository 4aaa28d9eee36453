package dev.arbor.proxy.kube;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The proxy's settings from its environment: defaults, and one clear message per bad value. */
class KubeProxySettingsTest {

  @Test
  void anEmptyEnvironmentGivesTheDefaults() {
    var s = KubeProxySettings.fromEnv(Map.of());
    assertThat(s).isEqualTo(new KubeProxySettings(9090, 9091, null, null, null, null, Duration.ofSeconds(30), 100, 10, java.util.List.of()));
    assertThat(s.proxyConfig().tls()).isNull();
  }

  @Test
  void everySettingIsRead() {
    var s = KubeProxySettings.fromEnv(Map.of("ARBOR_PROXY_ADMIN_PORT", "8080", "ARBOR_PROXY_CANCEL_PORT", "8081",
        "ARBOR_PROXY_PEERS", "arbor-proxy-peers.arbor.svc", "POD_IP", "10.1.2.3", "ARBOR_PROXY_TLS_CERT", "/tls/tls.crt",
        "ARBOR_PROXY_TLS_KEY", "/tls/tls.key", "ARBOR_PROXY_WAKE_TIMEOUT", "2m", "ARBOR_PROXY_MAX_HELD", "7",
        "ARBOR_PROXY_WAKES_PER_MINUTE", "3", "ARBOR_PROXY_NAMESPACES", "team-a, team-b"));
    assertThat(s).isEqualTo(new KubeProxySettings(8080, 8081, "arbor-proxy-peers.arbor.svc", "10.1.2.3",
        Path.of("/tls/tls.crt"), Path.of("/tls/tls.key"), Duration.ofMinutes(2), 7, 3, java.util.List.of("team-a", "team-b")));
    assertThat(s.proxyConfig().wakeTimeout()).isEqualTo(Duration.ofMinutes(2));
    assertThat(s.proxyConfig().maxHeldPerEndpoint()).isEqualTo(7);
    assertThat(s.proxyConfig().wakesPerMinute()).isEqualTo(3);
  }

  @Test
  void aBadValueNamesTheVariableTheValueAndWhatIsValid() {
    assertThatThrownBy(() -> KubeProxySettings.fromEnv(Map.of("ARBOR_PROXY_WAKE_TIMEOUT", "soon")))
        .hasMessage("ARBOR_PROXY_WAKE_TIMEOUT: 'soon' is not a duration: write a whole number with s, m or h (e.g. 300s, 5m, 1h)");
    assertThatThrownBy(() -> KubeProxySettings.fromEnv(Map.of("ARBOR_PROXY_WAKE_TIMEOUT", "0s")))
        .hasMessageStartingWith("ARBOR_PROXY_WAKE_TIMEOUT: '0s' is zero");
    assertThatThrownBy(() -> KubeProxySettings.fromEnv(Map.of("ARBOR_PROXY_ADMIN_PORT", "http")))
        .hasMessage("ARBOR_PROXY_ADMIN_PORT: 'http' is not a whole number from 1 to 65535");
    assertThatThrownBy(() -> KubeProxySettings.fromEnv(Map.of("ARBOR_PROXY_CANCEL_PORT", "70000")))
        .hasMessage("ARBOR_PROXY_CANCEL_PORT: '70000' is not a whole number from 1 to 65535");
    assertThatThrownBy(() -> KubeProxySettings.fromEnv(Map.of("ARBOR_PROXY_NAMESPACES", "team-a,Team B")))
        .hasMessageStartingWith("ARBOR_PROXY_NAMESPACES: 'Team B' is not a namespace name");
    assertThatThrownBy(() -> KubeProxySettings.fromEnv(Map.of("ARBOR_PROXY_MAX_HELD", "0")))
        .hasMessageStartingWith("ARBOR_PROXY_MAX_HELD: '0' is not a whole number from 1");
    assertThatThrownBy(() -> KubeProxySettings.fromEnv(Map.of("ARBOR_PROXY_CANCEL_PORT", "9090")))
        .hasMessage("ARBOR_PROXY_ADMIN_PORT and ARBOR_PROXY_CANCEL_PORT are both 9090: give them different ports");
    assertThatThrownBy(() -> KubeProxySettings.fromEnv(Map.of("ARBOR_PROXY_TLS_CERT", "/tls/tls.crt")))
        .hasMessage("ARBOR_PROXY_TLS_CERT is set and ARBOR_PROXY_TLS_KEY is not: set both (PEM files of a TLS Secret) or neither");
  }
}
