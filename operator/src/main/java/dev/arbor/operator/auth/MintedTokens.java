package dev.arbor.operator.auth;

import dev.arbor.api.auth.StorageGrant;
import dev.arbor.client.auth.TokenSource;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.function.Supplier;
import dev.arbor.client.auth.SigningKey;

/**
 * A {@link TokenSource} that mints its token in memory and mints it again once half of its life has passed (or the
 * signing key changed), so a caller never sends one close to expiry. The operator's own calls to the storage engine
 * use one ({@code storage_admin}); the token is never written anywhere.
 */
public final class MintedTokens implements TokenSource {
  private final Supplier<SigningKey> key;
  private final String issuer;
  private final StorageGrant grant;
  private final Duration ttl;
  private final Clock clock;
  private String token;
  private String kid;
  private Instant renewAt = Instant.MIN;

  public MintedTokens(Supplier<SigningKey> key, String issuer, StorageGrant grant, Duration ttl, Clock clock) {
    this.key = key;
    this.issuer = issuer;
    this.grant = grant;
    this.ttl = ttl;
    this.clock = clock;
  }

  @Override
  public synchronized Optional<String> token() {
    SigningKey signer = key.get();
    Instant now = clock.instant();
    if (token == null || !now.isBefore(renewAt) || !signer.kid().equals(kid)) {
      token = signer.mint(issuer, grant, now, now.plus(ttl));
      kid = signer.kid();
      renewAt = now.plus(ttl.dividedBy(2));
    }
    return Optional.of(token);
  }

  @Override
  public String toString() {
    return "tokens minted in memory (" + grant.scope().claim() + ")";
  }
}
