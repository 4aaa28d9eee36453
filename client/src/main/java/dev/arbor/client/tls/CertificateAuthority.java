package dev.arbor.client.tls;

import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A certificate authority for TLS between Arbor's components: an ECDSA P-256 key and a self-signed certificate
 * ({@code CA:true}, key usage {@code keyCertSign, cRLSign}), which issues leaf certificates (ECDSA P-256, subject
 * alternative names for DNS names and IP addresses, extended key usage serverAuth and/or clientAuth). Files are the
 * names of a cert-manager Secret ({@link Pem}): the CA as {@code ca.crt} + {@code tls.key} of its own directory, a leaf
 * as {@code tls.crt}, {@code tls.key} and {@code ca.crt}.
 *
 * <p>Every certificate starts 5 minutes in the past, so a peer whose clock is a little behind accepts it at once.
 */
public final class CertificateAuthority {
  /** What a leaf certificate may be used for (its extended key usage). */
  public enum Usage { SERVER, CLIENT }

  /** A leaf certificate, its private key and the CA certificate that signed it. */
  public record Issued(X509Certificate certificate, PrivateKey key, X509Certificate ca) {
    /** Writes {@value Pem#CERT}, {@value Pem#KEY} (0600) and {@value Pem#CA} into {@code dir}, each replaced whole. */
    public void writeTo(Path dir) throws IOException {
      Pem.writeCertificates(dir.resolve(Pem.CERT), List.of(certificate));
      Pem.writePrivateKey(dir.resolve(Pem.KEY), key);
      Pem.writeCertificates(dir.resolve(Pem.CA), List.of(ca));
    }
  }

  static final Duration BACKDATE = Duration.ofMinutes(5);
  private static final String SIGNATURE = "SHA256withECDSA";
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Pattern DNS_LABEL = Pattern.compile("^(?!-)[a-z0-9-]{1,63}(?<!-)$");

  private final X509Certificate certificate;
  private final PrivateKey key;

  private CertificateAuthority(X509Certificate certificate, PrivateKey key) {
    this.certificate = certificate;
    this.key = key;
  }

  /** A new CA: a fresh P-256 key and a self-signed certificate with {@code CN=commonName}, valid for {@code validity}. */
  public static CertificateAuthority create(String commonName, Duration validity) {
    return create(commonName, validity, Instant.now());
  }

  /** {@link #create(String, Duration)} as of {@code now} (an operator's clock). */
  public static CertificateAuthority create(String commonName, Duration validity, Instant now) {
    requirePositive(validity);
    KeyPair pair = newKeyPair();
    X500Name subject = name(commonName);
    try {
      var extensions = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, serial(), Date.from(now.minus(BACKDATE)),
          Date.from(now.plus(validity)), subject, pair.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
          .addExtension(Extension.subjectKeyIdentifier, false, extensions.createSubjectKeyIdentifier(pair.getPublic()));
      return new CertificateAuthority(sign(b, pair.getPrivate()), pair.getPrivate());
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot make a CA certificate: " + e.getMessage(), e);
    }
  }

  /** The CA written by {@link #writeTo}: its certificate {@code dir/ca.crt} and key {@code dir/tls.key}. */
  public static CertificateAuthority load(Path dir) throws IOException {
    return of(Pem.readCertificates(dir.resolve(Pem.CA)).get(0), Pem.readPrivateKey(dir.resolve(Pem.KEY)), dir.resolve(Pem.CA).toString(),
        dir.resolve(Pem.KEY).toString());
  }

  /**
   * A CA of a certificate and its key read elsewhere (a Secret's items, named by {@code certWhere} and {@code keyWhere}
   * in the errors): the key must be the certificate's, and the certificate a CA's.
   */
  public static CertificateAuthority of(X509Certificate cert, PrivateKey key, String certWhere, String keyWhere) throws IOException {
    if (!Pem.matches(key, cert)) {
      throw new IOException(keyWhere + " is not the private key of the CA certificate " + certWhere);
    }
    if (cert.getBasicConstraints() < 0) {
      throw new IOException(certWhere + " is not a CA certificate (no CA:true basic constraint)");
    }
    return new CertificateAuthority(cert, key);
  }

  public PrivateKey privateKey() {
    return key;
  }

  /** Writes the CA's certificate as {@code dir/ca.crt} and its key as {@code dir/tls.key} (0600). */
  public void writeTo(Path dir) throws IOException {
    Pem.writeCertificates(dir.resolve(Pem.CA), List.of(certificate));
    Pem.writePrivateKey(dir.resolve(Pem.KEY), key);
  }

  public X509Certificate certificate() {
    return certificate;
  }

  /**
   * A leaf certificate with a fresh P-256 key, {@code CN=commonName}, the given DNS names and IP addresses as its
   * subject alternative names (at least one of them), valid for {@code validity} (not past the CA's own end).
   */
  public Issued issue(String commonName, List<String> dnsNames, List<String> ipAddresses, Set<Usage> usages, Duration validity) {
    return issue(commonName, dnsNames, ipAddresses, usages, validity, Instant.now());
  }

