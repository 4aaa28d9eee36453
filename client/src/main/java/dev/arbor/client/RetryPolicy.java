package dev.arbor.client;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How often, and with what pauses, a client tries a call again. Pauses double from {@code firstPause} up to
 * {@code maxPause}, each with up to 20% random jitter so that many callers that failed together do not retry
 * together. {@code attempts} counts the first try: 1 means no retry.
 *
 * <p>{@code afterOutages}: whether idempotent calls are tried again after an outage (no answer in time, 502/503/504),
 * or, like every other call, only after a refused connection. A caller whose own loop already backs off after an
 * outage (an operator's reconcile retry) turns it off with {@link #refusedOnly()}, so that a call never sleeps
 * through several timeouts in a thread others wait for.
 */
public record RetryPolicy(int attempts, Duration firstPause, Duration maxPause, boolean afterOutages) {

  /** One try. */
  public static final RetryPolicy NONE = new RetryPolicy(1, Duration.ZERO, Duration.ZERO);

  /** What the clients use unless told otherwise: 4 tries over about 1.5 s. */
  public static final RetryPolicy DEFAULT = new RetryPolicy(4, Duration.ofMillis(100), Duration.ofSeconds(1));

  /** A policy that retries idempotent calls after outages too. */
  public RetryPolicy(int attempts, Duration firstPause, Duration maxPause) {
    this(attempts, firstPause, maxPause, true);
  }

  /** The same tries and pauses, but only a refused connection (a request that never arrived) is tried again. */
  public RetryPolicy refusedOnly() {
    return new RetryPolicy(attempts, firstPause, maxPause, false);
  }

  public RetryPolicy {
    if (attempts < 1) {
      throw new IllegalArgumentException("attempts must be at least 1, not " + attempts);
    }
    if (firstPause.isNegative() || maxPause.isNegative()) {
      throw new IllegalArgumentException("pauses must not be negative");
    }
  }

  /** The pause before try {@code attempt + 1}, after try {@code attempt} (1-based) failed. */
  Duration pauseAfter(int attempt) {
    long base = firstPause.toMillis() << Math.min(20, attempt - 1);
    long capped = Math.min(base, maxPause.toMillis());
    long jitter = capped <= 0 ? 0 : ThreadLocalRandom.current().nextLong(capped / 5 + 1);
    return Duration.ofMillis(capped + jitter);
  }
}
