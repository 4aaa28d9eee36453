package dev.arbor.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;

/**
 * A certificate authority for tests, made with the {@code openssl} command line in a directory of the test's (ECDSA
 * P-256, PEM, keys as PKCS#8 unless asked otherwise). Independent of any Java CA code of Arbor's, so a test of TLS
 * does not check Arbor's certificates with Arbor's own understanding of them.
 */
public final class TestCertificates {
  private static final AtomicLong SERIALS = new AtomicLong(System.currentTimeMillis());

  private final Path dir;
  private final String name;

  private TestCertificates(Path dir, String name) {
    this.dir = dir;
    this.name = name;
  }

  /** A certificate and its key file. */
  public record Issued(Path cert, Path key) {}

  /** A new self-signed CA {@code name}, its files in {@code dir/name}. */
  public static TestCertificates ca(Path dir, String name) {
    Path caDir = dir.resolve(name);
    try {
      Files.createDirectories(caDir);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    openssl(caDir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    return new TestCertificates(caDir, name);
  }

  /** The CA's certificate (PEM). */
  public Path caCert() {
    return dir.resolve("ca.crt");
  }

  /**
   * Issues a certificate for both server and client use with subject {@code CN=commonName} and DNS names {@code dnsNames}
   * into {@code dir/CA/file.crt} and {@code .key}, replacing files of the same name whole (as a renewal does).
   */
  public Issued issue(String file, String commonName, String... dnsNames) {
    Path work = dir.resolve("work-" + file);
    try {
      Files.createDirectories(work);
      String ext = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n"
          + (dnsNames.length == 0 ? "" : "subjectAltName=" + List.of(dnsNames).stream().map(n -> "DNS:" + n)
              .collect(Collectors.joining(",")) + "\n");
      Files.writeString(work.resolve("ext.cnf"), ext);
      openssl(work, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
          "-subj", "/CN=" + commonName);
      openssl(work, "x509", "-req", "-in", "leaf.csr", "-CA", caCert().toString(), "-CAkey", dir.resolve("ca.key").toString(),
          "-set_serial", Long.toString(SERIALS.incrementAndGet()), "-days", "1", "-extfile", "ext.cnf", "-out", "leaf.crt");
      Path cert = dir.resolve(file + ".crt");
      Path key = dir.resolve(file + ".key");
      Files.move(work.resolve("leaf.key"), key, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      Files.move(work.resolve("leaf.crt"), cert, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      return new Issued(cert, key);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The key of {@code issued} in another encoding: {@code traditional} (SEC1 {@code EC PRIVATE KEY}) or {@code der} (PKCS#8 DER). */
  public Path convertKey(Issued issued, String format) {
    Path out = issued.key().resolveSibling(issued.key().getFileName() + "." + format);
    switch (format) {
      case "traditional" -> openssl(dir, "pkey", "-in", issued.key().toString(), "-traditional", "-out", out.toString());
      case "der" -> openssl(dir, "pkcs8", "-topk8", "-nocrypt", "-in", issued.key().toString(), "-outform", "DER", "-out", out.toString());
      default -> throw new IllegalArgumentException("format " + format);
    }
    return out;
  }

  /** The serial number of the certificate in {@code cert}. */
  public static BigInteger serial(Path cert) {
    try (var in = Files.newInputStream(cert)) {
      return ((X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in)).getSerialNumber();
    } catch (Exception e) {
      throw new IllegalStateException("cannot read " + cert + ": " + e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    return "TestCertificates[" + name + "]";
  }

  /** Runs openssl in {@code dir}; a missing openssl fails with how to get it. */
  public static String openssl(Path dir, String... args) {
    List<String> cmd = new ArrayList<>(List.of("openssl"));
    cmd.addAll(List.of(args));
    try {
      Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(Duration.ofSeconds(60).toSeconds(), TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IllegalStateException("openssl " + String.join(" ", args) + " failed: " + out);
      }
      return out;
    } catch (IOException e) {
      throw new IllegalStateException("cannot run openssl (" + e.getMessage() + "): TLS tests make their certificates with the openssl "
          + "command line; install it (apt-get install openssl)", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted running openssl", e);
    }
  }
}
