package dev.arbor.operator.auth;

import dev.arbor.api.auth.StorageGrant;
import dev.arbor.client.auth.SigningKey;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A Secret that holds one storage token in its item {@value #TOKEN_ITEM}, mounted as a directory into the pod that
 * sends it (never through {@code subPath}: the kubelet then updates the file when the Secret changes). Its
 * annotations say what the token grants, with which key and until when, so the operator knows when to mint it again
 * without reading the token; none of them is secret.
 */
public final class TokenSecrets {
  /** The Secret's item, and so the file's name in the mounted directory. */
  public static final String TOKEN_ITEM = "token";
  public static final String ISSUED_AT = "arbor.dev/token-issued-at";
  public static final String EXPIRES_AT = "arbor.dev/token-expires-at";
  public static final String KEY_ID = "arbor.dev/token-key-id";
  /** What the token grants: its scope, and for a compute token "compute TENANT/TIMELINE". */
  public static final String GRANT = "arbor.dev/token-grant";

  private TokenSecrets() {}

  /** The Secret {@code name} holding a token of {@code grant} signed by {@code key}, valid from {@code now} for {@code ttl}. */
  static Secret mint(SigningKey key, String issuer, StorageGrant grant, Instant now, Duration ttl, String name, String namespace,
      Map<String, String> labels, List<OwnerReference> owners) {
    Instant issued = now.truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
    Instant expires = issued.plus(ttl);
    String token = key.mint(issuer, grant, issued, expires);
    Map<String, String> annotations = new LinkedHashMap<>();
    annotations.put(GRANT, describe(grant));
    annotations.put(KEY_ID, key.kid());
    annotations.put(ISSUED_AT, issued.toString());
    annotations.put(EXPIRES_AT, expires.toString());
    return new SecretBuilder()
        .withNewMetadata().withName(name).withNamespace(namespace).withLabels(labels).withAnnotations(annotations)
        .withOwnerReferences(owners).endMetadata()
        .withType("Opaque")
        .withData(Map.of(TOKEN_ITEM, Base64.getEncoder().encodeToString((token + "\n").getBytes(StandardCharsets.UTF_8))))
        .build();
  }

  /**
   * When the token in {@code secret} is to be minted again: half-way through its life. Empty when it must be minted
   * now: no Secret, no token, another grant or key, or annotations that cannot be read.
   */
  static Optional<Instant> renewAt(Secret secret, StorageGrant grant, SigningKey key) {
    if (secret == null || secret.getData() == null || secret.getData().get(TOKEN_ITEM) == null
        || secret.getMetadata().getAnnotations() == null) {
      return Optional.empty();
    }
    Map<String, String> a = secret.getMetadata().getAnnotations();
    if (!describe(grant).equals(a.get(GRANT)) || !key.kid().equals(a.get(KEY_ID))) {
      return Optional.empty();
    }
    try {
      Instant issued = Instant.parse(Objects.requireNonNull(a.get(ISSUED_AT)));
      Instant expires = Instant.parse(Objects.requireNonNull(a.get(EXPIRES_AT)));
      return expires.isAfter(issued) ? Optional.of(issued.plus(Duration.between(issued, expires).dividedBy(2))) : Optional.empty();
    } catch (NullPointerException | DateTimeParseException e) {
      return Optional.empty();
    }
  }

  static String describe(StorageGrant grant) {
    return grant.tenant() == null ? grant.scope().claim()
        : grant.scope().claim() + " " + grant.tenant().value() + "/" + grant.timeline().value();
  }
}
