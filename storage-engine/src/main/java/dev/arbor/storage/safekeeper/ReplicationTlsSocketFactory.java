package dev.arbor.storage.safekeeper;

import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.Properties;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * The TLS of a {@link WalReceiver}'s connection: pgjdbc instantiates this class by name (connection property
 * {@code sslfactory}) for each connection and wraps the socket {@link ReceiveQueueSocketFactory} made. The context
 * comes from {@link ReplicationTls} files read now; the handshake itself checks that the compute's certificate is
 * issued for the host connected to (HTTPS rules: DNS or IP subject alternative names), so a wrong name fails as a TLS
 * error, before pgjdbc's own verify-full check runs again. The TLS socket is handed to the receiver too: bytes it
 * has decrypted and not handed on yet count as waiting ({@link ReceiveQueueSocketFactory#collectTls}).
 */
public final class ReplicationTlsSocketFactory extends SSLSocketFactory {

  static final String CERT_PROPERTY = "arborTlsCert";
  static final String KEY_PROPERTY = "arborTlsKey";
  static final String CA_PROPERTY = "arborTlsCa";

  private final SSLSocketFactory delegate;
  private final String socketKey;

  public ReplicationTlsSocketFactory(Properties connectionProperties) throws ReplicationTls.MaterialException {
    var tls = new ReplicationTls(Path.of(connectionProperties.getProperty(CERT_PROPERTY)), Path.of(connectionProperties.getProperty(KEY_PROPERTY)),
        Path.of(connectionProperties.getProperty(CA_PROPERTY)));
    this.delegate = tls.sslContext().getSocketFactory();
    this.socketKey = connectionProperties.getProperty(ReceiveQueueSocketFactory.KEY_PROPERTY);
  }

  static void set(Properties props, ReplicationTls tls) {
    props.setProperty(CERT_PROPERTY, tls.certFile().toString());
    props.setProperty(KEY_PROPERTY, tls.keyFile().toString());
    props.setProperty(CA_PROPERTY, tls.caFile().toString());
  }

  @Override
  public Socket createSocket(Socket plain, String host, int port, boolean autoClose) throws IOException {
    SSLSocket socket = (SSLSocket) delegate.createSocket(plain, host, port, autoClose);
    SSLParameters params = socket.getSSLParameters();
    params.setEndpointIdentificationAlgorithm("HTTPS");
    socket.setSSLParameters(params);
    if (socketKey != null) {
      ReceiveQueueSocketFactory.putTls(socketKey, socket);
    }
    return socket;
  }

  @Override
  public String[] getDefaultCipherSuites() {
    return delegate.getDefaultCipherSuites();
  }

  @Override
  public String[] getSupportedCipherSuites() {
    return delegate.getSupportedCipherSuites();
  }

  // pgjdbc only ever wraps a connected socket; the other forms are never called.

  @Override
  public Socket createSocket(String host, int port) throws IOException {
    throw wrapOnly();
  }

  @Override
  public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
    throw wrapOnly();
  }

  @Override
  public Socket createSocket(InetAddress host, int port) throws IOException {
    throw wrapOnly();
  }

  @Override
  public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort) throws IOException {
    throw wrapOnly();
  }

  private static IOException wrapOnly() {
    return new java.net.SocketException("ReplicationTlsSocketFactory only wraps the connection's socket");
  }
}
