package dev.arbor.client.auth;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The file restore_command sends its {@code Authorization} header from ({@code curl -H @FILE}; see
 * {@code Basebackup.STORAGE_AUTH_FILE}): one line, written from a {@link TokenSource} by whoever runs the
 * server, mode 0600. The token stays out of every command line and environment.
 */
public final class AuthHeaderFile {
  private AuthHeaderFile() {}

  /**
   * Writes the header of the token {@code tokens} gives now into {@code file}, replacing it whole; removes the file
   * when there is no token. Returns whether a file was written (the caller hands it to the server's user).
   */
  public static boolean write(Path file, TokenSource tokens) throws IOException {
    Optional<String> token = tokens.token();
    if (token.isEmpty()) {
      Files.deleteIfExists(file);
      return false;
    }
    SigningKey.writePrivately(file, "Authorization: Bearer " + token.get() + "\n");
    return true;
  }
}