  /** {@link #issue(String, List, List, Set, Duration)} as of {@code now} (an operator's clock). */
  public Issued issue(String commonName, List<String> dnsNames, List<String> ipAddresses, Set<Usage> usages, Duration validity,
      Instant now) {
    requirePositive(validity);
    if (usages.isEmpty()) {
      throw new IllegalArgumentException("usages: give SERVER, CLIENT or both");
    }
    List<GeneralName> names = new ArrayList<>();
    for (String dns : dnsNames) {
      names.add(new GeneralName(GeneralName.dNSName, checkDnsName(dns)));
    }
    for (String ip : ipAddresses) {
      names.add(new GeneralName(GeneralName.iPAddress, checkIpAddress(ip)));
    }
    if (names.isEmpty()) {
      throw new IllegalArgumentException("give at least one DNS name or IP address: clients check the host they called against them");
    }
    Instant notAfter = now.plus(validity);
    if (notAfter.isAfter(certificate.getNotAfter().toInstant())) {
      throw new IllegalArgumentException("validity " + validity + " ends after the CA's certificate (" + certificate.getNotAfter().toInstant()
          + "); issue for less, or renew the CA first");
    }
    KeyPair pair = newKeyPair();
    List<KeyPurposeId> purposes = new ArrayList<>();
    if (usages.contains(Usage.SERVER)) {
      purposes.add(KeyPurposeId.id_kp_serverAuth);
    }
    if (usages.contains(Usage.CLIENT)) {
      purposes.add(KeyPurposeId.id_kp_clientAuth);
    }
    try {
      var extensions = new JcaX509ExtensionUtils();
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(certificate, serial(), Date.from(now.minus(BACKDATE)),
          Date.from(notAfter), name(commonName), pair.getPublic())
          .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
          .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
          .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purposes.toArray(KeyPurposeId[]::new)))
          .addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.toArray(GeneralName[]::new)))
          .addExtension(Extension.subjectKeyIdentifier, false, extensions.createSubjectKeyIdentifier(pair.getPublic()))
          .addExtension(Extension.authorityKeyIdentifier, false, extensions.createAuthorityKeyIdentifier(certificate));
      return new Issued(sign(b, key), pair.getPrivate(), certificate);
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalStateException("cannot issue a certificate for " + commonName + ": " + e.getMessage(), e);
    }
  }

  private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey signer) throws GeneralSecurityException {
    try {
      return new JcaX509CertificateConverter().getCertificate(builder.build(new JcaContentSignerBuilder(SIGNATURE).build(signer)));
    } catch (OperatorCreationException e) {
      throw new GeneralSecurityException(e.getMessage(), e);
    }
  }

  private static KeyPair newKeyPair() {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
      g.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
      return g.generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JVM cannot make P-256 keys: " + e.getMessage(), e);
    }
  }

  /** RFC 5280 4.1.2.2: positive, at most 20 octets; 127 random bits, unpredictable like CA/B Forum asks (64 bits or more). */
  private static BigInteger serial() {
    return new BigInteger(127, RANDOM).setBit(126);
  }

  private static X500Name name(String commonName) {
    if (commonName == null || commonName.isBlank()) {
      throw new IllegalArgumentException("commonName: give a name for the certificate's subject (CN)");
    }
    return new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.CN, commonName).build();
  }

  private static String checkDnsName(String name) {
    Objects.requireNonNull(name, "dnsNames holds null");
    String n = name.toLowerCase(java.util.Locale.ROOT);
    String rest = n.startsWith("*.") ? n.substring(2) : n;
    if (n.length() > 253 || rest.isEmpty() || !java.util.Arrays.stream(rest.split("\\.", -1)).allMatch(l -> DNS_LABEL.matcher(l).matches())) {
      throw new IllegalArgumentException("dnsNames: '" + name + "' is not a DNS name (labels of letters, digits and '-', dot-separated; "
          + "a leading '*.' for a wildcard); give IP addresses as ipAddresses");
    }
    return n;
  }

  private static String checkIpAddress(String ip) {
    Objects.requireNonNull(ip, "ipAddresses holds null");
    boolean literal = ip.contains(":") ? ip.matches("^[0-9a-fA-F:.]+$")
        : ip.matches("^\\d{1,3}(\\.\\d{1,3}){3}$") && java.util.Arrays.stream(ip.split("\\.")).allMatch(o -> Integer.parseInt(o) <= 255);
    if (literal) {
      try {
        return InetAddress.getByName(ip).getHostAddress(); // a literal is parsed, never looked up
      } catch (java.net.UnknownHostException e) {
        // reported below
      }
    }
    throw new IllegalArgumentException("ipAddresses: '" + ip + "' is not an IPv4 or IPv6 address; give host names as dnsNames");
  }

  private static void requirePositive(Duration validity) {
    if (validity == null || validity.isNegative() || validity.isZero()) {
      throw new IllegalArgumentException("validity: give a positive duration, e.g. PT2160H for 90 days");
    }
  }

  /** The public key of the CA certificate, e.g. to compare with a chain's issuer. */
  public PublicKey publicKey() {
    return certificate.getPublicKey();
  }
}
