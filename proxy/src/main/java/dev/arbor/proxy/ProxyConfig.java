package dev.arbor.proxy;

import java.time.Duration;

/**
 * The proxy's bounds.
 *
 * @param startupTimeout how long a client may take over each untyped packet (SSLRequest, StartupMessage,
 *     CancelRequest) and the TLS handshake; a client that stalls longer gets an ErrorResponse
 * @param wakeTimeout how long a connection is held while its Endpoint's compute starts
 * @param authTimeout how long the compute and the client may take from the forwarded StartupMessage to the
 *     first ReadyForQuery (authentication)
 * @param maxHeldPerEndpoint connections held at once for one Endpoint while it wakes; more are refused
 * @param wakesPerMinute wakes per Endpoint per minute; more are refused until the minute has passed
 * @param tls the certificate to terminate TLS with, or null to answer SSLRequest with 'N'
 */
public record ProxyConfig(Duration startupTimeout, Duration wakeTimeout, Duration authTimeout, int maxHeldPerEndpoint,
    int wakesPerMinute, ProxyTls tls) {

  public static final Duration DEFAULT_STARTUP_TIMEOUT = Duration.ofSeconds(10);
  public static final Duration DEFAULT_WAKE_TIMEOUT = Duration.ofSeconds(30);
  public static final Duration DEFAULT_AUTH_TIMEOUT = Duration.ofSeconds(60);
  public static final int DEFAULT_MAX_HELD = 100;
  public static final int DEFAULT_WAKES_PER_MINUTE = 10;

  public static ProxyConfig defaults() {
    return new ProxyConfig(DEFAULT_STARTUP_TIMEOUT, DEFAULT_WAKE_TIMEOUT, DEFAULT_AUTH_TIMEOUT, DEFAULT_MAX_HELD,
        DEFAULT_WAKES_PER_MINUTE, null);
  }

  public ProxyConfig withTls(ProxyTls tls) {
    return new ProxyConfig(startupTimeout, wakeTimeout, authTimeout, maxHeldPerEndpoint, wakesPerMinute, tls);
  }

  public ProxyConfig withWakeTimeout(Duration wakeTimeout) {
    return new ProxyConfig(startupTimeout, wakeTimeout, authTimeout, maxHeldPerEndpoint, wakesPerMinute, tls);
  }

  public ProxyConfig withAuthTimeout(Duration authTimeout) {
    return new ProxyConfig(startupTimeout, wakeTimeout, authTimeout, maxHeldPerEndpoint, wakesPerMinute, tls);
  }

  public ProxyConfig withStartupTimeout(Duration startupTimeout) {
    return new ProxyConfig(startupTimeout, wakeTimeout, authTimeout, maxHeldPerEndpoint, wakesPerMinute, tls);
  }

  public ProxyConfig withMaxHeldPerEndpoint(int maxHeldPerEndpoint) {
    return new ProxyConfig(startupTimeout, wakeTimeout, authTimeout, maxHeldPerEndpoint, wakesPerMinute, tls);
  }

  public ProxyConfig withWakesPerMinute(int wakesPerMinute) {
    return new ProxyConfig(startupTimeout, wakeTimeout, authTimeout, maxHeldPerEndpoint, wakesPerMinute, tls);
  }

  public ProxyConfig {
    if (startupTimeout.isNegative() || startupTimeout.isZero() || wakeTimeout.isNegative() || wakeTimeout.isZero()
        || authTimeout.isNegative() || authTimeout.isZero()) {
      throw new IllegalArgumentException("proxy timeouts must be positive");
    }
    if (maxHeldPerEndpoint < 1 || wakesPerMinute < 1) {
      throw new IllegalArgumentException("maxHeldPerEndpoint and wakesPerMinute must be at least 1");
    }
  }
}
