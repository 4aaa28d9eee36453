package dev.arbor.client.auth;

import dev.arbor.api.auth.Scope;
import dev.arbor.api.auth.StorageGrant;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import org.jose4j.jwk.JsonWebKey;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwk.OctetKeyPairJsonWebKey;
import org.jose4j.jwk.OkpJwkGenerator;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.NumericDate;
import org.jose4j.lang.JoseException;

/**
 * An Ed25519 key that mints storage-engine tokens: JWTs signed with EdDSA, its key id ({@code kid}) in the
 * header, claims {@code iss}, {@code aud} ({@value StorageGrant#AUDIENCE}), {@code sub}, {@code scope},
 * {@code tenant_id} and {@code timeline_id} (compute tokens), {@code iat} and {@code exp}. It is kept as a private
 * JWK file (mode 0600); the storage engine gets the public halves as a JWK set file ({@link #writePublicSet}).
 */
public final class SigningKey {
  private final OctetKeyPairJsonWebKey jwk;

  private SigningKey(OctetKeyPairJsonWebKey jwk) {
    this.jwk = jwk;
  }

  /** A new key pair with key id {@code kid}. */
  public static SigningKey generate(String kid) {
    try {
      OctetKeyPairJsonWebKey jwk = OkpJwkGenerator.generateJwk(OctetKeyPairJsonWebKey.SUBTYPE_ED25519);
      jwk.setKeyId(kid);
      jwk.setAlgorithm(AlgorithmIdentifiers.EDDSA);
      return new SigningKey(jwk);
    } catch (JoseException e) {
      throw new IllegalStateException("this JVM cannot make Ed25519 keys", e);
    }
  }

  /** Reads a private JWK file written by {@link #write}. */
  public static SigningKey read(Path file) throws IOException {
    return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
  }

  /**
   * A private JWK as {@link #privateJwk} writes it; {@code source} names where it came from in the message of a
   * failure (never the text itself: it is a private key).
   */
  public static SigningKey parse(String json, String source) throws IOException {
    try {
      JsonWebKey jwk = JsonWebKey.Factory.newJwk(json);
      if (!(jwk instanceof OctetKeyPairJsonWebKey okp) || okp.getPrivateKey() == null
          || !OctetKeyPairJsonWebKey.SUBTYPE_ED25519.equals(okp.getSubtype()) || okp.getKeyId() == null) {
        throw new IOException(source + " is not a private Ed25519 JWK with a kid");
      }
      return new SigningKey(okp);
    } catch (JoseException e) {
      throw new IOException(source + " is not a JWK: " + e.getMessage(), e);
    }
  }

  /** The private key as JWK text (what {@link #write} puts into a file, and {@link #parse} reads): a secret. */
  public String privateJwk() {
    return jwk.toJson(JsonWebKey.OutputControlLevel.INCLUDE_PRIVATE);
  }

  public String kid() {
    return jwk.getKeyId();
  }

  /** Writes the private key as a JWK file only its owner can read (0600), replacing the file whole. */
  public void write(Path file) throws IOException {
    writePrivately(file, privateJwk());
  }

  /** The public JWK (no private part). */
  public JsonWebKey publicJwk() {
    try {
      return JsonWebKey.Factory.newJwk(jwk.toJson(JsonWebKey.OutputControlLevel.PUBLIC_ONLY));
    } catch (JoseException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Writes the public halves of {@code keys} as a JWK set file (what the storage engine's {@code --auth-keys}
   * reads), replacing the file whole: a server that reads it while it is written sees the old set or the new one.
   */
  public static void writePublicSet(Path file, Collection<SigningKey> keys) throws IOException {
    replace(file, publicSet(keys), "rw-r--r--");
  }

  /** The public halves of {@code keys} as JWK set text, what {@link #writePublicSet} writes. */
  public static String publicSet(Collection<SigningKey> keys) {
    List<JsonWebKey> publics = keys.stream().map(SigningKey::publicJwk).toList();
    return new JsonWebKeySet(publics).toJson(JsonWebKey.OutputControlLevel.PUBLIC_ONLY);
  }

  /** A token of {@code grant} from issuer {@code issuer}, valid from now for {@code ttl}. */
  public String mint(String issuer, StorageGrant grant, Duration ttl) {
    Instant now = Instant.now();
    return mint(issuer, grant, now, now.plus(ttl));
  }

  /** A token issued at {@code issuedAt} that expires at {@code expires} (tests make ones outside their window). */
  public String mint(String issuer, StorageGrant grant, Instant issuedAt, Instant expires) {
    JwtClaims claims = new JwtClaims();
    claims.setIssuer(issuer);
    claims.setAudience(StorageGrant.AUDIENCE);
    claims.setSubject(grant.subject());
    claims.setStringClaim(StorageGrant.SCOPE_CLAIM, grant.scope().claim());
    if (grant.scope() == Scope.COMPUTE) {
      claims.setStringClaim(StorageGrant.TENANT_CLAIM, grant.tenant().value());
      claims.setStringClaim(StorageGrant.TIMELINE_CLAIM, grant.timeline().value());
    }
    claims.setIssuedAt(NumericDate.fromSeconds(issuedAt.getEpochSecond()));
    claims.setExpirationTime(NumericDate.fromSeconds(expires.getEpochSecond()));
    return sign(claims.toJson());
  }

  /** Signs any payload with this key (EdDSA, its kid in the header). */
  public String sign(String payload) {
    JsonWebSignature jws = new JsonWebSignature();
    jws.setPayload(payload);
    jws.setKey(jwk.getPrivateKey());
    jws.setKeyIdHeaderValue(kid());
    jws.setAlgorithmHeaderValue(AlgorithmIdentifiers.EDDSA);
    try {
      return jws.getCompactSerialization();
    } catch (JoseException e) {
      throw new IllegalStateException("cannot sign with " + kid(), e);
    }
  }

  /** Writes a token (or any secret) into a file only its owner can read (0600), replacing the file whole. */
  public static void writePrivately(Path file, String content) throws IOException {
    replace(file, content, "rw-------");
  }

  private static void replace(Path file, String content, String permissions) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = Files.createTempFile(parent, "." + file.getFileName(), ".tmp", PosixFilePermissions.asFileAttribute(
        PosixFilePermissions.fromString(permissions)));
    try {
      Files.writeString(tmp, content, StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
