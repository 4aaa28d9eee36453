package dev.arbor.proxy.kube;

import dev.arbor.api.compute.DurationText;
import dev.arbor.proxy.ProxyConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The settings of the proxy on Kubernetes, from its environment (the Helm chart sets them; docs/proxy.md lists
 * them). A bad value is an {@link IllegalArgumentException} whose message names the variable, the value and what
 * a valid one looks like.
 *
 * @param adminPort {@code ARBOR_PROXY_ADMIN_PORT}: GET /metrics, /healthz, /readyz
 * @param cancelPort {@code ARBOR_PROXY_CANCEL_PORT}: CancelRequests forwarded by peer replicas
 * @param peers {@code ARBOR_PROXY_PEERS}: DNS name of the peer replicas (a headless Service), or null for none
 * @param podIp {@code POD_IP}: this replica's address, left out of the peers; null when unset
 * @param tlsCertificate {@code ARBOR_PROXY_TLS_CERT}: PEM certificate chain, or null for no TLS
 * @param tlsKey {@code ARBOR_PROXY_TLS_KEY}: PEM PKCS#8 key; set exactly when the certificate is
 * @param wakeTimeout {@code ARBOR_PROXY_WAKE_TIMEOUT}
 * @param maxHeld {@code ARBOR_PROXY_MAX_HELD}: connections held per Endpoint while it wakes
 * @param wakesPerMinute {@code ARBOR_PROXY_WAKES_PER_MINUTE}: wakes per Endpoint per minute
 * @param namespaces {@code ARBOR_PROXY_NAMESPACES}: the namespaces whose Endpoints it serves (comma-separated, as the
 *     operator's watched namespaces); empty: all
 */
public record KubeProxySettings(int adminPort, int cancelPort, String peers, String podIp, Path tlsCertificate,
    Path tlsKey, Duration wakeTimeout, int maxHeld, int wakesPerMinute, List<String> namespaces) {

  public static final String ADMIN_PORT = "ARBOR_PROXY_ADMIN_PORT";
  public static final String CANCEL_PORT = "ARBOR_PROXY_CANCEL_PORT";
  public static final String PEERS = "ARBOR_PROXY_PEERS";
  public static final String POD_IP = "POD_IP";
  public static final String TLS_CERT = "ARBOR_PROXY_TLS_CERT";
  public static final String TLS_KEY = "ARBOR_PROXY_TLS_KEY";
  public static final String WAKE_TIMEOUT = "ARBOR_PROXY_WAKE_TIMEOUT";
  public static final String MAX_HELD = "ARBOR_PROXY_MAX_HELD";
  public static final String WAKES_PER_MINUTE = "ARBOR_PROXY_WAKES_PER_MINUTE";
  public static final String NAMESPACES = "ARBOR_PROXY_NAMESPACES";

  /** Reads the settings from {@code env}; unset or empty variables take their defaults. */
  public static KubeProxySettings fromEnv(Map<String, String> env) {
    int admin = port(env, ADMIN_PORT, 9090);
    int cancel = port(env, CANCEL_PORT, 9091);
    if (admin == cancel) {
      throw new IllegalArgumentException(ADMIN_PORT + " and " + CANCEL_PORT + " are both " + admin + ": give them different ports");
    }
    String cert = value(env, TLS_CERT);
    String key = value(env, TLS_KEY);
    if ((cert == null) != (key == null)) {
      throw new IllegalArgumentException((cert == null ? TLS_KEY : TLS_CERT) + " is set and "
          + (cert == null ? TLS_CERT : TLS_KEY) + " is not: set both (PEM files of a TLS Secret) or neither");
    }
    Duration wakeTimeout;
    String wake = value(env, WAKE_TIMEOUT);
    try {
      wakeTimeout = wake == null ? ProxyConfig.DEFAULT_WAKE_TIMEOUT : DurationText.parse(wake);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(WAKE_TIMEOUT + ": " + e.getMessage());
    }
    if (wakeTimeout.isZero()) {
      throw new IllegalArgumentException(WAKE_TIMEOUT + ": '" + wake + "' is zero: a wake needs time (e.g. 30s)");
    }
    return new KubeProxySettings(admin, cancel, value(env, PEERS), value(env, POD_IP), cert == null ? null : Path.of(cert),
        key == null ? null : Path.of(key), wakeTimeout, positive(env, MAX_HELD, ProxyConfig.DEFAULT_MAX_HELD, Integer.MAX_VALUE),
        positive(env, WAKES_PER_MINUTE, ProxyConfig.DEFAULT_WAKES_PER_MINUTE, Integer.MAX_VALUE), namespaces(env));
  }

  private static List<String> namespaces(Map<String, String> env) {
    String v = value(env, NAMESPACES);
    if (v == null) {
      return List.of();
    }
    List<String> out = new ArrayList<>();
    for (String ns : v.split(",")) {
      String n = ns.strip();
      if (!n.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?")) {
        throw new IllegalArgumentException(NAMESPACES + ": '" + n + "' is not a namespace name; expected a comma-separated list, e.g. team-a,team-b");
      }
      out.add(n);
    }
    return List.copyOf(out);
  }

  /** The proxy's bounds from these settings (TLS is loaded separately, from the files). */
  public ProxyConfig proxyConfig() {
    return ProxyConfig.defaults().withWakeTimeout(wakeTimeout).withMaxHeldPerEndpoint(maxHeld).withWakesPerMinute(wakesPerMinute);
  }

  private static String value(Map<String, String> env, String name) {
    String v = env.get(name);
    return v == null || v.isBlank() ? null : v.strip();
  }

  private static int port(Map<String, String> env, String name, int fallback) {
    return positive(env, name, fallback, 65535);
  }

  private static int positive(Map<String, String> env, String name, int fallback, int max) {
    String v = value(env, name);
    if (v == null) {
      return fallback;
    }
    try {
      int n = Integer.parseInt(v);
      if (n >= 1 && n <= max) {
        return n;
      }
    } catch (NumberFormatException e) {
      // said below
    }
    throw new IllegalArgumentException(name + ": '" + v + "' is not a whole number from 1 to " + max);
  }
}
