package dev.arbor.compute.start;

import dev.arbor.api.pageserver.Basebackup;
import dev.arbor.client.auth.TokenSource;
import dev.arbor.postgres.ServerUser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * restore_command's header file, {@code PGDATA/}{@value Basebackup#STORAGE_AUTH_FILE}: the compute's storage token as
 * one {@code Authorization} line that {@code curl -H @FILE} sends (the token stays out of every command line). The
 * token file is replaced under a running compute (on Kubernetes, the kubelet swaps the mounted Secret after the operator
 * minted the token again), and a compute that runs for long keeps calling restore_command; so {@link #keepFresh} looks
 * at the token every {@link #POLL} and rewrites the header when it differs. Every write is whole: a temporary file in
 * PGDATA, mode 0600, handed to PostgreSQL's OS user, then renamed over the old one, so restore_command reads the old
 * header or the new one, never a part, and never one it may not read.
 */
public final class StorageAuthHeader implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(StorageAuthHeader.class);
  /** How often the token file is compared with the header: a re-minted token is sent within this (plus the kubelet's delay). */
  public static final Duration POLL = Duration.ofSeconds(2);

  private final Path pgdata;
  private final TokenSource tokens;
  private final ScheduledExecutorService timer;
  /** The last failure logged, so a token file that stays unreadable is logged once, not every poll. */
  private String lastFailure;

  private StorageAuthHeader(Path pgdata, TokenSource tokens, ScheduledExecutorService timer) {
    this.pgdata = pgdata;
    this.tokens = tokens;
    this.timer = timer;
  }

  /**
   * Writes the header of the token {@code tokens} gives now into {@code pgdata}, replacing it whole; removes it when
   * there is no token. Returns whether the file changed.
   */
  public static boolean write(Path pgdata, TokenSource tokens) throws IOException {
    Path file = pgdata.resolve(Basebackup.STORAGE_AUTH_FILE);
    Optional<String> token = tokens.token();
    if (token.isEmpty()) {
      return Files.deleteIfExists(file);
    }
    String header = "Authorization: Bearer " + token.get() + "\n";
    if (header.equals(readIfExists(file))) {
      return false;
    }
    Path tmp = Files.createTempFile(pgdata, "." + Basebackup.STORAGE_AUTH_FILE, ".tmp",
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    try {
      Files.writeString(tmp, header, StandardCharsets.UTF_8);
      ServerUser.current().handOver(tmp);
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
    return true;
  }

  /**
   * Keeps the header of a running compute's PGDATA in step with its token until closed. Nothing is polled for a
   * compute without a token.
   */
  public static StorageAuthHeader keepFresh(Path pgdata, TokenSource tokens) {
    if (tokens == TokenSource.NONE) {
      return new StorageAuthHeader(pgdata, tokens, null);
    }
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
        r -> Thread.ofPlatform().daemon().name("storage-auth-header").unstarted(r));
    var header = new StorageAuthHeader(pgdata, tokens, timer);
    timer.scheduleWithFixedDelay(header::refresh, POLL.toMillis(), POLL.toMillis(), TimeUnit.MILLISECONDS);
    return header;
  }

  private void refresh() {
    try {
      if (write(pgdata, tokens)) {
        log.info("event=storage_auth_header_refreshed file={}", pgdata.resolve(Basebackup.STORAGE_AUTH_FILE));
      }
      lastFailure = null;
    } catch (IOException | RuntimeException e) {
      String failure = e instanceof NoSuchFileException n ? "missing " + n.getFile() : Objects.toString(e.getMessage(), e.toString());
      if (!failure.equals(lastFailure)) {
        // The header keeps the previous token, which is still valid until the half-life of the new one has passed.
        log.warn("event=storage_auth_header_refresh_failed error=\"{}\"", failure);
        lastFailure = failure;
      }
    }
  }

  private static String readIfExists(Path file) throws IOException {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      return null;
    }
  }

  @Override
  public void close() {
    if (timer != null) {
      timer.shutdownNow();
    }
  }
}
