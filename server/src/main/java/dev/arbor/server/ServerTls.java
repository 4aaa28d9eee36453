package dev.arbor.server;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsParameters;
import dev.arbor.client.tls.Pem;
import dev.arbor.client.tls.WatchedFile;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.X509ExtendedKeyManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a server presents over TLS: a certificate chain and its private key from two PEM files (a cert-manager Secret's
 * {@code tls.crt} and {@code tls.key}), served with TLS 1.3 or 1.2. The files are read again when either changes
 * (modification time, size or inode; looked at no more than once a second, on a handshake), so a renewed certificate
 * is served from the next connection on, without a restart. A new pair that cannot be used (unreadable, not PEM, a key
 * that is not the certificate's) keeps the last good one in service and logs {@code event=tls_reload_failed} once for
 * that change; a renewal written as two steps (the certificate, then the key) is taken once both are in place.
 */
public final class ServerTls {
  private static final Logger log = LoggerFactory.getLogger(ServerTls.class);
  static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

  private final ReloadingKeyManager keys;
  private final SSLContext context;

  private ServerTls(ReloadingKeyManager keys) {
    this.keys = keys;
    try {
      context = SSLContext.getInstance("TLS");
      context.init(new KeyManager[] {keys}, null, null);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JVM has no TLS: " + e.getMessage(), e);
    }
  }

  /**
   * Reads the pair now: a file that is missing or unreadable, not PEM, or a key that is not the certificate's fails with
   * an {@link IOException} naming the file.
   */
  public static ServerTls fromFiles(Path certificateChain, Path privateKey) throws IOException {
    return new ServerTls(new ReloadingKeyManager(certificateChain, privateKey));
  }

  /** The certificate served now (the leaf of the chain). */
  public X509Certificate certificate() {
    return keys.current().chain[0];
  }

  HttpsConfigurator configurator() {
    return new HttpsConfigurator(context) {
      @Override
      public void configure(HttpsParameters params) {
        SSLParameters p = getSSLContext().getDefaultSSLParameters();
        p.setProtocols(PROTOCOLS);
        p.setNeedClientAuth(false);
        params.setSSLParameters(p);
      }
    };
  }

  /** One certificate chain and its key, under the alias of its load: a handshake gets the key of the chain it chose. */
  private record Pair(String alias, X509Certificate[] chain, PrivateKey key) {}

  private static final class ReloadingKeyManager extends X509ExtendedKeyManager {
    private final WatchedFile chainFile;
    private final WatchedFile keyFile;
    private volatile Pair current;
    /** The pair before {@link #current}: a handshake that chose its alias just before a reload still finds its key. */
    private volatile Pair previous;
    private int loads;

    ReloadingKeyManager(Path chain, Path key) throws IOException {
      chainFile = new WatchedFile(chain);
      keyFile = new WatchedFile(key);
      chainFile.markRead();
      keyFile.markRead();
      current = load();
    }

    private synchronized Pair load() throws IOException {
      List<X509Certificate> chain = Pem.readCertificates(chainFile.path());
      PrivateKey key = Pem.readPrivateKey(keyFile.path());
      if (!Pem.matches(key, chain.get(0))) {
        throw new IOException(keyFile.path() + " is not the private key of the certificate in " + chainFile.path()
            + " (the first certificate of the file must be the server's own)");
      }
      return new Pair("arbor-" + (++loads), chain.toArray(X509Certificate[]::new), key);
    }

    Pair current() {
      boolean chainChanged = chainFile.changed();
      boolean keyChanged = keyFile.changed();
      if (chainChanged || keyChanged) {
        reload();
      }
      return current;
    }

    private synchronized void reload() {
      try {
        Pair next = load();
        chainFile.markRead();
        keyFile.markRead();
        previous = current;
        current = next;
        log.info("event=tls_reloaded certificate={} serial={} not_after={}", chainFile.path(), next.chain[0].getSerialNumber().toString(16),
            next.chain[0].getNotAfter().toInstant());
      } catch (IOException | RuntimeException e) {
        // Not again until one of the files changes once more: a renewal half written is retried when its second file lands.
        chainFile.acceptCurrent();
        keyFile.acceptCurrent();
        log.warn("event=tls_reload_failed certificate={} key={} reason=\"{}\" kept=\"the certificate served until now (serial {})\"",
            chainFile.path(), keyFile.path(), String.valueOf(e.getMessage()).replace('"', '\''),
            current.chain[0].getSerialNumber().toString(16));
      }
    }

    private Pair byAlias(String alias) {
      Pair c = current;
      if (c.alias.equals(alias)) {
        return c;
      }
      Pair p = previous;
      return p != null && p.alias.equals(alias) ? p : null;
    }

    private String aliasFor(String keyType) {
      Pair c = current();
      String algorithm = c.key.getAlgorithm();
      // TLS 1.3 asks for RSASSA-PSS where an RSA key signs with PSS padding.
      boolean fits = keyType == null || keyType.equals(algorithm) || algorithm.equals("RSA") && keyType.equals("RSASSA-PSS");
      return fits ? c.alias : null;
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
      return aliasFor(keyType);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
      return aliasFor(keyType);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
      String alias = aliasFor(keyType);
      return alias == null ? null : new String[] {alias};
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      Pair p = byAlias(alias);
      return p == null ? null : p.chain.clone();
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
      Pair p = byAlias(alias);
      return p == null ? null : p.key;
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
      return null;
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
      return null;
    }
  }
}
