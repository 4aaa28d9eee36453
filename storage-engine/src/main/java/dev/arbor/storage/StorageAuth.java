package dev.arbor.storage;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.server.HttpApi;
import dev.arbor.server.ServerTls;

/**
 * A storage component's tokens and TLS: how it checks the requests it serves, the token it sends on its own calls
 * (the pageserver to the safekeepers and to itself from its working copies, a safekeeper to its peers), what it
 * serves HTTPS with, and whom it trusts on its own {@code https://} calls.
 *
 * @param inbound a {@link dev.arbor.server.TokenVerifier}, or {@link HttpApi.Authenticator#INSECURE}
 * @param outbound read on every call ({@code --token-file}); {@link TokenSource#NONE} when the component sends none
 * @param serverTls the certificate both its ports serve ({@code --tls-cert}, {@code --tls-key}); null: plain HTTP
 * @param clientTls the CA bundle its own calls trust ({@code --tls-ca}), which its working copies' restore_command
 *     trusts too; {@link ClientTls#SYSTEM} without one
 */
public record StorageAuth(HttpApi.Authenticator inbound, TokenSource outbound, ServerTls serverTls, ClientTls clientTls) {
  /** Checks nothing and sends nothing: {@code --insecure-no-auth}, and components made in-process by tests. */
  public static final StorageAuth INSECURE = new StorageAuth(HttpApi.Authenticator.INSECURE, TokenSource.NONE);

  public StorageAuth {
    java.util.Objects.requireNonNull(inbound, "inbound");
    java.util.Objects.requireNonNull(outbound, "outbound");
    java.util.Objects.requireNonNull(clientTls, "clientTls");
  }

  /** Plain HTTP, and the JDK's trust store for any https:// call. */
  public StorageAuth(HttpApi.Authenticator inbound, TokenSource outbound) {
    this(inbound, outbound, null, ClientTls.SYSTEM);
  }
}
