package dev.arbor.compute.start;

import dev.arbor.client.auth.TokenSource;
import dev.arbor.api.pageserver.Basebackup;

import dev.arbor.postgres.ServerUser;
import dev.arbor.api.ApiProblem;
import dev.arbor.client.HttpJson;
import dev.arbor.client.Json;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.api.pageserver.Basebackup.RecoveryWal;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fetches the WAL files recovery will read ahead of it, into {@value Basebackup#PREFETCHED_WAL_DIR}
 * in PGDATA, where the basebackup's restore_command takes them instead of downloading them itself. Without
 * it, recovery alternates between waiting for a segment and replaying it; with it, the next segments
 * download while one replays, and the end-of-recovery re-read of the last segment finds it locally.
 *
 * <p>At most {@value #AHEAD} files wait unread (restore_command moves a file out when it takes it), so
 * a long replay never fills the disk. Every file has exactly the bytes restore_command would download
 * under its name (the same URL), written under a temporary name and renamed, so recovery reads the same
 * WAL with or without it. A failure only stops the fetching: restore_command downloads what is missing.
 */
final class WalPrefetch implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(WalPrefetch.class);
  /** Files fetched but not yet taken by recovery: 64 MB with 16 MB segments. */
  static final int AHEAD = 4;
  private static final String PARTIAL = ".part";

  private final Path dir;
  private final RecoveryWal wal;
  private final HttpJson http;
  private final Thread thread;
  private volatile boolean closed;
  private volatile int fetched;
  private volatile int missing;

  private WalPrefetch(Path dir, RecoveryWal wal, TokenSource tokens, ClientTls tls) {
    this.dir = dir;
    this.http = new HttpJson(Duration.ofSeconds(10), tokens, tls);
    this.wal = wal;
    this.thread = wal == null ? null : Thread.ofPlatform().daemon().name("wal-prefetch").unstarted(this::run);
  }

  /**
   * Starts fetching the files the basebackup in {@code pgdata} lists; does nothing when it lists none (a
   * pageserver that does not list them, or nothing to replay). The first file is claimed before this
   * returns, so a PostgreSQL started afterwards waits for it instead of downloading it too.
   */
  static WalPrefetch start(Path pgdata, TokenSource tokens, ClientTls tls) throws IOException {
    Path dir = pgdata.resolve(Basebackup.PREFETCHED_WAL_DIR);
    Path list = pgdata.resolve(Basebackup.RECOVERY_WAL);
    if (!Files.exists(list)) {
      return new WalPrefetch(dir, null, tokens, tls);
    }
    RecoveryWal wal = Json.read(Files.readAllBytes(list), RecoveryWal.class);
    if (wal.files() == null || wal.files().isEmpty() || wal.walUrl() == null) {
      return new WalPrefetch(dir, null, tokens, tls);
    }
    Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    ServerUser.current().handOver(dir); // restore_command, run by PostgreSQL, moves files out of it
    var prefetch = new WalPrefetch(dir, wal, tokens, tls);
    prefetch.claim(wal.files().get(0));
    prefetch.thread.start();
    return prefetch;
  }

  private void run() {
    long t0 = System.nanoTime();
    List<String> files = wal.files();
    Path claimed = dir.resolve(files.get(0) + PARTIAL);
    try {
      for (int i = 0; i < files.size(); i++) {
        String name = files.get(i);
        // Room first, then the claim: a claim never waits for room, so restore_command never waits on a
        // file that is not downloading (e.g. behind files under names recovery did not ask for).
        while (!closed && waiting() >= AHEAD) {
          Thread.sleep(5);
        }
        if (closed) {
          return;
        }
        if (i > 0) {
          claimed = claim(name);
        }
        if (fetch(name, claimed)) {
          fetched++;
        } else {
          missing++; // not (yet) in the archive, e.g. the partial segment at the end of WAL
          Files.deleteIfExists(claimed);
        }
      }
      log.info("event=wal_prefetch_done fetched={} missing={} ms={}", fetched, missing, (System.nanoTime() - t0) / 1_000_000);
    } catch (InterruptedException e) {
      // closed
    } catch (IOException | RuntimeException e) {
      if (!closed) {
        log.info("event=wal_prefetch_stopped fetched={} reason=\"{}\"", fetched, ComputeStartException.describe(e).replace('"', '\''));
      }
    } finally {
      try {
        Files.deleteIfExists(claimed); // restore_command stops waiting for it and downloads the file itself
      } catch (IOException ignored) {
        // close() removes the directory
      }
    }
  }

  /** An empty {@code name.part}: restore_command waits while it exists (see Basebackup#PREFETCHED_WAL_DIR). */
  private Path claim(String name) throws IOException {
    return Files.createFile(dir.resolve(name + PARTIAL), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
  }

  private boolean fetch(String name, Path partial) throws IOException {
    Optional<InputStream> body;
    try {
      body = http.download(wal.walUrl().replace("%f", name), Duration.ofMinutes(2));
    } catch (ApiProblem p) {
      throw new IOException("the pageserver answered HTTP " + p.status() + " for " + name + ": " + p.getMessage(), p);
    }
    if (body.isEmpty()) {
      return false;
    }
    try (InputStream in = body.get(); OutputStream out = Files.newOutputStream(partial, StandardOpenOption.TRUNCATE_EXISTING)) {
      byte[] buffer = new byte[256 * 1024];
      for (int n; (n = in.read(buffer)) >= 0; ) {
        if (closed) {
          throw new IOException("closed");
        }
        out.write(buffer, 0, n);
      }
    }
    // PostgreSQL keeps a restored segment in pg_wal and may recycle it (write into it): it must own it.
    ServerUser.current().handOver(partial);
    Files.move(partial, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE);
    return true;
  }

  /** Fetched files recovery has not taken yet. */
  private int waiting() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return (int) s.filter(p -> !p.getFileName().toString().endsWith(PARTIAL)).count();
    }
  }

  /**
   * Stops fetching and removes the directory with whatever recovery did not take; logs how many files
   * recovery took from it.
   */
  @Override
  public void close() {
    if (wal == null) {
      return;
    }
    closed = true;
    thread.interrupt();
    try {
      thread.join(Duration.ofSeconds(10));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    int left = -1;
    try {
      left = waiting();
      ComputePgdata.deleteTree(dir, false);
    } catch (IOException e) {
      log.info("event=wal_prefetch_cleanup_failed dir={} reason=\"{}\"", dir, ComputeStartException.describe(e).replace('"', '\''));
    }
    log.info("event=wal_prefetch_closed listed={} fetched={} missing={} taken={}", wal.files().size(), fetched, missing,
        left < 0 ? "unknown" : Integer.toString(fetched - left));
  }
}
