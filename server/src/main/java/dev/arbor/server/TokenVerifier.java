package dev.arbor.server;

import dev.arbor.api.ApiProblem;
import dev.arbor.api.ProblemTypes;
import dev.arbor.api.TenantId;
import dev.arbor.api.TimelineId;
import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;
import org.jose4j.jwa.AlgorithmConstraints;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.MalformedClaimException;
import org.jose4j.jwt.NumericDate;
import org.jose4j.jwt.consumer.ErrorCodes;
import org.jose4j.jwt.consumer.InvalidJwtException;
import org.jose4j.jwt.consumer.JwtConsumer;
import org.jose4j.jwt.consumer.JwtConsumerBuilder;
import org.jose4j.keys.resolvers.JwksVerificationKeyResolver;
import org.jose4j.lang.JoseException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks the {@code Authorization: Bearer} token of a request: an EdDSA JWT signed by a key of the public JWK set
 * in {@code keySetFile}, for audience {@value StorageGrant#AUDIENCE} and {@code issuer}, with {@code exp} (required),
 * {@code iat} and {@code nbf} honoured with {@value #CLOCK_SKEW_SECONDS} s of clock skew, and claims that make a
 * {@link StorageGrant}. Any other algorithm is refused, {@code none} and HMAC included.
 *
 * <p>The key set file is read again when it changes (its modification time, size or inode), so keys rotate
 * without a restart: every key in the set is accepted until it is removed from the file. A file that cannot be
 * read or parsed at start stops the start; later, the keys read last stay in force and the failure is logged.
 *
 * <p>Refusals say why in general terms and never contain the token, which is never logged.
 */
public final class TokenVerifier implements HttpApi.Authenticator {
  public static final int CLOCK_SKEW_SECONDS = 60;
  private static final Logger log = LoggerFactory.getLogger(TokenVerifier.class);

  private final Path keySetFile;
  private final String issuer;
  private volatile Keys keys;

  /**
   * The consumer for one version of the key set file, and what identified that version. A JwtConsumer given no fixed
   * evaluation time reads the clock per token and is shared by every request thread (jose4j 0.4.3 on).
   */
  private record Keys(Object version, int count, JwtConsumer consumer) {}

  public TokenVerifier(Path keySetFile, String issuer) {
    if (issuer == null || issuer.isBlank()) {
      throw new IllegalArgumentException("the expected token issuer is empty");
    }
    this.keySetFile = keySetFile;
    this.issuer = issuer;
    try {
      this.keys = load(version());
    } catch (IOException | JoseException e) {
      throw new IllegalArgumentException("cannot read the token key set " + keySetFile + ": " + e.getMessage(), e);
    }
    log.info("event=auth_keys_loaded file={} keys={} issuer={}", keySetFile, keys.count(), issuer);
  }

  @Override
  public StorageGrant authenticate(String authorization) {
    if (authorization == null || authorization.isBlank()) {
      throw unauthenticated("this route needs a storage token: send Authorization: Bearer TOKEN");
    }
    if (!authorization.regionMatches(true, 0, "Bearer ", 0, 7) || authorization.substring(7).isBlank()) {
      throw unauthenticated("the Authorization header is not Bearer TOKEN");
    }
    JwtClaims claims;
    try {
      claims = current().consumer().processToClaims(authorization.substring(7).strip());
    } catch (InvalidJwtException e) {
      throw unauthenticated(reason(e));
    }
    return grant(claims);
  }

  private static String reason(InvalidJwtException e) {
    if (e.hasExpired()) {
      return "the token has expired";
    }
    if (e.hasErrorCode(ErrorCodes.EXPIRATION_MISSING)) {
      return "the token has no expiry (exp), which is required";
    }
    if (e.hasErrorCode(ErrorCodes.NOT_YET_VALID)) {
      return "the token is not valid yet (nbf)";
    }
    if (e.hasErrorCode(ErrorCodes.AUDIENCE_INVALID) || e.hasErrorCode(ErrorCodes.AUDIENCE_MISSING)) {
      return "the token is not for the storage engine (aud must be " + StorageGrant.AUDIENCE + ")";
    }
    if (e.hasErrorCode(ErrorCodes.ISSUER_INVALID) || e.hasErrorCode(ErrorCodes.ISSUER_MISSING)) {
      return "the token is from another issuer (iss)";
    }
    if (e.hasErrorCode(ErrorCodes.SUBJECT_MISSING)) {
      return "the token names no holder (sub)";
    }
    // Unknown key id, bad signature, another algorithm, not a JWT: one answer, which helps no forger.
    return "the token's signature, key or format is not valid here";
  }

  private StorageGrant grant(JwtClaims claims) {
    try {
      NumericDate issuedAt = claims.getIssuedAt();
      if (issuedAt == null) {
        throw unauthenticated("the token has no issue time (iat)");
      }
      if (issuedAt.getValue() > Instant.now().getEpochSecond() + CLOCK_SKEW_SECONDS) {
        throw unauthenticated("the token is not valid yet (iat is in the future)");
      }
      Optional<Scope> scope = Scope.ofClaim(claims.getStringClaimValue(StorageGrant.SCOPE_CLAIM));
      if (scope.isEmpty()) {
        throw unauthenticated("the token has no known scope (compute, pageserver or storage_admin)");
      }
      String tenant = claims.getStringClaimValue(StorageGrant.TENANT_CLAIM);
      String timeline = claims.getStringClaimValue(StorageGrant.TIMELINE_CLAIM);
      if (scope.get() != Scope.COMPUTE) {
        return StorageGrant.of(claims.getSubject(), scope.get());
      }
      if (!TenantId.isValid(tenant) || !TimelineId.isValid(timeline)) {
        throw unauthenticated("a compute token names its tenant_id and timeline_id");
      }
      return StorageGrant.compute(claims.getSubject(), new TenantId(tenant), new TimelineId(timeline));
    } catch (MalformedClaimException e) {
      throw unauthenticated("the token has a claim of the wrong type");
    }
  }

  static ApiProblem unauthenticated(String detail) {
    return new ApiProblem(401, ProblemTypes.UNAUTHENTICATED, "Unauthorized", detail, null);
  }

  /** The keys for the file as it is now, read again if it changed. */
  private Keys current() {
    Object version;
    try {
      version = version();
    } catch (IOException e) {
      log.warn("event=auth_keys_unreadable file={} reason=\"{}\" keys_in_force={}", keySetFile, e.getMessage(), keys.count());
      return keys;
    }
    Keys now = keys;
    if (Objects.equals(now.version(), version)) {
      return now;
    }
    synchronized (this) {
      if (!Objects.equals(keys.version(), version)) {
        try {
          keys = load(version);
          log.info("event=auth_keys_reloaded file={} keys={}", keySetFile, keys.count());
        } catch (IOException | JoseException e) {
          log.warn("event=auth_keys_reload_failed file={} reason=\"{}\" keys_in_force={}", keySetFile, e.getMessage(), keys.count());
        }
      }
      return keys;
    }
  }

  private Object version() throws IOException {
    BasicFileAttributes a = Files.readAttributes(keySetFile, BasicFileAttributes.class);
    return java.util.List.of(a.lastModifiedTime(), a.size(), String.valueOf(a.fileKey()));
  }

  private Keys load(Object version) throws IOException, JoseException {
    var set = new JsonWebKeySet(Files.readString(keySetFile, StandardCharsets.UTF_8));
    if (set.getJsonWebKeys().isEmpty()) {
      throw new IOException("the key set has no keys");
    }
    JwtConsumer consumer = new JwtConsumerBuilder()
        .setRequireExpirationTime()
        .setRequireSubject()
        .setAllowedClockSkewInSeconds(CLOCK_SKEW_SECONDS)
        .setExpectedIssuer(issuer)
        .setExpectedAudience(StorageGrant.AUDIENCE)
        .setVerificationKeyResolver(new JwksVerificationKeyResolver(set.getJsonWebKeys()))
        .setJwsAlgorithmConstraints(AlgorithmConstraints.ConstraintType.PERMIT, AlgorithmIdentifiers.EDDSA)
        .build();
    return new Keys(version, set.getJsonWebKeys().size(), consumer);
  }

  @Override
  public String toString() {
    return "tokens signed by the keys in " + keySetFile + " from issuer " + issuer;
  }

}
