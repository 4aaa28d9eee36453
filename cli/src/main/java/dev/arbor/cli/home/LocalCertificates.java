package dev.arbor.cli.home;

import dev.arbor.cli.CliException;
import dev.arbor.client.tls.CertificateAuthority;
import dev.arbor.client.tls.ClientTls;
import dev.arbor.client.tls.Pem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;

/**
 * TLS of a local installation, as an installation on Kubernetes has it: a CA of its own and a certificate for the
 * storage daemons, issued by it. Files (cert-manager's names, {@link Pem}):
 * <pre>
 * tls/ca/ca.crt        the CA certificate: what the CLI, the computes and the daemons trust, and nothing else
 * tls/ca/tls.key       its private key (0600; the directory 0700)
 * tls/storage/         the daemons' certificate: tls.crt, tls.key (0600), ca.crt
 * endpoints/&lt;project&gt;/&lt;branch&gt;/tls/   a compute's PostgreSQL certificate ({@link #ensureCompute})
 * </pre>
 * The first {@code up} makes both; each later {@code up} keeps the CA and issues the daemons' certificate again when
 * less than a third of its life is left. The daemons read the files again when they change, so a renewal needs no
 * restart.
 */
public final class LocalCertificates {
  /** The local CA's life: long, since every endpoint's spec and every running client trusts it. */
  public static final Duration CA_VALIDITY = Duration.ofDays(3650);
  /** The daemons' certificate's life; renewed by an {@code up} once less than a third of it is left (30 days). */
  public static final Duration STORAGE_VALIDITY = Duration.ofDays(90);
  /**
   * The CN of the daemons' certificate. The safekeepers present it as their client identity when they replicate from a
   * compute, whose PostgreSQL maps the certificate's CN to the role of that name (clientcert=verify-full).
   */
  public static final String STORAGE_COMMON_NAME = "arbor_replication";
  private static final String CA_COMMON_NAME = "arbor-local-ca";

  /** What {@link #ensure} did to the daemons' certificate. */
  public enum Outcome { KEPT, ISSUED, RENEWED }

  private final Path dir;

  LocalCertificates(Path dir) {
    this.dir = dir;
  }

  /** The CA bundle every local client trusts: {@code --tls-ca} of the daemons, {@code storage_ca_file} of the computes. */
  public Path caFile() {
    return dir.resolve("ca").resolve(Pem.CA);
  }

  /** The directory of the daemons' certificate: {@code tls.crt}, {@code tls.key}, {@code ca.crt}. */
  public Path storageDirectory() {
    return dir.resolve("storage");
  }

  public Path storageCertificate() {
    return storageDirectory().resolve(Pem.CERT);
  }

  public Path storageKey() {
    return storageDirectory().resolve(Pem.KEY);
  }

  /**
   * Makes the CA if there is none, and issues the daemons' certificate if there is none, it cannot be used (unreadable,
   * not this CA's, a key that is not its own) or less than a third of its life is left.
   */
  public Outcome ensure() {
    return ensureLeaf(storageDirectory(), STORAGE_COMMON_NAME, Set.of(CertificateAuthority.Usage.SERVER, CertificateAuthority.Usage.CLIENT));
  }

  /**
   * A local compute's PostgreSQL certificate in {@code dir} ({@code tls.crt}, {@code tls.key} 0600, {@code ca.crt}): DNS
   * {@code localhost} (the name the safekeepers connect to and verify) and IP {@code 127.0.0.1}, serverAuth, issued when
   * missing or under a third of its life, as {@link #ensure} does for the daemons' one; kept otherwise.
   */
  public Outcome ensureCompute(Path dir) {
    return ensureLeaf(dir, "arbor-local-compute", Set.of(CertificateAuthority.Usage.SERVER));
  }

  private Outcome ensureLeaf(Path leafDir, String commonName, Set<CertificateAuthority.Usage> usages) {
    CertificateAuthority ca = caMadeOrLoaded();
    Path cert = leafDir.resolve(Pem.CERT);
    Outcome outcome;
    if (!Files.exists(cert)) {
      outcome = Outcome.ISSUED;
    } else if (usable(ca, cert, leafDir.resolve(Pem.KEY))) {
      return Outcome.KEPT;
    } else {
      outcome = Outcome.RENEWED;
    }
    Instant caEnd = ca.certificate().getNotAfter().toInstant();
    Duration caLeft = Duration.between(Instant.now(), caEnd);
    if (caLeft.compareTo(Duration.ofDays(1)) < 0) {
      throw new CliException("the local CA " + caFile() + " expires " + caEnd + "; to make a new one, run ./arbor down, remove "
          + dir + ", and run ./arbor up (it makes a new CA and certificate)");
    }
    try {
      ca.issue(commonName, List.of("localhost"), List.of("127.0.0.1"), usages,
          caLeft.compareTo(STORAGE_VALIDITY) < 0 ? caLeft : STORAGE_VALIDITY).writeTo(leafDir);
    } catch (IOException e) {
      throw new CliException("cannot write a TLS certificate into " + leafDir + ": " + e.getMessage());
    }
    return outcome;
  }

  /** Whom the CLI's own calls trust: this installation's CA only. */
  public ClientTls clientTls() {
    try {
      return ClientTls.trusting(caFile());
    } catch (IOException e) {
      throw new CliException("cannot read the local CA " + caFile() + ": " + e.getMessage() + "; ./arbor up makes it");
    }
  }

  private CertificateAuthority caMadeOrLoaded() {
    Path caDir = caFile().getParent();
    try {
      if (Files.exists(caFile())) {
        return CertificateAuthority.load(caDir);
      }
      Files.createDirectories(caDir);
      Files.setPosixFilePermissions(caDir, PosixFilePermissions.fromString("rwx------"));
      CertificateAuthority ca = CertificateAuthority.create(CA_COMMON_NAME, CA_VALIDITY);
      ca.writeTo(caDir);
      return ca;
    } catch (IOException e) {
      throw new CliException("cannot read or create the local CA in " + caDir + ": " + e.getMessage()
          + "; to start over with a new CA, run ./arbor down, remove " + dir + ", and run ./arbor up");
    }
  }

  /** Whether the daemons' certificate chains to {@code ca}, has its own key beside it, and has a third of its life or more left. */
  private static boolean usable(CertificateAuthority ca, Path certFile, Path keyFile) {
    try {
      X509Certificate cert = Pem.readCertificates(certFile).get(0);
      cert.verify(ca.publicKey());
      if (!Pem.matches(Pem.readPrivateKey(keyFile), cert)) {
        return false;
      }
      Instant start = cert.getNotBefore().toInstant();
      Instant end = cert.getNotAfter().toInstant();
      Duration life = Duration.between(start, end);
      return Duration.between(Instant.now(), end).compareTo(life.dividedBy(3)) >= 0;
    } catch (IOException | GeneralSecurityException e) {
      return false;
    }
  }
}
