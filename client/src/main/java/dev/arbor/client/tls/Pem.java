package dev.arbor.client.tls;

import dev.arbor.client.auth.SigningKey;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

/**
 * Certificates and private keys as PEM files, in the names and encodings a cert-manager Secret holds: {@value #CERT}
 * (the certificate, then any intermediates), {@value #KEY} (its private key) and {@value #CA} (the CA that signed it).
 * Keys are written as PKCS#8 ({@code PRIVATE KEY}) with mode 0600; read as PKCS#8 or as SEC1 ({@code EC PRIVATE KEY},
 * cert-manager's default encoding for ECDSA) or PKCS#1 ({@code RSA PRIVATE KEY}). Encrypted keys are refused.
 */
public final class Pem {
  public static final String CERT = "tls.crt";
  public static final String KEY = "tls.key";
  public static final String CA = "ca.crt";

  private Pem() {}

  /** Writes {@code certificates} in order (the leaf first), replacing the file whole; readable by everyone (0644). */
  public static void writeCertificates(Path file, List<X509Certificate> certificates) throws IOException {
    replace(file, certificatesText(certificates), "rw-r--r--");
  }

  /** Writes {@code key} as PKCS#8 ({@code -----BEGIN PRIVATE KEY-----}) into a file only its owner reads (0600). */
  public static void writePrivateKey(Path file, PrivateKey key) throws IOException {
    SigningKey.writePrivately(file, privateKeyText(key));
  }

  /** {@code certificates} as PEM text, in order: what {@link #writeCertificates} writes, e.g. for a Secret's item. */
  public static String certificatesText(List<X509Certificate> certificates) {
    StringWriter text = new StringWriter();
    try (JcaPEMWriter pem = new JcaPEMWriter(text)) {
      for (X509Certificate c : certificates) {
        pem.writeObject(c);
      }
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e); // a StringWriter does not fail
    }
    return text.toString();
  }

  /** {@code key} as PKCS#8 PEM text: what {@link #writePrivateKey} writes. */
  public static String privateKeyText(PrivateKey key) {
    StringWriter text = new StringWriter();
    try (JcaPEMWriter pem = new JcaPEMWriter(text)) {
      pem.writeObject(new org.bouncycastle.util.io.pem.PemObject("PRIVATE KEY", key.getEncoded()));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return text.toString();
  }

  /** The certificates in {@code file}, in order; a file with none, or with something else, fails naming the file. */
  public static List<X509Certificate> readCertificates(Path file) throws IOException {
    return parseCertificates(read(file, "certificate"), file.toString());
  }

  /** The certificates in {@code bytes} (PEM), in order; none, or something else, fails naming {@code where}. */
  public static List<X509Certificate> parseCertificates(byte[] bytes, String where) throws IOException {
    List<X509Certificate> out = new ArrayList<>();
    try {
      for (var c : CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(bytes))) {
        out.add((X509Certificate) c);
      }
    } catch (CertificateException e) {
      throw new IOException(where + " does not hold PEM certificates (-----BEGIN CERTIFICATE-----): " + withoutClassNames(e.getMessage()));
    }
    if (out.isEmpty()) {
      throw new IOException(where + " holds no certificate; expected PEM (-----BEGIN CERTIFICATE-----)");
    }
    return out;
  }

  /** The private key in {@code file}: PKCS#8, SEC1 (EC) or PKCS#1 (RSA) PEM, not encrypted. */
  public static PrivateKey readPrivateKey(Path file) throws IOException {
    return parsePrivateKey(read(file, "private key"), file.toString());
  }

  /** The private key in {@code bytes}: PKCS#8, SEC1 (EC) or PKCS#1 (RSA) PEM, not encrypted; failures name {@code where}. */
  public static PrivateKey parsePrivateKey(byte[] bytes, String where) throws IOException {
    String text = new String(bytes, StandardCharsets.US_ASCII);
    Object parsed;
    try (PEMParser parser = new PEMParser(new StringReader(text))) {
      do {
        parsed = parser.readObject();
      } while (parsed != null && !(parsed instanceof PrivateKeyInfo || parsed instanceof PEMKeyPair
          || parsed instanceof PEMEncryptedKeyPair || parsed instanceof PKCS8EncryptedPrivateKeyInfo));
    } catch (IOException | RuntimeException e) {
      throw new IOException(where + " is not a PEM private key: " + withoutClassNames(e.getMessage()));
    }
    if (parsed == null) {
      throw new IOException(where + " holds no private key; expected PEM (-----BEGIN PRIVATE KEY----- or -----BEGIN EC PRIVATE KEY-----)");
    }
    if (parsed instanceof PEMEncryptedKeyPair || parsed instanceof PKCS8EncryptedPrivateKeyInfo) {
      throw new IOException(where + " holds an encrypted private key; give it unencrypted (e.g. openssl pkey -in KEY -out KEY.plain)");
    }
    try {
      var converter = new JcaPEMKeyConverter();
      return parsed instanceof PEMKeyPair pair ? converter.getKeyPair(pair).getPrivate() : converter.getPrivateKey((PrivateKeyInfo) parsed);
    } catch (IOException e) {
      throw new IOException(where + ": the private key cannot be used: " + withoutClassNames(e.getMessage()));
    }
  }

  /** Whether {@code key} is the private key of {@code certificate}'s public key: a signature made with one checks with the other. */
  public static boolean matches(PrivateKey key, X509Certificate certificate) {
    PublicKey pub = certificate.getPublicKey();
    if (!key.getAlgorithm().equals(pub.getAlgorithm())) {
      return false;
    }
    String algorithm = switch (key.getAlgorithm()) {
      case "EC" -> "SHA256withECDSA";
      case "RSA" -> "SHA256withRSA";
      default -> key.getAlgorithm(); // Ed25519, Ed448
    };
    try {
      byte[] probe = "arbor key check".getBytes(StandardCharsets.US_ASCII);
      Signature s = Signature.getInstance(algorithm);
      s.initSign(key);
      s.update(probe);
      byte[] signature = s.sign();
      Signature v = Signature.getInstance(algorithm);
      v.initVerify(pub);
      v.update(probe);
      return v.verify(signature);
    } catch (GeneralSecurityException e) {
      return false;
    }
  }

  /** A parser's message as a person reads it: "problem parsing PRIVATE KEY: failed to ...", no Java class names. */
  private static String withoutClassNames(String message) {
    return String.valueOf(message).replaceAll("\\b[a-z]+(\\.[a-z0-9]+)*\\.[A-Z][A-Za-z]*(Exception|Error): ", "");
  }

  private static byte[] read(Path file, String what) throws IOException {
    try {
      return Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new NoSuchFileException(file.toString(), null, "the " + what + " file does not exist");
    } catch (java.nio.file.AccessDeniedException e) {
      throw new java.nio.file.AccessDeniedException(file.toString(), null, "the " + what + " file cannot be read (permission denied)");
    }
  }

  private static void replace(Path file, String content, String permissions) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    Files.createDirectories(parent);
    Path tmp = Files.createTempFile(parent, "." + file.getFileName(), ".tmp", java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
        java.nio.file.attribute.PosixFilePermissions.fromString(permissions)));
    try {
      Files.writeString(tmp, content, StandardCharsets.US_ASCII);
      Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }
}
