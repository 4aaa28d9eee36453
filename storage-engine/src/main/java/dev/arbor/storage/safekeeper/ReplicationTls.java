package dev.arbor.storage.safekeeper;

import dev.arbor.client.tls.Pem;
import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The safekeeper's TLS identity toward computes: the same {@code --tls-cert} and {@code --tls-key} its HTTPS port serves,
 * presented as the client certificate of its WAL receivers (the compute's pg_hba requires its common name to be the
 * replication role, {@value #CLIENT_NAME}), and {@code --tls-ca}, the CA the compute's certificate must chain to.
 *
 * <p>The files are read with {@link Pem} (PKCS#8, SEC1 or PKCS#1 keys, as cert-manager Secrets hold them). pgjdbc reads
 * keys only as PKCS#8 DER or PKCS#12 files, so the identity is handed to it in memory; no copy of the key is written. The
 * files are read again for every connection ({@link #sslContext()}): a renewed certificate is used from the next one on.
 */
public record ReplicationTls(Path certFile, Path keyFile, Path caFile) {

  /** The common name the compute's pg_hba requires of the safekeepers' client certificates: the replication role. */
  public static final String CLIENT_NAME = "arbor_replication";

  /** A file that cannot serve as what it was given for; the message names the flag and the file. */
  public static final class MaterialException extends IOException {
    MaterialException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  /** Reads every file once, so that a start with unusable files fails at once, naming the flag. */
  public ReplicationTls checked() throws MaterialException {
    sslContext();
    return this;
  }

  /** The certificate's subject common name (what the compute's pg_hba compares with the role), or "" without one. */
  public String clientCommonName() throws MaterialException {
    X509Certificate cert = certificates(certFile, "--tls-cert").getFirst();
    try {
      for (Rdn rdn : new LdapName(cert.getSubjectX500Principal().getName()).getRdns()) {
        if (rdn.getType().equalsIgnoreCase("CN")) {
          return String.valueOf(rdn.getValue());
        }
      }
      return "";
    } catch (InvalidNameException e) {
      return "";
    }
  }

  /** A TLS context from the files as they are now: the CA as the only trust anchor, the certificate as client identity. */
  public SSLContext sslContext() throws MaterialException {
    List<X509Certificate> chain = certificates(certFile, "--tls-cert");
    PrivateKey key;
    try {
      key = Pem.readPrivateKey(keyFile);
    } catch (IOException e) {
      throw new MaterialException("--tls-key " + e.getMessage(), e); // Pem names the file first
    }
    if (!Pem.matches(key, chain.getFirst())) {
      throw new MaterialException("--tls-key " + keyFile + " does not go with --tls-cert " + certFile + " (a signature made with the "
          + "key does not verify with the certificate); give the key of that certificate", null);
    }
    List<X509Certificate> cas = certificates(caFile, "--tls-ca");
    try {
      KeyStore identity = KeyStore.getInstance("PKCS12");
      identity.load(null, null);
      char[] none = new char[0];
      identity.setKeyEntry("client", key, none, chain.toArray(X509Certificate[]::new));
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
      throw new MaterialException("--tls-cert " + certFile + " / --tls-key " + keyFile + " / --tls-ca " + caFile
          + ": cannot make a TLS identity of them (" + e.getMessage() + ")", e);
    }
  }

  private static List<X509Certificate> certificates(Path file, String flag) throws MaterialException {
    try {
      return Pem.readCertificates(file);
    } catch (IOException e) {
      throw new MaterialException(flag + " " + e.getMessage(), e); // Pem names the file first
    }
  }
}
