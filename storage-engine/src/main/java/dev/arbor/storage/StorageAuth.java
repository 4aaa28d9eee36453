package dev.arbor.storage;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.server.HttpApi;

/**
 * A storage component's tokens: how it checks the requests it serves, and the token it sends on its own calls
 * (the pageserver to the safekeepers and to itself from its working copies, a safekeeper to its peers).
 *
 * @param inbound a {@link dev.arbor.server.TokenVerifier}, or {@link HttpApi.Authenticator#INSECURE}
 * @param outbound read on every call ({@code --token-file}); {@link TokenSource#NONE} when the component sends none
 */
public record StorageAuth(HttpApi.Authenticator inbound, TokenSource outbound) {
  /** Checks nothing and sends nothing: {@code --insecure-no-auth}, and components made in-process by tests. */
  public static final StorageAuth INSECURE = new StorageAuth(HttpApi.Authenticator.INSECURE, TokenSource.NONE);

  public StorageAuth {
    java.util.Objects.requireNonNull(inbound, "inbound");
    java.util.Objects.requireNonNull(outbound, "outbound");
  }
}
