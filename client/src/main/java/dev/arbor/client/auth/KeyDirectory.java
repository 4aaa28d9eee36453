package dev.arbor.client.auth;

import dev.arbor.api.auth.StorageGrant;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The storage-engine keys of one installation in a directory: the signing key ({@value #SIGNING_KEY}, 0600) that
 * mints tokens, and the public key set ({@value #PUBLIC_KEYS}) the storage engine checks them against
 * ({@code --auth-keys}). {@link #open} makes a key pair the first time and reuses it after. Local mode
 * ({@code ./arbor up}) keeps it in {@code ARBOR_HOME}; tests in their temporary directory.
 */
public final class KeyDirectory {
  public static final String SIGNING_KEY = "signing-key.jwk";
  public static final String PUBLIC_KEYS = "public-keys.jwks";

  private final Path dir;
  private final String issuer;
  private final SigningKey key;

  private KeyDirectory(Path dir, String issuer, SigningKey key) {
    this.dir = dir;
    this.issuer = issuer;
    this.key = key;
  }

  /** The keys in {@code dir}, made (key id {@code kid}) when there are none; tokens name {@code issuer} as their {@code iss}. */
  public static KeyDirectory open(Path dir, String issuer, String kid) throws IOException {
    Path signing = dir.resolve(SIGNING_KEY);
    SigningKey key;
    if (Files.exists(signing)) {
      key = SigningKey.read(signing);
    } else {
      key = SigningKey.generate(kid);
      key.write(signing);
    }
    if (!Files.exists(dir.resolve(PUBLIC_KEYS))) {
      SigningKey.writePublicSet(dir.resolve(PUBLIC_KEYS), List.of(key));
    }
    return new KeyDirectory(dir, issuer, key);
  }

  /** The public key set file, for {@code --auth-keys}. */
  public Path publicKeys() {
    return dir.resolve(PUBLIC_KEYS);
  }

  public String issuer() {
    return issuer;
  }

  public SigningKey signingKey() {
    return key;
  }

  public String mint(StorageGrant grant, Duration ttl) {
    return key.mint(issuer, grant, ttl);
  }

  /** Mints a token into {@code file} (0600, replaced whole: a reader sees the old token or the new one) and returns the file. */
  public Path mintInto(Path file, StorageGrant grant, Duration ttl) throws IOException {
    SigningKey.writePrivately(file, mint(grant, ttl) + "\n");
    return file;
  }
}
