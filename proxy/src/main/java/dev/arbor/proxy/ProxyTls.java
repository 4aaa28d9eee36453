package dev.arbor.proxy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/**
 * The certificate the proxy terminates TLS with: a PEM certificate chain and a PEM PKCS#8 private key (RSA or
 * EC), the files a Kubernetes TLS Secret holds. The proxy offers TLS 1.2 and 1.3 and the ALPN protocol
 * {@value #ALPN}, which PostgreSQL 17 clients send and which direct TLS requires.
 */
public final class ProxyTls {
  static final String ALPN = "postgresql";
  private final SSLContext context;

  private ProxyTls(SSLContext context) {
    this.context = context;
  }

  /**
   * Loads {@code certificate} (PEM, the server's certificate first) and {@code privateKey} (PEM, PKCS#8).
   *
   * @throws IllegalArgumentException with the file and the fix when either cannot be used
   */
  public static ProxyTls fromPem(Path certificate, Path privateKey) {
    List<? extends Certificate> chain;
    try (InputStream in = Files.newInputStream(certificate)) {
      chain = List.copyOf(CertificateFactory.getInstance("X.509").generateCertificates(in));
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalArgumentException("cannot read the TLS certificate " + certificate + ": " + e.getMessage()
          + "; expected PEM (-----BEGIN CERTIFICATE-----)", e);
    }
    if (chain.isEmpty()) {
      throw new IllegalArgumentException("the TLS certificate file " + certificate + " holds no certificate");
    }
    PrivateKey key = privateKey(privateKey, chain.getFirst().getPublicKey().getAlgorithm());
    try {
      KeyStore store = KeyStore.getInstance("PKCS12");
      store.load(null, null);
      char[] none = new char[0];
      store.setKeyEntry("proxy", key, none, chain.toArray(Certificate[]::new));
      KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
      kmf.init(store, none);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(kmf.getKeyManagers(), null, null);
      return new ProxyTls(context);
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalArgumentException("cannot use the TLS key " + privateKey + " with the certificate " + certificate
          + ": " + e.getMessage(), e);
    }
  }

  private static PrivateKey privateKey(Path file, String algorithm) {
    String pem;
    try {
      pem = Files.readString(file, StandardCharsets.US_ASCII);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read the TLS key " + file + ": " + e.getMessage(), e);
    }
    if (pem.contains("-----BEGIN RSA PRIVATE KEY-----") || pem.contains("-----BEGIN EC PRIVATE KEY-----")) {
      throw new IllegalArgumentException("the TLS key " + file + " is in PKCS#1/SEC1 form; the proxy reads PKCS#8"
          + " (-----BEGIN PRIVATE KEY-----): convert it with openssl pkcs8 -topk8 -nocrypt, or with cert-manager set"
          + " privateKey.encoding: PKCS8");
    }
    int begin = pem.indexOf("-----BEGIN PRIVATE KEY-----");
    int end = pem.indexOf("-----END PRIVATE KEY-----");
    if (begin < 0 || end < begin) {
      throw new IllegalArgumentException("the TLS key " + file + " holds no PEM PKCS#8 key (-----BEGIN PRIVATE KEY-----)");
    }
    String base64 = pem.substring(begin + "-----BEGIN PRIVATE KEY-----".length(), end).replaceAll("\\s", "");
    try {
      return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(Base64.getDecoder().decode(base64)));
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      throw new IllegalArgumentException("the TLS key " + file + " is not a " + algorithm
          + " key matching the certificate: " + e.getMessage(), e);
    }
  }

  /**
   * Starts TLS as the server on {@code socket}, after a client's SSLRequest was answered 'S' ({@code consumed}
   * empty) or with the bytes of a direct-TLS ClientHello already read ({@code consumed}); the handshake runs
   * before this returns.
   */
  SSLSocket accept(Socket socket, byte[] consumed) throws IOException {
    SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(socket, new ByteArrayInputStream(consumed), true);
    tls.setUseClientMode(false);
    SSLParameters params = tls.getSSLParameters();
    params.setProtocols(new String[] {"TLSv1.3", "TLSv1.2"});
    params.setApplicationProtocols(new String[] {ALPN});
    tls.setSSLParameters(params);
    tls.startHandshake();
    return tls;
  }
}
