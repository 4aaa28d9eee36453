package dev.arbor.client.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where a caller of the storage engine gets the token it sends as {@code Authorization: Bearer}: none (a server
 * started with {@code --insecure-no-auth}), a fixed token, or a file read again on every request, so a token
 * re-minted into the file (or a rotated key's) is used from the next request on without a restart. Never an
 * environment variable: a process's environment is inherited by its children and shows in {@code /proc}.
 */
@FunctionalInterface
public interface TokenSource {
  /** The token to send now; empty: send none. */
  Optional<String> token() throws IOException;

  TokenSource NONE = Optional::empty;

  /**
   * Whether this token may be sent over plain {@code http://}. Never, unless the caller said so with
   * {@link #allowPlainHttp()}: a token on the wire unencrypted is a token for anyone on the path. {@code HttpJson}
   * refuses to send one otherwise.
   */
  default boolean plainHttpAllowed() {
    return false;
  }

  /**
   * The same tokens, allowed over plain {@code http://} as well: development only (the storage engine's
   * {@code --insecure-no-tls}, a compute spec's {@code storage_insecure_http}, local mode).
   */
  default TokenSource allowPlainHttp() {
    TokenSource tokens = this;
    return new TokenSource() {
      @Override
      public Optional<String> token() throws IOException {
        return tokens.token();
      }

      @Override
      public boolean plainHttpAllowed() {
        return true;
      }

      @Override
      public String toString() {
        return tokens + " (plain HTTP allowed)";
      }
    };
  }

  static TokenSource fixed(String token) {
    if (token == null || token.isBlank()) {
      throw new IllegalArgumentException("a fixed token is not empty");
    }
    Optional<String> it = Optional.of(token.strip());
    return () -> it;
  }

  /** The token in {@code file} (surrounding whitespace ignored), read on every call; a missing or empty file fails the call. */
  static TokenSource file(Path file) {
    return new TokenSource() {
      @Override
      public Optional<String> token() throws IOException {
        String text;
        try {
          text = Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (NoSuchFileException e) {
          throw new NoSuchFileException(file.toString(), null, "the storage token file does not exist");
        }
        if (text.isEmpty()) {
          throw new IOException("the storage token file " + file + " is empty");
        }
        return Optional.of(text);
      }

      @Override
      public String toString() {
        return "token file " + file;
      }
    };
  }

  /** {@link #file} for a path, {@link #NONE} for null: how a {@code --token-file} flag that may be absent is read. */
  static TokenSource fileOrNone(Path file) {
    return file == null ? NONE : file(file);
  }
}
