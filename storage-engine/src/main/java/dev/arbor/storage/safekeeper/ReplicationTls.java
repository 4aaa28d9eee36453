package dev.arbor.storage.safekeeper;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The safekeeper's TLS identity toward computes ({@code --tls-cert}, {@code --tls-key}, {@code --tls-ca}): a WAL
 * receiver checks the compute's certificate against {@code caFile} and presents {@code certFile} as its client
 * certificate, whose common name the compute's pg_hba requires to be the replication role ({@value #CLIENT_NAME}).
 *
 * <p>The files are PEM as Kubernetes Secrets and cert-manager hold them: certificates, and a private key as PKCS#8
 * ({@code PRIVATE KEY}), SEC1 ({@code EC PRIVATE KEY}) or PKCS#1 ({@code RSA PRIVATE KEY}), unencrypted. pgjdbc reads
 * keys only as PKCS#8 DER or PKCS#12 files, so the key is converted here, in memory; no copy of it is written. They are
 * read again for every connection ({@link #sslContext()}): a renewed certificate is used from the next one on.
 */
public record ReplicationTls(Path certFile, Path keyFile, Path caFile) {

  /** The common name the compute's pg_hba requires of the safekeepers' client certificates: the replication role. */
  public static final String CLIENT_NAME = "arbor_replication";

  private static final Pattern PEM = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]+)-----END \\1-----");

  /** A file that cannot serve as what it was given for; the message names the flag and the file. */
  public static final class MaterialException extends IOException {
    MaterialException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** Reads every file once, so that a start with unusable files fails at once, naming the flag. */
  public ReplicationTls checked() throws MaterialException {
    sslContext();
    X509Certificate cert = (X509Certificate) certificates(certFile, "--tls-cert").getFirst();
    PrivateKey key = privateKey(keyFile);
    if (!signsFor(key, cert)) {
      throw new MaterialException("--tls-key " + keyFile + " does not go with --tls-cert " + certFile + " (a signature made with the "
          + "key does not verify with the certificate); give the key of that certificate", null);
    }
    return this;
  }

  /** Whether {@code key} is the private half of {@code cert}'s public key: a signature made with it verifies. */
  private static boolean signsFor(PrivateKey key, X509Certificate cert) {
    String algorithm = switch (key.getAlgorithm()) {
      case "EC" -> "SHA256withECDSA";
      case "RSA" -> "SHA256withRSA";
      default -> key.getAlgorithm(); // Ed25519, Ed448
    };
    try {
      byte[] probe = "arbor replication identity".getBytes(StandardCharsets.US_ASCII);
      java.security.Signature signer = java.security.Signature.getInstance(algorithm);
      signer.initSign(key);
      signer.update(probe);
      byte[] signature = signer.sign();
      java.security.Signature verifier = java.security.Signature.getInstance(algorithm);
      verifier.initVerify(cert.getPublicKey());
      verifier.update(probe);
      return verifier.verify(signature);
    } catch (GeneralSecurityException | RuntimeException e) {
      return false; // e.g. an EC key and an RSA certificate
    }
  }

  /** The certificate's subject common name (what the compute's pg_hba compares with the role), or "" without one. */
  public String clientCommonName() throws MaterialException {
    X509Certificate cert = (X509Certificate) certificates(certFile, "--tls-cert").getFirst();
    try {
      for (Rdn rdn : new LdapName(cert.getSubjectX500Principal().getName()).getRdns()) {
        if (rdn.getType().equalsIgnoreCase("CN")) {
          return String.valueOf(rdn.getValue());
        }
      }
      return "";
    } catch (javax.naming.InvalidNameException e) {
      return "";
    }
  }

  /** A TLS context from the files as they are now: the CA as the only trust anchor, the certificate as client identity. */
  public SSLContext sslContext() throws MaterialException {
    List<Certificate> chain = certificates(certFile, "--tls-cert");
    List<Certificate> cas = certificates(caFile, "--tls-ca");
    PrivateKey key = privateKey(keyFile);
    try {
      KeyStore identity = KeyStore.getInstance("PKCS12");
      identity.load(null, null);
      char[] none = new char[0];
      identity.setKeyEntry("client", key, none, chain.toArray(Certificate[]::new));
      KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(identity, none);
      KeyStore trust = KeyStore.getInstance("PKCS12");
      trust.load(null, null);
      for (int i = 0; i < cas.size(); i++) {
        trust.setCertificateEntry("ca-" + i, cas.get(i));
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
      return context;
    } catch (GeneralSecurityException | IOException e) {
      throw new MaterialException("--tls-key " + keyFile + " does not go with --tls-cert " + certFile + " (" + e.getMessage()
          + "); give the key of that certificate", e);
    }
  }

  private static List<Certificate> certificates(Path file, String flag) throws MaterialException {
    byte[] pem = read(file, flag);
    try {
      List<Certificate> certs = new ArrayList<>(CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(pem)));
      if (certs.isEmpty()) {
        throw new MaterialException(flag + " " + file + " holds no certificate; give a PEM file with -----BEGIN CERTIFICATE-----", null);
      }
      return certs;
    } catch (GeneralSecurityException e) {
      throw new MaterialException(flag + " " + file + " is not a PEM certificate file (" + e.getMessage() + ")", e);
    }
  }

  private static PrivateKey privateKey(Path file) throws MaterialException {
    String text = new String(read(file, "--tls-key"), StandardCharsets.US_ASCII);
    Matcher m = PEM.matcher(text);
    while (m.find()) {
      String type = m.group(1);
      byte[] der;
      try {
        der = Base64.getMimeDecoder().decode(m.group(2));
      } catch (IllegalArgumentException e) {
        throw new MaterialException("--tls-key " + file + ": the " + type + " block is not base64", e);
      }
      byte[] pkcs8 = switch (type) {
        case "PRIVATE KEY" -> der;
        case "EC PRIVATE KEY" -> Der.sec1ToPkcs8(der);
        case "RSA PRIVATE KEY" -> Der.pkcs1ToPkcs8(der);
        case "ENCRYPTED PRIVATE KEY" -> throw new MaterialException("--tls-key " + file + " is encrypted; give the key unencrypted "
            + "(a file only the safekeeper can read)", null);
        default -> null;
      };
      if (pkcs8 == null) {
        continue; // e.g. EC PARAMETERS before the key
      }
      for (String algorithm : List.of("EC", "RSA", "Ed25519", "Ed448")) {
        try {
          return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
        } catch (GeneralSecurityException | RuntimeException notThisOne) {
          // try the next algorithm
        }
      }
      throw new MaterialException("--tls-key " + file + ": the " + type + " block is not an EC, RSA or EdDSA private key", null);
    }
    throw new MaterialException("--tls-key " + file + " holds no private key; give a PEM file with -----BEGIN PRIVATE KEY----- "
        + "(or EC PRIVATE KEY, RSA PRIVATE KEY)", null);
  }

  private static byte[] read(Path file, String flag) throws MaterialException {
    try {
      return Files.readAllBytes(file);
    } catch (IOException e) {
      throw new MaterialException(flag + " " + file + " cannot be read (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")", e);
    }
  }

  /** Just enough DER to put the key formats of OpenSSL and cert-manager into the PKCS#8 envelope Java reads. */
  static final class Der {
    private static final byte SEQUENCE = 0x30;
    private static final byte INTEGER = 0x02;
    private static final byte OCTET_STRING = 0x04;
    private static final byte OID = 0x06;
    private static final byte[] EC_PUBLIC_KEY = {0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01}; // 1.2.840.10045.2.1
    private static final byte[] RSA_ENCRYPTION = {0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01};

    private Der() {}

    /** PKCS#1 RSAPrivateKey → PrivateKeyInfo {0, {rsaEncryption, NULL}, OCTET STRING key}. */
    static byte[] pkcs1ToPkcs8(byte[] pkcs1) {
      byte[] algorithm = tlv(SEQUENCE, concat(tlv(OID, RSA_ENCRYPTION), new byte[] {0x05, 0x00}));
      return tlv(SEQUENCE, concat(tlv(INTEGER, new byte[] {0}), algorithm, tlv(OCTET_STRING, pkcs1)));
    }

    /**
     * SEC1 ECPrivateKey {1, OCTET STRING d, [0] curve OID, [1] public key} → PrivateKeyInfo {0, {ecPublicKey, curve},
     * OCTET STRING key}: Java needs the curve in the envelope.
     */
    static byte[] sec1ToPkcs8(byte[] sec1) throws MaterialException {
      byte[] curve = null;
      int[] pos = {0};
      byte[] body = read(sec1, pos, SEQUENCE);
      int[] in = {0};
      read(body, in, INTEGER);
      read(body, in, OCTET_STRING);
      while (in[0] < body.length) {
        int tag = body[in[0]] & 0xff;
        byte[] value = read(body, in, body[in[0]]);
        if (tag == 0xa0) {
          curve = value; // [0] EXPLICIT: the OID's whole TLV
        }
      }
      if (curve == null) {
        throw new MaterialException("--tls-key: the EC PRIVATE KEY names no curve; write it as PKCS#8 (openssl pkcs8 -topk8 -nocrypt)", null);
      }
      byte[] algorithm = tlv(SEQUENCE, concat(tlv(OID, EC_PUBLIC_KEY), curve));
      return tlv(SEQUENCE, concat(tlv(INTEGER, new byte[] {0}), algorithm, tlv(OCTET_STRING, sec1)));
    }

    private static byte[] read(byte[] der, int[] pos, byte expectedTag) throws MaterialException {
      try {
        if (der[pos[0]] != expectedTag) {
          throw new MaterialException("--tls-key: unexpected DER tag " + (der[pos[0]] & 0xff) + " in the EC PRIVATE KEY", null);
        }
        int p = pos[0] + 1;
        int length = der[p++] & 0xff;
        if (length > 0x80) {
          int bytes = length & 0x7f;
          length = 0;
          for (int i = 0; i < bytes; i++) {
            length = (length << 8) | (der[p++] & 0xff);
          }
        }
        byte[] value = java.util.Arrays.copyOfRange(der, p, p + length);
        pos[0] = p + length;
        return value;
      } catch (ArrayIndexOutOfBoundsException e) {
        throw new MaterialException("--tls-key: the EC PRIVATE KEY is truncated", e);
      }
    }

    static byte[] tlv(byte tag, byte[] value) {
      var out = new ByteArrayOutputStream();
      out.write(tag);
      int n = value.length;
      if (n < 0x80) {
        out.write(n);
      } else {
        int bytes = n > 0xffffff ? 4 : n > 0xffff ? 3 : n > 0xff ? 2 : 1;
        out.write(0x80 | bytes);
        for (int i = bytes - 1; i >= 0; i--) {
          out.write(n >>> (8 * i));
        }
      }
      out.writeBytes(value);
      return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
      var out = new ByteArrayOutputStream();
      for (byte[] p : parts) {
        out.writeBytes(p);
      }
      return out.toByteArray();
    }
  }
}
