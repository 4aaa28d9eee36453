package dev.arbor.client.tls;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whom a client trusts on {@code https://} URLs: the JDK's own trust store ({@link #SYSTEM}), or only the CAs of one
 * PEM bundle ({@link #trusting}; the storage engine's {@code --tls-ca}, a compute's {@code storage_ca_file}). The
 * host name called is always checked against the server certificate's names (HttpsURLConnection does that with its
 * default verifier). The bundle is read again when it changes (checked at most once a second), so a CA rolled out by
 * adding the new one to the bundle reaches running clients; a bundle that cannot be read then keeps the last good one
 * ({@code event=tls_trust_reload_failed}, logged once per change).
 */
public final class ClientTls {
  private static final Logger log = LoggerFactory.getLogger(ClientTls.class);

  /** The JDK's default trust store: for servers with publicly trusted certificates. */
  public static final ClientTls SYSTEM = new ClientTls(null, null);

  private final Path caBundle;
  private final SSLSocketFactory socketFactory;

  private ClientTls(Path caBundle, SSLSocketFactory socketFactory) {
    this.caBundle = caBundle;
    this.socketFactory = socketFactory;
  }

  /**
   * Trusts only the CA certificates in {@code caBundle} (PEM). The bundle is read now: one that is missing or holds no
   * certificate fails here, with an {@link IOException} naming the file.
   */
  public static ClientTls trusting(Path caBundle) throws IOException {
    var trust = new ReloadingTrustManager(caBundle);
    try {
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, new TrustManager[] {trust}, null);
      return new ClientTls(caBundle, context.getSocketFactory());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JVM has no TLS: " + e.getMessage(), e);
    }
  }

  /** {@link #trusting} a bundle when one is given, {@link #SYSTEM} for null: how an optional {@code --tls-ca} is read. */
  public static ClientTls trustingOrSystem(Path caBundle) throws IOException {
    return caBundle == null ? SYSTEM : trusting(caBundle);
  }

  /** The socket factory of https connections; null: the JDK's default. */
  public SSLSocketFactory socketFactory() {
    return socketFactory;
  }

  /** The CA bundle trusted; null for {@link #SYSTEM}. */
  public Path caBundle() {
    return caBundle;
  }

  @Override
  public String toString() {
    return caBundle == null ? "the JDK's trust store" : "CA bundle " + caBundle;
  }

  /** PKIX validation against the bundle's CAs as it is now; the host name check is the caller's (endpoint identification). */
  private static final class ReloadingTrustManager extends X509ExtendedTrustManager {
    private final WatchedFile file;
    private volatile X509ExtendedTrustManager current;

    ReloadingTrustManager(Path caBundle) throws IOException {
      this.file = new WatchedFile(caBundle);
      file.markRead();
      this.current = load(caBundle);
    }

    private static X509ExtendedTrustManager load(Path caBundle) throws IOException {
      List<X509Certificate> cas = Pem.readCertificates(caBundle);
      try {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        for (int i = 0; i < cas.size(); i++) {
          store.setCertificateEntry("ca-" + i, cas.get(i));
        }
        TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        f.init(store);
        for (TrustManager m : f.getTrustManagers()) {
          if (m instanceof X509ExtendedTrustManager x) {
            return x;
          }
        }
        throw new IllegalStateException("the JDK's trust manager factory made no X509ExtendedTrustManager");
      } catch (GeneralSecurityException e) {
        throw new IOException(caBundle + ": cannot trust its certificates: " + e.getMessage(), e);
      }
    }

    private X509ExtendedTrustManager now() {
      if (file.changed()) {
        try {
          current = load(file.path());
          file.markRead();
          log.info("event=tls_trust_reloaded file={}", file.path());
        } catch (IOException | RuntimeException e) {
          file.acceptCurrent();
          log.warn("event=tls_trust_reload_failed file={} reason=\"{}\" kept=previous", file.path(),
              String.valueOf(e.getMessage()).replace('"', '\''));
        }
      }
      return current;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      now().checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      now().checkServerTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      now().checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      now().checkClientTrusted(chain, authType, socket);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      now().checkClientTrusted(chain, authType, engine);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      now().checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return now().getAcceptedIssuers();
    }
  }
}
