package dev.arbor.compute.start;

import dev.arbor.api.compute.ComputeAgentSpec;
import dev.arbor.postgres.PostgresServer;
import dev.arbor.postgres.ServerUser;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PostgreSQL's TLS files, from the spec's {@code tls}. PostgreSQL accepts a key file only if it belongs to its own OS
 * user with mode 0600 (or to root with 0640), which a mounted Secret rarely is, so the certificate, the key and the CA
 * are copied into {@code work_dir/tls} (0700, PostgreSQL's user; outside PGDATA, so no basebackup or image can hold
 * the key). PostgreSQL reads its TLS files again on SIGHUP: {@link #watch} copies them again when the spec's files
 * change (a renewed certificate, a rotated CA) and has PostgreSQL reload, with no restart and no dropped connection.
 */
final class ServerTls {
  private static final Logger log = LoggerFactory.getLogger(ServerTls.class);
  static final String DIR = "tls";
  /** How often the spec's files are compared with what PostgreSQL serves. */
  static final Duration WATCH_INTERVAL = Duration.ofSeconds(2);

  private final ComputeAgentSpec.Tls files;
  private final Path dir;
  /** A digest of the three files as last installed. */
  private byte[] installed;

  ServerTls(ComputeAgentSpec.Tls files, Path workDir) {
    this.files = files;
    this.dir = workDir.resolve(DIR);
  }

  Path certFile() {
    return dir.resolve("server.crt");
  }

  Path keyFile() {
    return dir.resolve("server.key");
  }

  Path caFile() {
    return dir.resolve("ca.crt");
  }

  /** The settings that turn TLS on with the installed copies. */
  Map<String, String> settings() {
    Map<String, String> s = new LinkedHashMap<>();
    s.put("ssl", "on");
    s.put("ssl_cert_file", certFile().toString());
    s.put("ssl_key_file", keyFile().toString());
    s.put("ssl_ca_file", caFile().toString());
    return s;
  }

  /** Copies the spec's files into PostgreSQL's private directory; a start refuses files it cannot read, naming the field. */
  void install() throws IOException {
    byte[] cert = read("tls.cert_file", files.certFile());
    byte[] key = read("tls.key_file", files.keyFile());
    byte[] ca = read("tls.ca_file", files.caFile());
    install(cert, key, ca);
  }

  private void install(byte[] cert, byte[] key, byte[] ca) throws IOException {
    if (!Files.isDirectory(dir)) {
      Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
      ServerUser.current().handOver(dir);
    }
    // The key last: a reload between two of these replacements is refused by PostgreSQL (key and certificate do not
    // match) and keeps the previous pair, and the next check installs the whole set again anyway.
    replace(caFile(), ca);
    replace(certFile(), cert);
    replace(keyFile(), key);
    installed = digest(cert, key, ca);
  }

  /** Writes {@code target} whole: a reader sees the old file or the new one, owned by PostgreSQL's user, mode 0600. */
  private void replace(Path target, byte[] content) throws IOException {
    Path tmp = dir.resolve("." + target.getFileName() + ".new");
    Files.deleteIfExists(tmp);
    Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.write(tmp, content);
    ServerUser.current().handOver(tmp);
    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  /**
   * Installs the spec's files again if they changed since the last install; true if they did. Files that cannot be
   * read now (a Secret being updated) count as unchanged: the next check looks again.
   */
  boolean refresh() throws IOException {
    byte[] cert;
    byte[] key;
    byte[] ca;
    try {
      cert = Files.readAllBytes(Path.of(files.certFile()));
      key = Files.readAllBytes(Path.of(files.keyFile()));
      ca = Files.readAllBytes(Path.of(files.caFile()));
    } catch (IOException e) {
      return false;
    }
    if (Arrays.equals(digest(cert, key, ca), installed)) {
      return false;
    }
    install(cert, key, ca);
    return true;
  }

  /**
   * Checks the spec's files every {@link #WATCH_INTERVAL} while {@code server} runs and has PostgreSQL reload its
   * configuration when they changed (PostgreSQL re-reads its TLS files on SIGHUP; files it cannot use are refused
   * with a log line and the previous ones stay in force). Closing stops the checks.
   */
  Watch watch(PostgresServer server) {
    Thread watcher = Thread.ofVirtual().name("tls-watch-" + server.port()).start(() -> {
      while (!Thread.currentThread().isInterrupted()) {
        try {
          Thread.sleep(WATCH_INTERVAL);
          if (server.isRunning() && refresh()) {
            server.psql(ComputeStart.SUPERUSER, "postgres", "SELECT pg_reload_conf()");
            log.info("event=tls_files_reloaded cert_file={} ca_file={}", files.certFile(), files.caFile());
          }
        } catch (InterruptedException e) {
          return;
        } catch (IOException | RuntimeException e) {
          log.warn("event=tls_reload_failed cert_file={} error=\"{}\"", files.certFile(), String.valueOf(e.getMessage()).replace('"', '\''));
        }
      }
    });
    return watcher::interrupt;
  }

  /** Stops checking the files. */
  interface Watch extends AutoCloseable {
    Watch NONE = () -> {};

    @Override
    void close();
  }

  private static byte[] read(String field, String file) {
    try {
      return Files.readAllBytes(Path.of(file));
    } catch (NoSuchFileException e) {
      throw new ComputeStartException(field + ": " + file + " does not exist; mount the compute's certificate Secret there or fix "
          + field);
    } catch (AccessDeniedException e) {
      throw new ComputeStartException(field + ": " + file + " cannot be read by the compute agent (permission denied)");
    } catch (IOException e) {
      throw new ComputeStartException(field + ": cannot read " + file + " (" + ComputeStartException.describe(e) + ")", e);
    }
  }

  private static byte[] digest(byte[]... parts) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      for (byte[] p : parts) {
        sha.update(Integer.toString(p.length).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        sha.update((byte) ':');
        sha.update(p);
      }
      return sha.digest();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
